"""What happens to a multipart upload when things go wrong: an exception raised inside
the ``async with`` block, and a task cancelled mid-upload. Each time the upload is
aborted on the server, nothing is stored and no upload is left behind to be billed.

    python examples/multipart_errors.py        # embedded moto server on 127.0.0.1
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aios3
from aios3 import MiB
from aios3.testing import moto_server

BUCKET = "multipart-errors"
PART = 5 * MiB  # S3's smallest part: a few parts are on the server before things go wrong


async def left_behind(s3: aios3.S3) -> list[str]:
    """The keys of the multipart uploads still open in the bucket."""
    return [upload.key async for upload in s3.list_multipart_uploads()]


async def error_in_the_block(s3: aios3.S3) -> None:
    class BadRecord(Exception):
        pass

    try:
        async with s3.multipart_upload("exports/broken.csv", part_size=PART) as upload:
            for _ in range(3):
                await upload.write(b"x" * PART)  # parts go out as they fill
            print(f"  {upload.bytes_accepted // MiB} MiB accepted, then the producer fails")
            raise BadRecord("row 1,234,567 does not parse")
    except BadRecord as err:
        print(f"  the block raised {err!r}: the upload was aborted and the error re-raised")
    assert await left_behind(s3) == [], "an aborted upload must not stay open"
    assert not await s3.exists("exports/broken.csv")


async def cancelled_mid_upload(s3: aios3.S3) -> None:
    started = asyncio.Event()

    async def slow_producer() -> None:
        async with s3.multipart_upload("exports/cancelled.bin", part_size=PART) as upload:
            for _ in range(3):
                await upload.write(b"y" * PART)
            started.set()
            await asyncio.sleep(3600)  # waiting for a producer that never comes back

    task = asyncio.create_task(slow_producer())
    await started.wait()
    await asyncio.sleep(0.3)  # the parts written are on the server by now
    task.cancel()  # a request handler timing out, a worker shutting down...
    try:
        await task
    except asyncio.CancelledError:
        print("  the task was cancelled mid-upload: the abort ran, shielded from it")
    assert await left_behind(s3) == []
    assert not await s3.exists("exports/cancelled.bin")

    # asyncio.timeout() around an upload() is the same cancellation.
    async def endless() -> AsyncIterator[bytes]:
        for _ in range(24):  # 24 MiB: more than one part, so the upload goes multipart
            yield b"z" * MiB
        await asyncio.sleep(3600)  # then the source stalls

    try:
        async with asyncio.timeout(1.5):
            await s3.upload("exports/timed-out.bin", endless())
    except TimeoutError:
        print("  upload() under asyncio.timeout(1.5) with a stalled source: aborted")
    assert await left_behind(s3) == []
    assert not await s3.exists("exports/timed-out.bin")


async def main() -> None:
    with moto_server() as server:
        async with aios3.connect(server.config(default_bucket=BUCKET)) as s3:
            await s3.create_bucket(BUCKET, exist_ok=True)
            print("1. an exception inside the async with block")
            await error_in_the_block(s3)
            print("2. the task is cancelled mid-upload")
            await cancelled_mid_upload(s3)

            async with s3.multipart_upload("exports/fine.bin", part_size=PART) as upload:
                await upload.write(b"ok" * PART)
            assert upload.result is not None and upload.result.parts == 2
            print(f"3. and when nothing goes wrong: {upload.result.size} bytes in 2 parts")
            await s3.delete_bucket(BUCKET, force=True)
            print("verified: every failed upload was aborted, nothing was left behind")


if __name__ == "__main__":
    asyncio.run(main())
