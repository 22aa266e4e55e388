"""aios3 end to end: a streaming multipart upload and streaming downloads, verified.

Runs against an embedded moto S3 server on 127.0.0.1 (no AWS account needed):

    pip install '.[server]' && python examples/quickstart.py

``aios3 demo`` (the README's first command) is this round trip at 256 MiB, with
progress bars, throughput and peak memory.

Point it at any S3 store instead with --endpoint (credentials from the environment).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aios3
from aios3 import MiB


async def generate(total: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    """A stream of unknown length, as a pipe or a request body would give it."""
    block = os.urandom(MiB)
    sent = 0
    while sent < total:
        piece = block[: min(len(block), total - sent)]
        digest.update(piece)
        sent += len(piece)
        yield piece
        await asyncio.sleep(0)


@contextlib.contextmanager
def server_config(endpoint: str | None) -> Iterator[aios3.Config]:
    if endpoint:
        yield aios3.Config(endpoint=endpoint)
    else:
        from aios3.testing import moto_server

        with moto_server() as server:
            print(f"embedded moto S3 server on {server.endpoint}")
            yield server.config()


async def main(size_mib: int, endpoint: str | None, bucket: str) -> None:
    with server_config(endpoint) as config:
        transfer = aios3.TransferConfig(part_size=8 * MiB, concurrency=4)
        async with aios3.connect(config, default_bucket=bucket, transfer=transfer) as s3:
            with contextlib.suppress(aios3.Conflict):
                await s3.client.create_bucket(Bucket=bucket)

            # 1. Stream an object of unknown length into S3 through a MultipartUpload.
            sent = hashlib.sha256()
            started = time.perf_counter()
            async with s3.multipart_upload(
                "backups/demo.bin", content_type="application/octet-stream"
            ) as upload:
                async for chunk in generate(size_mib * MiB, sent):
                    await upload.write(chunk)
            took = time.perf_counter() - started
            info = upload.result
            assert info is not None
            print(
                f"uploaded {info.size / MiB:.0f} MiB in {info.parts} parts "
                f"in {took:.1f} s, etag {info.etag}"
            )

            # 2. Stream it back out, chunk by chunk, without holding it in memory.
            received = hashlib.sha256()
            async with s3.stream("backups/demo.bin") as body:
                async for chunk in body:
                    received.update(chunk)
            assert received.digest() == sent.digest(), "streamed bytes differ"
            print(f"streamed back {info.size / MiB:.0f} MiB: sha256 matches")

            # 3. Download it to a file (parallel ranged GETs, atomic rename, CRC32 checked).
            with tempfile.TemporaryDirectory() as tmp:
                target = Path(tmp) / "demo.bin"
                await s3.download("backups/demo.bin", target)
                on_disk = hashlib.sha256(target.read_bytes()).digest()
                assert on_disk == sent.digest(), "downloaded file differs"
            print("downloaded to a file: sha256 matches")
            print("verified: upload, stream and download agree byte for byte")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64, help="object size (default 64)")
    parser.add_argument("--endpoint", help="an S3 endpoint URL (default: embedded moto)")
    parser.add_argument("--bucket", default="aios3-quickstart")
    args = parser.parse_args()
    asyncio.run(main(args.size_mib, args.endpoint, args.bucket))
