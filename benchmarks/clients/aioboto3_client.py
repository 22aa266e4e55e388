"""aioboto3 (its own venv: it pins its own aiobotocore): upload_fileobj / download_file."""

from __future__ import annotations

import asyncio
import sys

import _common as c
import aioboto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config


def client(spec: c.Spec, pool: int):
    return aioboto3.Session().client("s3", **c.botocore_client_kwargs(spec, pool, Config))


class Counting:
    """stdin (a pipe, not seekable) counting what it hands out."""

    def __init__(self) -> None:
        self.n = 0

    def read(self, size: int = -1) -> bytes:
        data = c.read_exact(sys.stdin.buffer, size) if size > 0 else sys.stdin.buffer.read()
        self.n += len(data)
        return data


async def run(spec: c.Spec, result: c.Result) -> None:
    tc = TransferConfig(
        multipart_threshold=16 * c.MiB,
        multipart_chunksize=spec.part_size,
        max_concurrency=spec.part_concurrency,
    )
    w = spec.workload
    if w == "small":
        async with client(spec, spec.concurrency) as s3:
            await c.run_small_aiobotocore(s3, spec, result)
        return
    pool = spec.part_concurrency * max(1, len(spec.get("files") or []))
    async with client(spec, pool) as s3:
        if w == "upload":
            with result.phase("upload", nbytes=spec.size), open(spec.src, "rb") as f:
                await s3.upload_fileobj(f, spec.bucket, spec.key, Config=tc)
        elif w == "download":
            with result.phase("download", nbytes=spec.size):
                await s3.download_file(spec.bucket, spec.key, spec.dest, Config=tc)
        elif w == "stream_upload":
            counted = Counting()
            with result.phase("stream_upload") as ph:
                await s3.upload_fileobj(counted, spec.bucket, spec.key, Config=tc)
                ph["bytes"] = counted.n
        elif w == "multi_upload":

            async def one(path: str, key: str) -> None:
                with open(path, "rb") as f:
                    await s3.upload_fileobj(f, spec.bucket, key, Config=tc)

            with result.phase("multi_upload", nbytes=spec.size):
                await asyncio.gather(
                    *(one(f, k) for f, k in zip(spec.files, spec.object_keys, strict=True))
                )
        else:
            raise ValueError(w)


if __name__ == "__main__":
    c.main(aioboto3.__version__, run)
