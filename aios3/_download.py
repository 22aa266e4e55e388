"""``S3.download``: an object to a local file, atomically.

HEAD (size, ETag, checksum) -> one GET read whole (an object of at most a MiB), one
streamed GET, or ranged GETs pinned to the ETag
(If-Match), ``concurrency`` at a time -> each range's bytes, read into reused 1-4 MiB
buffers (over plain http, on aios3's own connections: :mod:`aios3._rawget`) or as the
chunks aiohttp received them (about a MiB at a time), handed to the one thread that
CRCs (where the object declares a CRC32) and writes them at their offset
(:class:`~aios3._writer.FileWriter`: no copy to assemble them, no waiting for order; a
broken range resumes where it stopped) -> length and whole-object checksum checked
(range CRCs combined) -> renamed into place. Any failure or cancellation removes the
temporary file and leaves the target as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import hashlib
import mmap
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._aio import shielded, tree_budget, wake
from ._checksum import VERIFIABLE, b64, crc32, crc32_b64, crc32_combine
from ._config import MiB, TransferConfig
from ._exceptions import (
    IntegrityError,
    InvalidRequest,
    S3Error,
    TransferError,
    closed_error,
    translate,
)
from ._info import ObjectInfo
from ._options import NO_OPTIONS, RequestOptions
from ._progress import Meter, ProgressCallback
from ._retry import with_retries
from ._stream import ObjectStream, body_error, range_header
from ._writer import BLOCK, WRITE_BATCH, FileWriter, write_at

if TYPE_CHECKING:
    from ._client import S3
    from ._rawget import RawAnswer

__all__ = ["download"]

# The largest receive buffer of a range on aios3's own connections: what it hands its
# writer at a time (see _receive_size). Larger buffers mean fewer hand-overs (take,
# read, queue, report) and larger O_DIRECT writes (dd here: 2.1 GB/s at 4 MiB, 1.8 at
# 1 MiB). A 2 GiB download on SeaweedFS over http, in one process, 3-7 runs each:
# 0.44-0.59 CPU-s per GiB with 4 MiB buffers, 0.52-0.64 with 2 MiB, 0.61-0.77 with 1.
_RECEIVE = 4 * MiB
# aiohttp's chunks (https, a proxy, and a range's retries the regular way) are handed
# over about a MiB at a time: each range holds what it gathered, outside the queue
_FLUSH = MiB
_QUEUED = 16 * MiB  # bytes handed to the writer and not yet written, at most
# A large object's ranges grow from part_size, doubling up to _RANGE_MAX while there
# would be more than _WAVES of them per range in flight (2 GiB at the defaults: 64 of
# 32 MiB, not 256 of 8). Each request costs the client and the store CPU whatever its
# length; a range's memory is its receive buffers, whatever its length, and a broken
# range resumes where it stopped, its tries renewed for every part_size it got past
# (see fetch). A 2 GiB download on SeaweedFS over http, 5 runs each,
# client / store CPU-s per GiB: 8 MiB 0.62 / 1.42, 16 MiB 0.58 / 1.37, 32 MiB
# 0.56 / 1.30, 64 MiB 0.55 / 1.27.
_RANGE_MAX = 32 * MiB
_WAVES = 8
# an object this small is read whole into memory and written at once: one request,
# which over plain http goes on aios3's own connections (before the aiobotocore client
# is built, too: see aios3._first), no stream
_WHOLE = MiB


_PARTIAL = ".aios3-partial"
_NAME_MAX = 255  # bytes in a file name, where the filesystem does not say


def _name_max(folder: Path) -> int:
    """The longest file name ``folder``'s filesystem takes, in bytes."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):  # no pathconf, or no answer
        return _NAME_MAX


def _check_target(path: Path) -> None:
    size, limit = len(os.fsencode(path.name)), _name_max(path.parent)
    if size > limit:
        raise InvalidRequest(
            f"the file name {path.name!r} is {size} bytes; its folder's filesystem "
            f"takes at most {limit}"
        )
    if path.is_dir():
        raise InvalidRequest(f"{str(path)!r} is a directory; download takes a file path")
    if not path.parent.is_dir():
        raise InvalidRequest(f"the folder {str(path.parent)!r} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise InvalidRequest(f"the folder {str(path.parent)!r} is not writable")


def partial_path(path: Path) -> Path:
    """The temporary file a download of ``path`` writes before renaming it into place:
    ``.{name}.{8 hex digits}.aios3-partial`` beside it, with the name cut short (at a
    character) where the whole would exceed the filesystem's limit on a name."""
    tail = f".{secrets.token_hex(4)}{_PARTIAL}"
    room = _name_max(path.parent) - len(os.fsencode(f".{tail}"))
    name = path.name
    while len(os.fsencode(name)) > room:
        name = name[:-1]
    return path.with_name(f".{name}{tail}")


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


def _open_direct(path: Path, fd: int, size: int, transfer: TransferConfig) -> int | None:
    """``path``, open as ``fd``, opened again for writing with ``O_DIRECT``, where the
    download is large enough (``direct_io_threshold``), its ranges start on block
    boundaries and the system and filesystem offer it; else ``None``. Only the same
    file: not through a symlink, not a file put in its place since ``fd`` was opened."""
    flag = getattr(os, "O_DIRECT", 0)
    threshold = transfer.direct_io_threshold
    if not flag or threshold is None or size < threshold or transfer.part_size % BLOCK:
        return None
    try:
        direct = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW | flag)
    except OSError:  # tmpfs and some others refuse it: buffered writes
        return None
    opened, ours = os.fstat(direct), os.fstat(fd)
    if (opened.st_dev, opened.st_ino) != (ours.st_dev, ours.st_ino):
        os.close(direct)  # another file is at that name now: not written through it
        return None
    return direct


def _hash_file(path: Path, algorithm: str) -> str:
    """Hash a written file with ``algorithm`` (SHA1/SHA256 objects; worker thread). It
    opens the file itself, so a cancelled download can close its own descriptor."""
    h = hashlib.new(algorithm.lower())
    block = memoryview(bytearray(MiB))
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(block):
            h.update(block[:n])
    return b64(h.digest())


async def download(
    s3: S3,
    bucket: str,
    key: str,
    path: Path,
    *,
    version_id: str | None,
    transfer: TransferConfig,
    progress: ProgressCallback | None = None,
    options: RequestOptions = NO_OPTIONS,
) -> ObjectInfo:
    _check_target(path)
    pinned: dict[str, Any] = {"VersionId": version_id} if version_id else {}
    info = await s3._head(bucket, key, version_id, options)
    if info.etag:
        pinned["IfMatch"] = info.etag
    size = info.size or 0
    declared = info.full_object_checksum
    if declared and declared[0] not in VERIFIABLE:
        declared = None  # CRC32C / CRC64NVME: not computable here without extra packages
    tmp = partial_path(path)
    meter = Meter(f"s3://{bucket}/{key}", size, progress)

    def error(message: str) -> IntegrityError:
        return IntegrityError(f"download s3://{bucket}/{key}: {message}", bucket=bucket, key=key)

    try:
        # Opened here, synchronously: an open in a worker thread that a cancellation
        # interrupts would leave a file object nobody closes.
        raw = open(tmp, "wb")  # noqa: SIM115, ASYNC230 - closed in the finally below
        try:
            # shielded: the file is never closed under the thread still using it
            fd = raw.fileno()
            await shielded(
                asyncio.to_thread(_preallocate, fd, size), within=transfer.cleanup_timeout
            )
            await meter.start()
            if size <= min(_WHOLE, transfer.download_threshold):
                written, digest = await _whole(
                    s3, bucket, key, size, pinned, fd, declared, transfer, meter, options
                )
            elif size <= transfer.download_threshold:
                written, digest = await _single(
                    s3, bucket, key, pinned, fd, declared, transfer, meter, options
                )
            else:
                crc_wanted = bool(declared and declared[0] == "CRC32")
                # A SHA1/SHA256 object is hashed by reading the file back: from the
                # page cache, so its writes go through it.
                hashed = bool(declared and not crc_wanted)
                direct = None if hashed else _open_direct(tmp, fd, size, transfer)
                try:
                    written, crc = await _ranged(
                        s3,
                        bucket,
                        key,
                        size,
                        pinned,
                        (fd, direct),
                        transfer,
                        meter,
                        options,
                        crc_wanted,
                    )
                finally:
                    if direct is not None:
                        os.close(direct)
                digest = None
                if declared and declared[0] == "CRC32":
                    digest = crc32_b64(crc)
                elif declared:
                    digest = await asyncio.to_thread(_hash_file, tmp, declared[0])
        finally:
            raw.close()  # after every write: _single and _ranged wait for their threads
        if written != size:
            raise error(f"received {written} bytes, the object has {size}")
        if declared and digest != declared[1]:
            raise error(
                f"{declared[0]} checksum mismatch: the object declares {declared[1]}, "
                f"the bytes received give {digest}"
            )
        await meter.end()  # before the rename: a callback that raises leaves no file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return info


def _hash_chunks(sha: Any, chunks: list[bytes]) -> None:
    for chunk in chunks:
        sha.update(chunk)


async def _whole(
    s3: S3,
    bucket: str,
    key: str,
    size: int,
    pinned: dict[str, Any],
    fd: int,
    declared: tuple[str, str] | None,
    transfer: TransferConfig,
    meter: Meter,
    options: RequestOptions,
) -> tuple[int, str | None]:
    """One GET read into memory (asked again ``part_retries`` times where its body
    breaks off), written in one go. An answer longer than ``size`` (the HEAD's) is
    refused before it is read, and one with another ETag than the pinned one (a store
    that ignores If-Match) is not written. Returns the bytes written and the digest of
    the declared algorithm."""
    (data, resp), _ = await with_retries(
        lambda: s3._get_whole(bucket, key, pinned, options, most=size),
        transfer=transfer,
        what=f"download of {key}",
    )
    pinned_etag = pinned.get("IfMatch")
    if pinned_etag is not None and resp.get("ETag") != pinned_etag:  # If-Match not honoured
        raise IntegrityError(
            f"download s3://{bucket}/{key}: the object changed since its HEAD "
            f"(ETag {resp.get('ETag')}, not {pinned_etag})",
            bucket=bucket,
            key=key,
        )
    await shielded(asyncio.to_thread(write_at, fd, [data], 0), within=transfer.cleanup_timeout)
    await meter.add(len(data))
    if declared is None:
        return len(data), None
    if declared[0] == "CRC32":
        return len(data), crc32_b64(crc32(data))
    return len(data), b64(hashlib.new(declared[0].lower(), data).digest())


async def _single(
    s3: S3,
    bucket: str,
    key: str,
    pinned: dict[str, Any],
    fd: int,
    declared: tuple[str, str] | None,
    transfer: TransferConfig,
    meter: Meter,
    options: RequestOptions,
) -> tuple[int, str | None]:
    """One streamed GET, handed to the writer about _FLUSH bytes at a time while the
    next ones arrive. The writer's thread CRCs what it writes; an object that declares
    a SHA checksum is hashed there too. Returns the bytes written and the digest of the
    declared algorithm."""
    algorithm = declared[0] if declared else None
    sha = hashlib.new(algorithm.lower()) if algorithm in ("SHA1", "SHA256") else None
    written = 0
    chunks: list[bytes] = []
    held = 0
    stream = ObjectStream(
        s3,
        bucket,
        key,
        chunk_size=WRITE_BATCH,
        start=None,
        end=None,
        version_id=pinned.get("VersionId"),
        if_match=pinned.get("IfMatch"),
        options=options,
    )
    writer = FileWriter(
        fd,
        slots=1,
        limit=_QUEUED,
        within=transfer.cleanup_timeout,
        observe=None if sha is None else functools.partial(_hash_chunks, sha),
    )
    async with writer, stream:
        async for chunk in stream:
            chunks.append(chunk)
            held += len(chunk)
            if held >= _FLUSH:
                await writer.put(0, chunks, written)
                await meter.add(held)
                written, chunks, held = written + held, [], 0
        if chunks:
            await writer.put(0, chunks, written)
            written += held
            await meter.add(held)
    if sha is not None:
        return written, b64(sha.digest())
    return written, crc32_b64(writer.crcs[0]) if algorithm == "CRC32" else None


def range_size(size: int, transfer: TransferConfig) -> int:
    """The length of each range of a ranged download of ``size`` bytes: ``part_size``,
    doubled up to _RANGE_MAX while the object would take more than _WAVES ranges per
    range in flight (a multiple of ``part_size``, so O_DIRECT's block alignment holds)."""
    step = transfer.part_size
    while step * 2 <= _RANGE_MAX and size > step * transfer.concurrency * _WAVES:
        step *= 2
    return step


async def _ranged(
    s3: S3,
    bucket: str,
    key: str,
    size: int,
    pinned: dict[str, Any],
    fds: tuple[int, int | None],
    transfer: TransferConfig,
    meter: Meter,
    options: RequestOptions,
    crc_wanted: bool,
) -> tuple[int, int]:
    """Ranged GETs, ``concurrency`` at a time, each written at its offset as it arrives
    (a receive buffer at a time, aiohttp's chunks about _FLUSH), through ``fds``: the
    file, and the file opened with ``O_DIRECT`` (or ``None``). Returns the bytes written
    and, if ``crc_wanted``, the whole object's CRC32 (combined from the ranges)."""
    step = range_size(size, transfer)
    ranges = [(start, min(start + step, size)) for start in range(0, size, step)]
    writer = FileWriter(
        fds[0],
        slots=len(ranges),
        limit=_QUEUED,
        within=transfer.cleanup_timeout,
        crc=crc_wanted,
        direct=fds[1],
    )
    receive = _receive_size(transfer.concurrency)
    buffers = _Buffers(receive, _QUEUED // receive)

    async def fetch(index: int, start: int, end: int) -> None:
        pos = start  # the next byte to fetch
        counted = start  # bytes up to here were reported (a refetched range counts once)

        async def report() -> None:
            nonlocal counted
            if pos > counted:
                await meter.add(pos - counted)
                counted = pos

        async def into_buffers(answer: RawAnswer) -> _Broken | None:
            """Read the rest of the range into buffers, handing each to the writer;
            if the body breaks off, the buffer it broke in, and its whole blocks."""
            while pos < end:
                buffer = await buffers.take()
                n = min(len(buffer), end - pos)
                try:
                    await answer.readinto(buffer[:n])
                except (OSError, TimeoutError) as exc:
                    return _Broken(buffer, answer.got - answer.got % BLOCK, exc)
                except BaseException:
                    buffers.give(buffer)
                    raise
                await hand_over(buffer, n)
            return None

        async def hand_over(buffer: memoryview, n: int) -> None:
            """Queue ``buffer``'s first ``n`` bytes for the writer, which gives it back."""
            nonlocal pos
            if not n:
                buffers.give(buffer)
                return
            try:  # the disk's errors are not the network's: not retried
                done = functools.partial(buffers.give, buffer)
                await writer.put(index, [buffer[:n]], pos, done, aligned=True)
            except BaseException:
                buffers.give(buffer)
                raise
            pos += n
            await report()

        go_raw = True  # until an answer the raw path leaves to the regular one

        async def attempt() -> None:
            # A retry resumes at ``pos``: what was handed to the writer stays written.
            nonlocal pos, go_raw
            what = f"get bytes {pos}-{end - 1} of"
            answer = None
            if go_raw:
                answer = await s3._raw_range(
                    bucket,
                    key,
                    start=pos,
                    end=end,
                    options=options,
                    Range=range_header(pos, end),
                    **pinned,
                )
            if answer is not None:  # over plain http: read straight into the buffers
                broken = None
                try:
                    async with answer:
                        broken = await into_buffers(answer)
                except BaseException:
                    if broken is not None:
                        buffers.give(broken.buffer)
                    raise
                if broken is None:
                    return
                # The connection is closed: the whole blocks that came before the
                # break are kept, so the next try asks from there (an offset O_DIRECT
                # still writes).
                await hand_over(broken.buffer, broken.kept)
                raise TransferError(
                    f"{what} s3://{bucket}/{key} broke off: {broken.error!r}",
                    bucket=bucket,
                    key=key,
                ) from broken.error
            # An error, a redirect, an answer to check (...): this range's retries go
            # the regular way, with botocore's backoff, not twice per attempt.
            go_raw = False
            try:
                resp = await s3.call(
                    "get_object",
                    action=what,
                    bucket=bucket,
                    key=key,
                    Range=range_header(pos, end),
                    options=options,
                    **pinned,
                )
            except S3Error:
                raise
            except Exception as exc:
                raise translate(exc, action=what, bucket=bucket, key=key) from exc
            body = resp["Body"]
            try:
                while True:
                    try:
                        chunks = await _read_some(body, _FLUSH)
                    except Exception as exc:
                        error = body_error(exc, action=what, bucket=bucket, key=key)
                        if isinstance(error, IntegrityError):
                            # The bytes handed over failed the response's checksum: the
                            # next try fetches the whole range again, its CRC anew.
                            pos = start
                            writer.restart(index)
                        raise error or translate(exc, action=what, bucket=bucket, key=key) from exc
                    got = sum(len(c) for c in chunks)
                    if not got or pos + got > end:
                        break
                    await writer.put(index, chunks, pos)
                    pos += got
                    await report()
            finally:
                body.close()
            if pos != end or got:
                raise IntegrityError(
                    f"bytes {start}-{end - 1} of s3://{bucket}/{key}: "
                    f"got {pos - start + got} bytes",
                    bucket=bucket,
                    key=key,
                )

        # Each part_size fetched renews the range's tries: a range of several parts
        # survives as many breaks as its parts would have one by one.
        await with_retries(
            attempt,
            transfer=transfer,
            what=f"bytes {start}- of {key}",
            progress=lambda: pos,
            renew=transfer.part_size,
        )

    shared = tree_budget.get()  # a directory call's pool, shared with its other files
    slots = asyncio.Semaphore(transfer.concurrency)
    job = _RangeJob(bucket, key)

    async def bounded(index: int, start: int, end: int) -> None:
        async with slots:
            if shared is None:
                await fetch(index, start, end)
                return
            held = await shared.acquire(0)  # a slot: ranges stream, they hold no part
            try:
                await fetch(index, start, end)
            finally:
                shared.release(held)

    s3._live.add(job)  # closing the client cancels the ranges still in flight
    try:
        async with writer, asyncio.TaskGroup() as group:
            for index, (start, end) in enumerate(ranges):
                job.tasks.add(group.create_task(bounded(index, start, end)))
    except BaseExceptionGroup as group_error:
        raise _first(group_error) from None
    finally:
        s3._live.discard(job)
    if job.closed_by is not None:
        raise job.closed_by
    crc = 0
    for (start, end), part_crc in zip(ranges, writer.crcs, strict=True):
        crc = crc32_combine(crc, part_crc, end - start)
    return size, crc


def _receive_size(concurrency: int) -> int:
    """A range's receive buffer: the largest whole number of MiB, up to _RECEIVE, that
    leaves one for every range in flight within _QUEUED (2 MiB at the default
    concurrency of 8), so that no range's connection waits unread for a buffer; a MiB
    at least (past 16 ranges in flight, some wait)."""
    return max(MiB, min(_RECEIVE, _QUEUED // max(1, concurrency) // MiB * MiB))


@dataclass(frozen=True, slots=True)
class _Broken:
    """A range's body that broke off: the buffer it broke in, its first ``kept`` bytes
    (whole blocks of what came) to hand over, and the error."""

    buffer: memoryview
    kept: int
    error: OSError | TimeoutError


class _Buffers:
    """A download's receive buffers, ``size`` bytes each, at most ``count``: a range
    reads into one it takes, the writer's thread gives it back once its bytes are
    written. A range waits while all are taken, so a slow disk holds the download's
    memory at ``count`` buffers. Each is mapped memory: page-aligned, as ``O_DIRECT``
    wants."""

    def __init__(self, size: int, count: int) -> None:
        self._size = size
        self._free: list[memoryview] = []
        self._room = count  # buffers not made yet
        self._waiters: list[asyncio.Future[None]] = []

    async def take(self) -> memoryview:
        while not self._free:
            if self._room:
                self._room -= 1
                return memoryview(mmap.mmap(-1, self._size))
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_next()  # woken, then cancelled: the wake-up goes on
                raise
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return self._free.pop()

    def give(self, buffer: memoryview) -> None:
        self._free.append(buffer)
        self._wake_next()

    def _wake_next(self) -> None:
        while self._waiters:  # the first waiter still waiting (not cancelled meanwhile)
            waiter = self._waiters.pop(0)
            if not waiter.done():
                wake(waiter)
                return


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


async def _read_some(body: Any, want: int) -> list[bytes]:
    """About ``want`` bytes of a response body (more if a chunk runs over), as the chunks
    aiohttp received them, without a joining copy; ``[]`` at its end. A body that checks
    a checksum as it is read is read through it."""
    content = getattr(getattr(body, "raw_stream", None), "content", None)
    if content is None or hasattr(body, "checksum") or not hasattr(content, "readchunk"):
        chunk = await body.read(want)
        return [chunk] if chunk else []
    chunks: list[bytes] = []
    got = 0
    while got < want:
        chunk, http_chunk_end = await content.readchunk()
        if not chunk:
            if http_chunk_end:
                continue  # the end of a chunk of a chunked response, not of the body
            break
        chunks.append(chunk)
        got += len(chunk)
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
