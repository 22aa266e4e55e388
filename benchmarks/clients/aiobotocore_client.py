"""Plain aiobotocore, the baseline: multipart with ``part_size`` parts and
``part_concurrency`` in flight; a download is one GET streamed to the file."""

from __future__ import annotations

import asyncio

import _common as c
import aiobotocore
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session


def client(spec: c.Spec, pool: int):
    return get_session().create_client("s3", **c.botocore_client_kwargs(spec, pool, AioConfig))


async def upload_parts(s3, spec: c.Spec, key: str, read_part) -> int:
    """Multipart upload of the parts ``await read_part()`` returns until b"";
    a body smaller than one part goes as a single PUT. Returns bytes sent."""
    first = await read_part()
    if len(first) < spec.part_size:
        await s3.put_object(Bucket=spec.bucket, Key=key, Body=first)
        return len(first)
    mpu = await s3.create_multipart_upload(Bucket=spec.bucket, Key=key)
    upload_id = mpu["UploadId"]
    sem = asyncio.Semaphore(spec.part_concurrency)
    tasks: list[asyncio.Task] = []
    total = 0

    async def send(number: int, body: bytes) -> dict:
        try:
            resp = await s3.upload_part(
                Bucket=spec.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
            return {"PartNumber": number, "ETag": resp["ETag"]}
        finally:
            sem.release()

    try:
        body, number = first, 1
        while body:
            total += len(body)
            await sem.acquire()  # at most part_concurrency parts read and in flight
            tasks.append(asyncio.create_task(send(number, body)))
            number += 1
            body = await read_part()
        parts = await asyncio.gather(*tasks)
        await s3.complete_multipart_upload(
            Bucket=spec.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        for t in tasks:
            t.cancel()
        await s3.abort_multipart_upload(Bucket=spec.bucket, Key=key, UploadId=upload_id)
        raise
    return total


async def upload_file(s3, spec: c.Spec, path: str, key: str) -> int:
    with open(path, "rb") as f:
        return await upload_parts(s3, spec, key, lambda: asyncio.to_thread(f.read, spec.part_size))


async def run(spec: c.Spec, result: c.Result) -> None:
    w = spec.workload
    if w == "small":
        async with client(spec, spec.concurrency) as s3:
            await c.run_small_aiobotocore(s3, spec, result)
        return
    pool = spec.part_concurrency * max(1, len(spec.get("files") or []))
    async with client(spec, pool) as s3:
        if w == "upload":
            with result.phase("upload", nbytes=spec.size):
                await upload_file(s3, spec, spec.src, spec.key)
        elif w == "download":
            with result.phase("download", nbytes=spec.size):
                resp = await s3.get_object(Bucket=spec.bucket, Key=spec.key)
                with open(spec.dest, "wb") as f:
                    async for chunk in resp["Body"].iter_chunks(c.MiB):
                        f.write(chunk)
        elif w == "stream_upload":
            chunks = c.astdin_chunks(c.STDIN_CHUNK)
            buf = bytearray()

            async def read_part() -> bytes:
                async for chunk in chunks:
                    buf.extend(chunk)
                    if len(buf) >= spec.part_size:
                        break
                part = bytes(buf[: spec.part_size])
                del buf[: spec.part_size]
                return part

            with result.phase("stream_upload") as ph:
                ph["bytes"] = await upload_parts(s3, spec, spec.key, read_part)
        elif w == "multi_upload":
            with result.phase("multi_upload", nbytes=spec.size):
                pairs = zip(spec.files, spec.object_keys, strict=True)
                await asyncio.gather(*(upload_file(s3, spec, f, k) for f, k in pairs))
        else:
            raise ValueError(w)


if __name__ == "__main__":
    c.main(aiobotocore.__version__, run)
