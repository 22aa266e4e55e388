"""``S3.download``: an object to a local file, atomically.

HEAD (size, ETag, checksum) -> one streamed GET, or ranged GETs pinned to the ETag
(If-Match), ``concurrency`` at a time -> each range's chunks, as aiohttp received them,
CRC'd and written at their offset with ``pwritev`` in a worker thread, one range at a
time (no copy to assemble them, no waiting for order) -> length and whole-object checksum
checked (range CRCs combined) -> renamed into place. Any failure or cancellation removes
the temporary file and leaves the target as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._aio import shielded
from ._checksum import Checksummer, b64, crc32, crc32_b64, crc32_combine
from ._config import KiB, MiB, TransferConfig
from ._exceptions import (
    IntegrityError,
    InvalidRequest,
    S3Error,
    TransferError,
    closed_error,
    translate,
)
from ._info import ObjectInfo
from ._names import S3Name
from ._retry import with_retries
from ._stream import body_error, range_header

if TYPE_CHECKING:
    from ._client import S3

__all__ = ["download"]

# Page-cache writes of about 256 KiB: larger writes get large folios, which on VMs that
# hand freed memory back to the host (free page reporting) come cold and cost several
# times the copy (2 GiB, same server, KiB per write -> MB/s: 1024 -> 507-627,
# 256 -> 705-942).
_WRITE_BATCH = 256 * KiB
_IOV_MAX = 512  # buffers per pwritev call (the system allows 1,024)


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise InvalidRequest(f"{str(path)!r} is a directory; download takes a file path")
    if not path.parent.is_dir():
        raise InvalidRequest(f"the folder {str(path.parent)!r} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise InvalidRequest(f"the folder {str(path.parent)!r} is not writable")


def _batches(chunks: list[bytes]) -> list[list[bytes]]:
    """``chunks`` in runs of about _WRITE_BATCH bytes (and at most _IOV_MAX buffers)."""
    out: list[list[bytes]] = [[]]
    size = 0
    for chunk in chunks:
        if out[-1] and (size + len(chunk) > _WRITE_BATCH or len(out[-1]) == _IOV_MAX):
            out.append([])
            size = 0
        out[-1].append(chunk)
        size += len(chunk)
    return out


def _write_at(fd: int, chunks: list[bytes], offset: int) -> int:
    """Write ``chunks`` contiguously at ``offset`` and return their CRC32 (runs in a
    worker thread, so neither the hashing nor the copy to the page cache holds the loop)."""
    crc = 0
    for chunk in chunks:
        crc = crc32(chunk, crc)
    for batch in _batches(chunks):
        want = sum(len(c) for c in batch)
        done = os.pwritev(fd, batch, offset)
        if done != want:  # a short write: finish it piece by piece
            view = memoryview(b"".join(batch))[done:]
            while view:
                n = os.pwrite(fd, view, offset + done)
                view, done = view[n:], done + n
        offset += want
    return crc


def _preallocate(fd: int, size: int) -> None:
    """Reserve the file's blocks up front (worker thread), so that a download that
    cannot fit fails before any byte moves. Filesystems without fallocate allocate as
    the writes come."""
    if size <= 0 or not hasattr(os, "posix_fallocate"):
        return
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise InvalidRequest(
                f"no room for {size} bytes beside the target: {exc.strerror}"
            ) from exc


def _hash_file(fd: int, algorithm: str) -> str:
    """Hash a written file with ``algorithm`` (SHA1/SHA256 objects; worker thread)."""
    h = hashlib.new(algorithm.lower())
    pos = 0
    while block := os.pread(fd, 8 * MiB, pos):
        h.update(block)
        pos += len(block)
    return b64(h.digest())


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
    if declared and not Checksummer.supports(declared[0]):
        declared = None  # CRC32C / CRC64NVME: not computable here without extra packages
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.aios3-partial")

    def error(message: str) -> IntegrityError:
        return IntegrityError(f"download s3://{bucket}/{key}: {message}", bucket=bucket, key=key)

    try:
        # Opened here, synchronously: an open in a worker thread that a cancellation
        # interrupts would leave a file object nobody closes.
        raw = open(tmp, "wb")  # noqa: SIM115, ASYNC230 - closed in the finally below
        try:
            # shielded: the file is never closed under the thread still using it
            await shielded(
                asyncio.to_thread(_preallocate, raw.fileno(), size),
                within=transfer.cleanup_timeout,
            )
            if size <= transfer.download_threshold:
                written, digest = await _single(s3, bucket, key, pinned, raw, declared)
            else:
                fd = raw.fileno()
                written, crc = await _ranged(s3, bucket, key, size, pinned, fd, transfer)
                digest = None
                if declared and declared[0] == "CRC32":
                    digest = crc32_b64(crc)
                elif declared:
                    digest = await asyncio.to_thread(_hash_file, fd, declared[0])
        finally:
            raw.close()  # after every write: _ranged waits for its threads to finish
        if written != size:
            raise error(f"received {written} bytes, the object has {size}")
        if declared and digest != declared[1]:
            raise error(
                f"{declared[0]} checksum mismatch: the object declares {declared[1]}, "
                f"the bytes received give {digest}"
            )
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return info


async def _single(
    s3: S3,
    bucket: str,
    key: str,
    pinned: dict[str, Any],
    raw: Any,
    declared: tuple[str, str] | None,
) -> tuple[int, str | None]:
    """One streamed GET, written through aiofiles in batches of about _WRITE_BATCH."""
    from aiofiles.threadpool import wrap

    f = wrap(raw)
    checker = Checksummer(declared[0], declared[1]) if declared else None
    written = 0
    batch = bytearray()

    async def flush() -> None:
        nonlocal written, batch
        if checker is not None:
            checker.update(batch)
        await f.write(batch)
        written += len(batch)
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
                await flush()
    if batch:
        await flush()
    return written, checker.digest() if checker else None


async def _ranged(
    s3: S3,
    bucket: str,
    key: str,
    size: int,
    pinned: dict[str, Any],
    fd: int,
    transfer: TransferConfig,
) -> tuple[int, int]:
    """Ranged GETs, ``concurrency`` at a time, each written at its offset as it arrives.
    Returns the bytes written and the whole object's CRC32 (combined from the ranges)."""
    step = transfer.part_size
    ranges = [(start, min(start + step, size)) for start in range(0, size, step)]
    crcs: list[int] = [0] * len(ranges)
    writes: set[asyncio.Future[int]] = set()  # pwritev threads: awaited before close
    # One write at a time: writers of one file queue on its inode lock, and the kernel
    # spins waiting for it (perf: up to a fifth of a download's CPU with 8 in flight).
    one_writer = asyncio.Lock()
    loop = asyncio.get_running_loop()

    async def fetch(index: int, start: int, end: int) -> None:
        async def attempt() -> list[bytes]:
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
                    chunks = await _read_chunks(body)
                finally:
                    body.close()
            except S3Error:
                raise
            except Exception as exc:
                what = f"get bytes {start}-{end - 1} of"
                error = body_error(exc, action=what, bucket=bucket, key=key)
                raise error or translate(exc, action=what, bucket=bucket, key=key) from exc
            got = sum(len(c) for c in chunks)
            if got != end - start:
                raise IntegrityError(
                    f"bytes {start}-{end - 1} of s3://{bucket}/{key}: got {got} bytes",
                    bucket=bucket,
                    key=key,
                )
            return chunks

        chunks, _ = await with_retries(attempt, transfer=transfer, what=f"bytes {start}- of {key}")
        async with one_writer:
            write = loop.run_in_executor(None, _write_at, fd, chunks, start)
            writes.add(write)
            write.add_done_callback(writes.discard)
            crcs[index] = await asyncio.shield(write)

    slots = asyncio.Semaphore(transfer.concurrency)
    job = _RangeJob(bucket, key)

    async def bounded(index: int, start: int, end: int) -> None:
        async with slots:
            await fetch(index, start, end)

    s3._live.add(job)  # closing the client cancels the ranges still in flight
    try:
        async with asyncio.TaskGroup() as group:
            for index, (start, end) in enumerate(ranges):
                job.tasks.add(group.create_task(bounded(index, start, end)))
    except BaseExceptionGroup as group_error:
        raise _first(group_error) from None
    finally:
        s3._live.discard(job)
        if writes:  # never close the file under a write still running in its thread
            await shielded(
                asyncio.gather(*writes, return_exceptions=True),
                within=transfer.cleanup_timeout,
            )
    if job.closed_by is not None:
        raise job.closed_by
    crc = 0
    for (start, end), part_crc in zip(ranges, crcs, strict=True):
        crc = crc32_combine(crc, part_crc, end - start)
    return size, crc


class _RangeJob:
    """The range tasks of one download, for :meth:`S3.close` to cancel (a response
    cut off by the closing client can otherwise wait for data that never comes)."""

    def __init__(self, bucket: str, key: str) -> None:
        self.bucket, self.key = bucket, key
        self.tasks: set[asyncio.Task[None]] = set()
        self.closed_by: TransferError | None = None

    async def _abort_for_close(self) -> None:
        self.closed_by = closed_error(self.bucket, self.key)
        for task in self.tasks:
            task.cancel()


async def _read_chunks(body: Any) -> list[bytes]:
    """A response body as the chunks aiohttp received, without a joining copy."""
    content = getattr(getattr(body, "raw_stream", None), "content", None)
    if content is None or not hasattr(content, "readany"):  # another HTTP backend
        return [await body.read()]
    chunks: list[bytes] = []
    while chunk := await content.readany():
        chunks.append(chunk)
    return chunks


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    """The error to raise from a failed group of range tasks: the first that is not a
    cancellation (the others were cancelled because of it)."""
    errors: tuple[BaseException, ...] = group.exceptions
    for exc in errors:
        if isinstance(exc, BaseExceptionGroup):
            return _first(exc)
        if not isinstance(exc, asyncio.CancelledError):
            return exc
    return errors[0]
