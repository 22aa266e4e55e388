"""Multipart uploads: the part-size plan and the :class:`MultipartUpload` state machine.

Data path: ``write()`` fills a part buffer (or holds the caller's ``bytes`` as the
part's pieces) -> a full part waits for room in the
:class:`~aios3._aio.Budget` (back-pressure) -> a task checksums it off the event loop
and sends UploadPart, retrying transient failures -> ``__aexit__`` sends the last part,
waits for all, and completes. Any failure, exception or cancellation on the way
cancels the part tasks and aborts the upload instead (shielded from cancellation).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._aio import Budget, shielded, tree_budget
from ._body import Body, FileSpan, Pieces
from ._checksum import (
    Digests,
    PartChecksum,
    checksum_param,
    checksummed,
    crc32_b64,
    crc32_combine,
)
from ._config import MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, MiB, TransferConfig
from ._exceptions import InvalidRequest, NoSuchUpload, S3Error, TransferError, closed_error
from ._info import StoredObject
from ._options import NO_OPTIONS, RequestOptions
from ._progress import Meter
from ._retry import with_retries

if TYPE_CHECKING:
    from ._client import S3
    from ._sources import Reader

__all__ = ["MultipartUpload", "PartPlan"]

log = logging.getLogger("aios3")

GROWTH_EVERY = 100
"""Parts per step of an unknown-length upload; each step doubles the part size (up to
5 GiB). From 8 MiB this holds 7.8 GiB in the first 1,000 parts of <= 16 MiB... and
reaches about 44.7 TiB in 10,000 parts."""

HOLD_FROM = 128 * 1024
"""A ``bytes`` chunk given to ``write()`` at least this long is held as it is, as part
of a part (:class:`~aios3._body.Pieces`), not copied into a part buffer: nobody can
change it, and the copy cost 0.24 CPU-s per GiB of a stream of 1 MiB chunks. Shorter
ones are copied: each piece costs a digest call and a send of its own."""


def as_bytes_view(data: Any, *, what: str = "write()") -> memoryview:
    """A flat byte view of ``data``, or one clear error for what is not bytes-like."""
    if isinstance(data, str):
        raise InvalidRequest(f"{what} takes bytes, not str; encode text first (.encode())")
    try:
        view = memoryview(data)
    except TypeError:
        raise InvalidRequest(
            f"{what} takes a bytes-like object, not {type(data).__name__}"
        ) from None
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


class PartPlan:
    """Decides each part's size, and refuses up front what cannot fit S3's limits."""

    def __init__(self, *, part_size: int | None, default: int, size: int | None) -> None:
        if size is not None and (not isinstance(size, int) or size < 0):
            raise InvalidRequest(f"size={size!r} must be a non-negative int")
        if size is not None and size > MAX_OBJECT_SIZE:
            raise InvalidRequest(
                f"size={size} exceeds S3's largest object, {MAX_OBJECT_SIZE} bytes (48.8 TiB)"
            )
        self.explicit = part_size is not None
        if part_size is not None:
            if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
                raise InvalidRequest(
                    f"part_size={part_size} is outside S3's range of 5 MiB to 5 GiB"
                )
            if size is not None and math.ceil(size / part_size) > MAX_PARTS:
                raise InvalidRequest(
                    f"{size} bytes in parts of {part_size} need "
                    f"{math.ceil(size / part_size)} parts; S3 allows {MAX_PARTS}. "
                    f"Use part_size >= {math.ceil(size / MAX_PARTS)} or leave it unset"
                )
            self._fixed: int | None = part_size
        elif size is not None:
            fit = math.ceil(math.ceil(size / MAX_PARTS) / MiB) * MiB
            self._fixed = min(MAX_PART_SIZE, max(default, fit))
        else:
            self._fixed = None
        self._base = default

    def size_of(self, number: int) -> int:
        """The size of part ``number`` (the last part may be shorter)."""
        if number > MAX_PARTS:
            raise InvalidRequest(
                f"part {number} would exceed S3's {MAX_PARTS}-part limit; "
                "use a larger part_size (or leave it unset so it grows)"
            )
        if self._fixed is not None:
            return self._fixed
        return min(MAX_PART_SIZE, self._base << ((number - 1) // GROWTH_EVERY))


@dataclass(frozen=True, slots=True)
class _Part:
    number: int
    etag: str
    size: int
    checksum: PartChecksum | None


class MultipartUpload:
    """One multipart upload, driven as an async context manager (see
    :meth:`S3.multipart_upload`).

    After a normal exit ``result`` holds the stored object's :class:`ObjectInfo`
    (key, etag, version id, size, part count). ``upload_id`` is set once created.
    """

    def __init__(
        self,
        s3: S3,
        bucket: str,
        key: str,
        *,
        params: dict[str, Any],
        part_size: int | None,
        concurrency: int | None,
        size: int | None,
        if_none_match: str | None,
        if_match: str | None,
        transfer: TransferConfig,
        meter: Meter | None = None,
        options: RequestOptions = NO_OPTIONS,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise InvalidRequest("concurrency must be at least 1")
        if if_none_match not in (None, "*"):
            raise InvalidRequest('if_none_match takes only "*" (write only if the key is new)')
        self.bucket, self.key = bucket, key
        self.upload_id: str | None = None
        self.result: StoredObject | None = None
        self._s3 = s3
        self._params = params
        self._options = options  # on every request: Create, parts, Complete, Abort
        self._transfer = transfer
        self._plan = PartPlan(part_size=part_size, default=transfer.part_size, size=size)
        self._size = size
        self._conditions = {
            k: v for k, v in (("IfNoneMatch", if_none_match), ("IfMatch", if_match)) if v
        }
        slots = concurrency or transfer.concurrency
        shared = tree_budget.get()  # a directory call's: one pool for every file's parts
        self._budget = shared or Budget(slots, self._plan.size_of(1) * slots)
        self._spare: list[Body] = []  # part buffers sent and acknowledged, to fill again
        self._pool = s3.memory  # the client's part-buffer bytes, shared by its uploads
        self._pooled = 0  # what this upload's buffers (filling, in flight, spare) hold of it
        self._allocated: dict[int, int] = {}  # id of a buffer from the pool -> its bytes
        self._kept: dict[int, int] = {}  # id -> part tasks that kept it as a spare, unsettled
        self._sent: set[int] = set()  # the part numbers write() sent
        self._spare_size = 0  # the size of the buffers write() fills now
        self._slots = 0 if shared else slots  # spares kept: none outside the shared pool
        self._algorithm = transfer.checksum_algorithm
        self._full_crc = self._algorithm == "CRC32" and transfer.full_object_checksum
        self._buffer: Body | Pieces | None = None  # the part being filled
        self._buffer_held = 0  # the budget the part being filled holds from its first byte
        self._filled = 0
        self._digests: Digests | None = None  # of the part being filled, as it was read
        self._signs_parts: bool | None = None  # part bodies SHA-256 signed? (asked once)
        self._next_number = 1
        self._mode: str | None = None  # "write" or "parts"
        self._parts: dict[int, _Part] = {}
        self._claimed: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._state = "new"
        self._accepted = 0
        self._cleanup_task: asyncio.Future[None] | None = None
        self._create: asyncio.Future[Any] | None = None
        self._closed_by: TransferError | None = None
        self._meter = meter or Meter(f"s3://{bucket}/{key}", size, None)

    def __repr__(self) -> str:
        return (
            f"<MultipartUpload s3://{self.bucket}/{self.key} {self._state} "
            f"upload_id={self.upload_id} parts={len(self._parts)}>"
        )

    @property
    def bytes_accepted(self) -> int:
        """Bytes taken by ``write()`` / ``upload_part()`` so far."""
        return self._accepted

    # -- create ----------------------------------------------------------------------

    async def __aenter__(self) -> MultipartUpload:
        if self._state != "new":
            raise RuntimeError("a MultipartUpload can be entered only once")
        if self.upload_id is not None:  # resuming an upload that exists already
            self._state = "open"
            self._s3._live.add(self)
            await self._started()
            return self
        params = dict(self._params)
        if self._algorithm and self._algorithm != "MD5":
            params["ChecksumAlgorithm"] = self._algorithm
            if self._full_crc:
                params["ChecksumType"] = "FULL_OBJECT"
        if self._s3._closing:
            raise TransferError(
                "the S3 client is closing; no new upload starts", bucket=self.bucket, key=self.key
            )
        self._s3._live.add(self)  # from now on, closing the client aborts this upload
        self._create = create = asyncio.ensure_future(
            self._s3.call(
                "create_multipart_upload",
                action="create multipart upload",
                bucket=self.bucket,
                key=self.key,
                options=self._options,
                **params,
            )
        )
        try:
            resp = await asyncio.shield(create)
        except asyncio.CancelledError:
            # The request may still create an upload server-side: wait, then abort it.
            self._s3._live.discard(self)
            await shielded(self._abort_if_created(create), within=self._transfer.cleanup_timeout)
            raise
        except BaseException:
            self._s3._live.discard(self)
            raise
        if self._closed_by is not None:  # the client closed meanwhile and aborted it
            self._s3._live.discard(self)
            raise self._closed_by
        self.upload_id = resp["UploadId"]
        self._state = "open"
        await self._started()
        return self

    async def _started(self) -> None:
        """Report the start; a progress callback that raises aborts the new upload (no
        ``__aexit__`` follows a failed ``__aenter__``)."""
        try:
            await self._meter.start(self._size, self._accepted)
        except BaseException as exc:
            try:
                await self._cleanup(exc)
            finally:
                self._s3._live.discard(self)
            raise

    async def _abort_if_created(self, create: asyncio.Future[Any]) -> None:
        try:
            resp = await create
        except Exception:
            return
        self.upload_id = resp["UploadId"]
        await self._abort()

    # -- parts -----------------------------------------------------------------------

    async def write(self, data: Any) -> None:
        """Append ``data`` (any bytes-like, any length) to the object.

        Full parts are sent as they fill; this waits while ``concurrency`` parts are in
        flight, so memory stays bounded. Raises the upload's failure, if a part failed.
        ``bytes`` of 128 KiB or more are held as they are until their part is sent, not
        copied (nobody can change them); anything else is copied before this returns,
        so a buffer may be filled again at once.
        """
        await self._write(data)

    async def _write(self, data: Any, *, lasting: bool = False) -> None:
        """:meth:`write`. ``lasting``: ``data`` is a view of ``bytes`` that live as long
        as the upload (its source's own), held whatever share of them a part takes."""
        self._check_open("write")
        view = as_bytes_view(data)
        if not view.nbytes:
            return
        if self._mode == "parts":
            raise InvalidRequest("write() cannot be mixed with upload_part() in one upload")
        self._mode = "write"
        if self._size is not None and self._accepted + view.nbytes > self._size:
            raise InvalidRequest(
                f"write() goes past the declared size of {self._size} bytes",
                bucket=self.bucket,
                key=self.key,
            )
        self._accepted += view.nbytes
        # bytes nobody can change, long enough to be worth sending apart: held, not copied
        owner = view.obj
        hold = view.nbytes >= HOLD_FROM and view.c_contiguous and type(owner) is bytes
        # A held piece keeps all of its bytes object alive: a piece of less than half of
        # one (the end of a huge write, say) is copied, not held, unless they last anyway.
        least = 0
        if hold and not lasting and isinstance(owner, bytes):
            least = (len(owner) + 1) // 2
        while view.nbytes:
            target = self._plan.size_of(self._next_number)
            if not self._filled and isinstance(data, Body) and view.nbytes == target:
                view = view[target:]
                await self._submit_next(data)  # a reader's own buffer: sent without a copy
                continue
            if self._buffer is None:
                await self._begin_part(target, pieces=hold)
            part = self._buffer
            self._digests = None  # not read in: digested when sent
            take = min(target - self._filled, view.nbytes)
            if not isinstance(part, Pieces):
                assert part is not None
                part[self._filled : self._filled + take] = view[:take]
            elif hold and take >= least:
                part.hold(view[:take])
            else:
                part.copy(view[:take])
            self._filled += take
            view = view[take:]
            if self._filled < target:
                break
            await self._submit_filled()

    async def _fill_from(self, reader: Reader) -> int:
        """Read the part being filled straight from ``reader`` (one that can readinto):
        the reused part buffers take the bytes, with no allocation or copy per part.
        Returns the bytes read: 0 at the end of the source."""
        self._check_open("write")
        self._mode = "write"
        target = self._plan.size_of(self._next_number)
        buffer = await self._part_buffer(target)
        if not self._filled and reader.digests_as_read:
            self._digests = await self._new_digests(buffer)
        got = await reader.readinto(buffer, self._filled, target, self._digests)
        if self._size is not None and self._accepted + got > self._size:
            raise InvalidRequest(
                f"the source holds more than the declared {self._size} bytes",
                bucket=self.bucket,
                key=self.key,
            )
        self._accepted += got
        self._filled += got
        if self._filled == target:
            await self._submit_filled()
        return got

    async def _send_span(self, reader: Reader) -> int:
        """Send the next part as a span of ``reader``'s file (one that can span): no
        buffer, the kernel sends it from the page cache. Returns the part's bytes: 0
        once the declared size is all sent (the file must still have that size)."""
        self._check_open("write")
        self._mode = "write"
        assert self._size is not None
        length = min(self._plan.size_of(self._next_number), self._size - self._accepted)
        if length <= 0:
            reader.check_size()
            return 0
        span = reader.span(self._accepted, length)
        try:
            held = await self._budget.acquire(length)
        except BaseException:
            span.close()
            raise
        self._accepted += length
        await self._submit_next(span, held=held)
        return length

    async def sends_spans(self, reader: Reader) -> bool:
        """Whether the parts of ``reader`` can go as spans of its file: it can give
        them, its size is known, each part is digested (a checksum, a signature), and
        every part request would go over aios3's own connections (which alone send a
        span without reading it)."""
        if not reader.can_span or self._size is None:
            return False
        if self._carried is None and not await self._signs(FileSpan(-1, 0, 0, "")):
            # Nothing to digest: the file would be read first by sendfile, on the event
            # loop (a slow or network disk would hold it); the digest's read, in a
            # worker thread, leaves the bytes in the page cache for sendfile.
            return False
        param = checksum_param(self._carried)
        params: dict[str, Any] = {param: ""} if param is not None else {}
        return await self._s3._sends_span(
            "upload_part",
            bucket=self.bucket,
            options=self._options,
            UploadId=self.upload_id,
            PartNumber=1,
            ContentLength=self._plan.size_of(1),
            **params,
        )

    @property
    def _carried(self) -> str | None:
        """The checksum each part's body carries: the upload's algorithm, or where it
        has none, the one botocore would put on it unasked (see ``S3._body_checksum``)."""
        return self._s3._body_checksum(self._algorithm, self._params)

    async def _signs(self, part: Body | Pieces | FileSpan) -> bool:
        """Whether part bodies are signed by a SHA-256 that aios3 computes: asked once
        per upload (the answer is the same for every part)."""
        if self._signs_parts is None:
            self._signs_parts = await self._s3._signs_body(
                "upload_part",
                self._carried,
                part,
                bucket=self.bucket,
                options=self._options,
                UploadId=self.upload_id,
                PartNumber=self._next_number,
                ContentLength=len(part),
            )
        return self._signs_parts

    async def _new_digests(self, buffer: Body) -> Digests | None:
        """What to digest a part by as a reader fills ``buffer`` with it: its checksum
        and, where part bodies are signed by their SHA-256, that too."""
        sign = await self._signs(buffer)
        if self._carried is None and not sign:
            return None
        return Digests(self._carried, sha256=sign)

    async def _adopt_buffers(self, buffers: list[Body], filled: int) -> None:
        """Take a stream's read-ahead as the first parts: ``buffers`` each of the first
        part size, the last holding ``filled`` bytes. Sent without a copy, and kept to
        fill again (freeing them would make glibc serve later part buffers from its
        heap, which it rarely returns: +15 to +30 MiB of RSS measured)."""
        for buffer in buffers:  # the caller took their bytes from the pool: now ours
            self._allocated[id(buffer)] = len(buffer)
            self._pooled += len(buffer)
        self._check_open("write")
        self._mode = "write"
        for index, buffer in enumerate(buffers):
            target = self._plan.size_of(self._next_number)
            if len(buffer) != target:
                raise AssertionError("read-ahead buffers are cut to the first part size")
            self._buffer_held = await self._budget.acquire(target)
            self._buffer, self._spare_size = buffer, target
            self._digests = None
            self._filled = target if index < len(buffers) - 1 else filled
            self._accepted += self._filled
            if self._filled == target:
                await self._submit_filled()

    async def _part_buffer(self, target: int) -> Body:
        """The buffer of the part being filled, begun if need be."""
        if self._buffer is None:
            await self._begin_part(target)
        assert isinstance(self._buffer, Body)
        return self._buffer

    async def _begin_part(self, target: int, *, pieces: bool = False) -> None:
        """Begin the next part: a buffer to fill, or (``pieces``) the caller's bytes
        held as they are. The part counts against the budget from its first byte, so
        the parts in memory (filling + in flight) never exceed it."""
        held = await self._budget.acquire(target)
        try:
            if pieces:
                self._buffer = await self._fresh_pieces(target)
            else:
                self._buffer = await self._fresh_buffer(target)
        except BaseException:
            self._budget.release(held)
            raise
        self._buffer_held = held

    async def _submit_filled(self) -> None:
        """Send the part being filled, as far as it is filled (its budget was taken
        when filling began), and leave the next to begin afresh."""
        piece: Body | Pieces
        if self._buffer is None:
            piece, held = Body(), None
        else:
            piece, held = self._buffer, self._buffer_held
            if isinstance(piece, Body) and self._filled < len(piece):
                del piece[self._filled :]  # the last part
        digests = self._digests
        self._buffer, self._filled, self._buffer_held, self._digests = None, 0, 0, None
        await self._submit_next(piece, held=held, digests=digests)

    async def _submit_next(
        self,
        piece: Body | Pieces | FileSpan,
        *,
        held: int | None = None,
        digests: Digests | None = None,
    ) -> None:
        """Send ``piece`` as the next part."""
        number = self._next_number
        self._next_number += 1
        self._sent.add(number)  # Complete checks that every one was acknowledged
        await self._submit(number, piece, held=held, digests=digests)

    async def upload_part(self, number: int, data: Any) -> None:
        """Send part ``number`` (1 to 10,000) yourself; for callers that cut their own
        parts. Every part but the highest-numbered must be at least 5 MiB."""
        self._check_open("upload_part")
        if self._mode == "write":
            raise InvalidRequest("upload_part() cannot be mixed with write() in one upload")
        if not isinstance(number, int) or not 1 <= number <= MAX_PARTS:
            raise InvalidRequest(f"part number {number!r} must be an int from 1 to {MAX_PARTS}")
        if number in self._claimed:
            raise InvalidRequest(f"part {number} was already uploaded")
        view = as_bytes_view(data, what="upload_part()")
        if view.nbytes > MAX_PART_SIZE:
            raise InvalidRequest(f"part {number} is {view.nbytes} bytes; S3 allows 5 GiB")
        if self._size is not None and self._accepted + view.nbytes > self._size:
            raise InvalidRequest(f"part {number} goes past the declared size of {self._size}")
        self._mode = "parts"
        self._claimed.add(number)
        self._accepted += view.nbytes
        await self._submit(number, Body(view))

    def _wanted(self) -> int:
        """Bytes that would complete the part being filled (a good read size)."""
        return self._plan.size_of(self._next_number) - self._filled

    def _adopt(self, part: _Part) -> None:
        """Count a part the server already holds (when resuming) as sent."""
        self._mode = "parts"
        self._claimed.add(part.number)
        self._accepted += part.size
        self._parts[part.number] = part
        self._meter.done += part.size  # stored already: counted, reported with the next

    def _check_open(self, what: str) -> None:
        if self._closed_by is not None:
            raise self._closed_by
        if self._state != "open":
            raise RuntimeError(
                f"{what}() needs an open upload: use 'async with s3.multipart_upload(...)' "
                f"(this one is {self._state})"
            )
        if self._failure is not None:
            raise self._failure

    async def copy_part(
        self,
        number: int,
        source: tuple[str, str],
        start: int,
        end: int,
        *,
        if_match: str | None = None,
        version_id: str | None = None,
    ) -> None:
        """Fill part ``number`` with bytes ``[start, end)`` of the object ``source``
        (``(bucket, key)``), copied server-side by UploadPartCopy: no bytes pass
        through this process. ``if_match`` pins the source's ETag."""
        self._check_open("copy_part")
        if self._mode == "write":
            raise InvalidRequest("copy_part() cannot be mixed with write() in one upload")
        if not isinstance(number, int) or not 1 <= number <= MAX_PARTS:
            raise InvalidRequest(f"part number {number!r} must be an int from 1 to {MAX_PARTS}")
        if number in self._claimed:
            raise InvalidRequest(f"part {number} was already uploaded")
        if not 0 <= start < end or end - start > MAX_PART_SIZE:
            raise InvalidRequest(f"copy range {start}-{end} must be non-empty and at most 5 GiB")
        self._mode = "parts"
        self._claimed.add(number)
        self._accepted += end - start
        copy_source: dict[str, str] = {"Bucket": source[0], "Key": source[1]}
        if version_id:
            copy_source["VersionId"] = version_id
        extra: dict[str, Any] = {"CopySourceIfMatch": if_match} if if_match else {}

        async def copy() -> None:
            resp = await self._part_request(
                "upload_part_copy",
                number,
                CopySource=copy_source,
                CopySourceRange=f"bytes={start}-{end - 1}",
                **extra,
            )
            etag = resp["CopyPartResult"]["ETag"]
            self._parts[number] = _Part(number, etag, end - start, None)
            await self._meter.add(end - start)

        await self._spawn(0, copy)

    async def _submit(
        self,
        number: int,
        data: Body | Pieces | FileSpan,
        *,
        held: int | None = None,
        digests: Digests | None = None,
    ) -> None:
        """Send ``data`` as part ``number``. ``held``: the budget taken for it already:
        a buffer of :meth:`_fresh_buffer` took it when it began to fill, and is reused
        after; a file's span, when it was cut (it is closed after). ``digests``: what
        its bytes were digested by as they were read."""
        span = data if isinstance(data, FileSpan) else None
        settle = data if held is not None and isinstance(data, Body | Pieces) else None
        await self._spawn(
            len(data),
            lambda: self._send_part(number, data, settle is not None, digests),
            held=held,
            settle=settle,
            span=span,
        )

    async def _spawn(
        self,
        nbytes: int,
        work: Callable[[], Coroutine[Any, Any, None]],
        *,
        held: int | None = None,
        settle: Body | Pieces | None = None,
        span: FileSpan | None = None,
    ) -> None:
        """Start ``work`` as a part task once the budget has room for ``nbytes`` (or
        with the share ``held`` already taken for it). ``span``: the part's file span,
        closed when the task is over."""
        if held is None:
            held = await self._budget.acquire(nbytes)
        stop = self._closed_by or self._failure
        if stop is None and self._state not in ("open", "completing"):
            stop = RuntimeError(f"the upload is {self._state}; no more parts")
        if stop is not None:
            self._budget.release(held)
            if settle is not None:
                self._settle(settle)
            if span is not None:
                span.close()
            raise stop
        task = asyncio.create_task(work())
        if span is not None:  # (a task cancelled before its first step runs no finally)
            task.add_done_callback(lambda _: span.close())
        self._tasks.add(task)
        # Released by the callback, not inside the task: a task cancelled before its
        # first step never runs its body, and its share would leak (and stall write()).
        task.add_done_callback(lambda _: self._budget.release(held))
        if settle is not None:  # the buffer goes back to the pool, unless kept as a spare
            task.add_done_callback(lambda _: self._settle(settle))
        task.add_done_callback(self._part_done)

    async def _part_request(self, operation: str, number: int, **params: Any) -> Any:
        """Send one part request (UploadPart or UploadPartCopy) with the part retries;
        a final failure becomes a TransferError naming the upload and the part."""

        async def attempt() -> Any:
            return await self._s3.call(
                operation,
                action=f"{operation.replace('_', ' ')} {number}",
                bucket=self.bucket,
                key=self.key,
                options=self._options,
                UploadId=self.upload_id,
                PartNumber=number,
                **params,
            )

        try:
            resp, _ = await with_retries(
                attempt, transfer=self._transfer, what=f"part {number} of {self.key}"
            )
        except S3Error as err:
            raise TransferError(
                f"{err.message} (upload id {self.upload_id})",
                bucket=self.bucket,
                key=self.key,
                upload_id=self.upload_id,
                part_number=number,
                code=err.code,
                status=err.status,
            ) from err
        return resp

    def _part_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and self._failure is None:
            self._failure = exc
            for other in self._tasks:
                other.cancel()

    async def _send_part(
        self,
        number: int,
        data: Body | Pieces | FileSpan,
        reuse: bool = False,
        digests: Digests | None = None,
    ) -> None:
        sign = await self._signs(data)
        try:
            async with checksummed(self._carried, data, sign=sign, digests=digests) as checksum:
                extra = checksum.as_params() if checksum else {}
                resp = await self._part_request(
                    "upload_part", number, Body=data, ContentLength=len(data), **extra
                )
        except Exception:
            if isinstance(data, FileSpan):
                data.check()  # a file changed under its digest: say so, not how it failed
            raise
        if isinstance(data, FileSpan):
            data.check()  # the bytes that went are the ones digested
        # A checksum botocore's default put on the part, not the upload's: not in Complete
        declared = checksum if self._algorithm is not None else None
        self._parts[number] = _Part(number, resp["ETag"], len(data), declared)
        await self._meter.add(len(data))  # acknowledged: a retried part counts once
        if (
            reuse
            and isinstance(data, Body)
            and len(self._spare) < self._slots
            and len(data) == self._spare_size  # still the size being filled
            and not self._pool.contended  # else it goes back, for whoever waits
        ):
            self._spare.append(data)  # acknowledged: nothing reads it any more
            self._kept[id(data)] = self._kept.get(id(data), 0) + 1  # for _settle

    async def _fresh_buffer(self, size: int) -> Body:
        """A buffer for the next part: a spare one of that size (its bytes are counted
        in the client's pool already), or a new one, once the pool has room. Reuse
        spares the allocator's churn (page faults, zeroing) and keeps memory flat."""
        spare = self._spare.pop() if self._spare else None
        if spare is not None and len(spare) == size:
            return spare
        if spare is not None:
            self._spare.append(spare)
        self._drop_spares()  # the part size grew: the old buffers fit no more
        self._spare_size = size
        taken = await self._pool.take(size, user=self)
        self._pooled += taken  # (not `+= await`: that would add to the value before it)
        buffer = Body(size)  # filled in place: no regrowth, no copies
        self._allocated[id(buffer)] = size
        return buffer

    async def _fresh_pieces(self, size: int) -> Pieces:
        """Room for a part of the caller's own bytes: no buffer, but counted in the
        client's pool as one, as it is held as long. Spare buffers go back (and those
        still in flight when they come back), as the parts that follow need none."""
        self._drop_spares()
        self._spare_size = 0
        taken = await self._pool.take(size, user=self)
        self._pooled += taken
        pieces = Pieces()
        self._allocated[id(pieces)] = size
        return pieces

    def _settle(self, buffer: Body | Pieces) -> None:
        """A part task is over: its buffer's bytes go back to the pool, unless the task
        kept it to be filled again (it may be filling already: the task said so, not
        the spare list)."""
        kept = self._kept.get(id(buffer), 0)
        if kept:
            if kept == 1:
                del self._kept[id(buffer)]
            else:
                self._kept[id(buffer)] = kept - 1
            return
        self._give_back(buffer)

    def _give_back(self, buffer: Body | Pieces) -> None:
        size = self._allocated.pop(id(buffer), 0)
        self._pooled -= size
        self._pool.give(size)

    @property
    def pool_held(self) -> int:
        """What this upload's buffers hold of the client's memory pool."""
        return self._pooled

    def shed(self) -> None:
        """Give the spare buffers back to the pool (others wait for room)."""
        self._drop_spares()

    def _drop_spares(self) -> None:
        for spare in self._spare:
            self._give_back(spare)
        self._spare.clear()

    def _release_memory(self) -> None:
        """The upload is over: whatever it still holds of the pool goes back."""
        self._drop_spares()
        if self._buffer is not None:
            self._give_back(self._buffer)
            self._buffer = None
        if self._buffer_held:  # the part being filled holds a share of the budget too
            self._budget.release(self._buffer_held)
            self._buffer_held = 0
        if self._tasks:  # parts still unwinding (the client closing): they settle later
            return
        self._pool.give(self._pooled)
        self._pooled = 0
        self._allocated.clear()

    # -- complete or abort -------------------------------------------------------------

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._closed_by is not None:
                if exc is None:
                    raise self._closed_by  # the client was closed under this upload
                return
            if self._state != "open":
                return
            if exc is None:
                try:
                    await self._finish()
                except BaseException as error:
                    await self._cleanup(error)
                    raise
                return
            await self._cleanup(exc)
        finally:
            self._s3._live.discard(self)
            self._release_memory()

    async def _finish(self) -> None:
        self._state = "completing"
        if self._mode != "parts" and (self._filled or (not self._parts and not self._tasks)):
            self._plan.size_of(self._next_number)  # still within 10,000 parts
            await self._submit_filled()
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._closed_by is not None:  # the client closed meanwhile: parts were cancelled
            raise self._closed_by
        if self._failure is not None:
            raise self._failure
        if self._size is not None and self._accepted != self._size:
            raise InvalidRequest(
                f"the upload ended after {self._accepted} bytes, not the declared {self._size}",
                bucket=self.bucket,
                key=self.key,
            )
        numbers = sorted(self._parts)
        if not numbers:
            raise InvalidRequest("no part was uploaded", bucket=self.bucket, key=self.key)
        if self._mode == "write" and not self._sent <= set(numbers):
            missing = sorted(self._sent - set(numbers))[:5]
            raise TransferError(  # never complete an object with a hole in it
                f"parts {missing} were not acknowledged; not completing",
                bucket=self.bucket,
                key=self.key,
                upload_id=self.upload_id,
            )
        small = [n for n in numbers[:-1] if self._parts[n].size < MIN_PART_SIZE]
        if small:
            raise InvalidRequest(
                f"parts {small[:5]} are under 5 MiB; only the last part may be smaller",
                bucket=self.bucket,
                key=self.key,
            )
        await self._meter.end()  # before completing: a callback that raises aborts
        await self._complete(numbers)

    async def _complete(self, numbers: list[int]) -> None:
        parts = []
        for n in numbers:
            part = self._parts[n]
            entry: dict[str, Any] = {"PartNumber": n, "ETag": part.etag}
            if part.checksum:
                entry.update(part.checksum.for_complete())
            parts.append(entry)
        params: dict[str, Any] = dict(self._conditions)
        checksums: dict[str, str] = {}
        if self._full_crc:
            crc = 0
            for n in numbers:
                part = self._parts[n]
                assert part.checksum is not None and part.checksum.crc is not None
                crc = crc32_combine(crc, part.checksum.crc, part.size)
            checksums["CRC32"] = params["ChecksumCRC32"] = crc32_b64(crc)
            params["ChecksumType"] = "FULL_OBJECT"
        resp = await self._s3.call(
            "complete_multipart_upload",
            action="complete multipart upload",
            bucket=self.bucket,
            key=self.key,
            options=self._options,
            UploadId=self.upload_id,
            MultipartUpload={"Parts": parts},
            **params,
        )
        self.result = StoredObject.from_write(
            self.bucket,
            self.key,
            self._params,
            resp,
            size=sum(self._parts[n].size for n in numbers),
            checksums=checksums,
            checksum_type="FULL_OBJECT" if self._full_crc else None,
            parts=len(numbers),
        )
        self._state = "done"

    async def _abort_for_close(self) -> None:
        """The client is closing: abort now; the task driving this upload gets a
        :class:`~aios3.TransferError` naming it."""
        error = closed_error(self.bucket, self.key, self.upload_id)
        if self._state in ("new", "open", "completing"):
            self._closed_by = error
        if self._state == "new":  # CreateMultipartUpload may still be in flight
            if self._create is not None:
                await shielded(
                    self._abort_if_created(self._create), within=self._transfer.cleanup_timeout
                )
            self._state = "aborted"
            return
        await self._cleanup(error)

    async def _cleanup(self, error: BaseException) -> None:
        """Cancel the parts in flight, wait for them, and abort the upload. Runs once,
        whoever asks first (the block's exit, or the client closing); later callers
        wait for the same cleanup."""
        if self._cleanup_task is None:
            self._state = "aborting"
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()

            async def drain_and_abort() -> None:
                await asyncio.gather(*tasks, return_exceptions=True)
                await self._abort()

            self._cleanup_task = asyncio.ensure_future(drain_and_abort())
        try:
            await shielded(
                asyncio.shield(self._cleanup_task), within=self._transfer.cleanup_timeout
            )
        except Exception as abort_error:
            log.warning(
                "could not abort upload %s of %s: %s", self.upload_id, self.key, abort_error
            )
            error.add_note(
                f"aios3: aborting upload {self.upload_id} failed too ({abort_error}); "
                "s3.abort_multipart_uploads() can remove it later"
            )
        finally:
            self._state = "aborted"

    async def _abort(self) -> None:
        """Abort, and again while the upload is still listed (a part in flight at the
        moment of the abort can recreate it on some stores)."""
        for _ in range(3):
            try:
                await self._s3.call(
                    "abort_multipart_upload",
                    action="abort multipart upload",
                    bucket=self.bucket,
                    key=self.key,
                    options=self._options,
                    UploadId=self.upload_id,
                )
                await self._s3.call(
                    "list_parts",
                    action="check aborted upload",
                    bucket=self.bucket,
                    key=self.key,
                    options=self._options,
                    UploadId=self.upload_id,
                    MaxParts=1,
                )
            except NoSuchUpload:
                return
            except S3Error as err:
                if err.status == 404:
                    return
                raise
        raise TransferError(
            f"upload {self.upload_id} is still listed after 3 aborts",
            bucket=self.bucket,
            key=self.key,
            upload_id=self.upload_id,
        )
