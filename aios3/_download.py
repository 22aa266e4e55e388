"""``S3.download``: an object to a local file, atomically.

HEAD (size, ETag, checksum) -> one GET, or a sliding window of ranged GETs pinned to
the ETag with If-Match -> bytes written in order through aiofiles to a temporary file
beside the target, hashed on the way -> length and checksum checked -> renamed into
place. Any failure or cancellation removes the temporary file and leaves the target
as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._aio import shielded
from ._checksum import Checksummer
from ._config import MiB, TransferConfig
from ._exceptions import IntegrityError, InvalidRequest, S3Error, TransferError, translate
from ._info import ObjectInfo
from ._names import S3Name
from ._retry import with_retries
from ._stream import is_cut_short, range_header

if TYPE_CHECKING:
    from ._client import S3

__all__ = ["download"]

_WRITE_BATCH = 1 * MiB


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise InvalidRequest(f"{str(path)!r} is a directory; download takes a file path")
    if not path.parent.is_dir():
        raise InvalidRequest(f"the folder {str(path.parent)!r} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise InvalidRequest(f"the folder {str(path.parent)!r} is not writable")


async def download(
    s3: S3,
    bucket: str,
    key: str,
    path: Path,
    *,
    version_id: str | None,
    transfer: TransferConfig,
) -> ObjectInfo:
    _check_target(path)
    pinned: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    info = await s3.head(S3Name(key, bucket), version_id=version_id)
    if info.etag:
        pinned["IfMatch"] = info.etag
    size = info.size or 0
    declared = info.full_object_checksum
    checker = Checksummer(*declared) if declared and Checksummer.supports(declared[0]) else None
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.aios3-partial")

    def error(message: str) -> IntegrityError:
        return IntegrityError(f"download s3://{bucket}/{key}: {message}", bucket=bucket, key=key)

    from aiofiles.threadpool import wrap

    try:
        # Opened here, synchronously: an open in a worker thread that a cancellation
        # interrupts would leave a file object nobody closes.
        raw = open(tmp, "wb")  # noqa: SIM115, ASYNC230 - closed in the finally below
        try:
            f = wrap(raw)

            async def sink(data: Any) -> None:
                if checker is not None:
                    checker.update(data)
                await f.write(data)

            if size <= transfer.download_threshold:
                written = await _single(s3, bucket, key, pinned, sink)
            else:
                written = await _ranged(s3, bucket, key, size, pinned, sink, transfer)
        finally:
            raw.close()  # waits for a write still running in its thread (buffer lock)
        if written != size:
            raise error(f"received {written} bytes, the object has {size}")
        if checker is not None:
            checker.verify(make_error=error)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return info


async def _single(s3: S3, bucket: str, key: str, pinned: dict[str, Any], sink: Any) -> int:
    """One streamed GET, written in batches of about 1 MiB."""
    written = 0
    batch = bytearray()
    stream = s3.stream(
        key,
        bucket=bucket,
        chunk_size=_WRITE_BATCH,
        version_id=pinned.get("VersionId"),
        if_match=pinned.get("IfMatch"),
    )
    async with stream:
        async for chunk in stream:
            batch += chunk
            if len(batch) >= _WRITE_BATCH:
                await sink(batch)
                written += len(batch)
                batch = bytearray()
    if batch:
        await sink(batch)
        written += len(batch)
    return written


async def _ranged(
    s3: S3,
    bucket: str,
    key: str,
    size: int,
    pinned: dict[str, Any],
    sink: Any,
    transfer: TransferConfig,
) -> int:
    """Ranged GETs, ``concurrency`` in flight, written in order as each completes."""
    step = transfer.part_size
    ranges = deque((start, min(start + step, size)) for start in range(0, size, step))

    async def fetch(start: int, end: int) -> bytes:
        async def attempt() -> bytes:
            try:
                resp = await s3.call(
                    "get_object",
                    action=f"get bytes {start}-{end - 1} of",
                    bucket=bucket,
                    key=key,
                    Range=range_header(start, end),
                    **pinned,
                )
                body = resp["Body"]
                try:
                    data: bytes = await body.read()
                finally:
                    body.close()
            except S3Error:
                raise
            except Exception as exc:
                if is_cut_short(exc):
                    raise TransferError(
                        f"get bytes {start}-{end - 1} of s3://{bucket}/{key} broke off: {exc}",
                        bucket=bucket,
                        key=key,
                    ) from exc
                raise translate(exc, action="get range", bucket=bucket, key=key) from exc
            if len(data) != end - start:
                raise IntegrityError(
                    f"bytes {start}-{end - 1} of s3://{bucket}/{key}: got {len(data)} bytes",
                    bucket=bucket,
                    key=key,
                )
            return data

        data, _ = await with_retries(attempt, transfer=transfer, what=f"bytes {start}- of {key}")
        return data

    window: deque[asyncio.Task[bytes]] = deque()
    written = 0
    try:
        while ranges or window:
            while ranges and len(window) < transfer.concurrency:
                window.append(asyncio.create_task(fetch(*ranges.popleft())))
            data = await window[0]
            window.popleft()
            await sink(data)
            written += len(data)
    finally:
        for task in window:
            task.cancel()
        if window:
            await shielded(
                asyncio.gather(*window, return_exceptions=True),
                within=transfer.cleanup_timeout,
            )
    return written
