"""``S3.upload``: one pipeline for every source.

source -> :func:`~aios3._sources.open_source` adapter -> small and of known size? one
PutObject : a :class:`~aios3._multipart.MultipartUpload` fed part-sized reads (or, for
a file sent over aios3's own connections, part-sized spans of it, never read into
memory but to digest them).
A stream of unknown length is read up to the threshold first, so short streams still
go in one request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._aio import tree_budget
from ._body import Body
from ._checksum import checksummed
from ._config import TransferConfig
from ._exceptions import InvalidRequest
from ._info import StoredObject, write_params
from ._multipart import MultipartUpload
from ._options import NO_OPTIONS, RequestOptions
from ._progress import Meter, ProgressCallback
from ._retry import with_retries
from ._sources import Reader, open_source

if TYPE_CHECKING:
    from ._client import S3

__all__ = ["upload", "put_object"]


async def upload(
    s3: S3,
    bucket: str,
    key: str,
    source: Any,
    *,
    size: int | None,
    headers: Mapping[str, Any],
    if_none_match: str | None,
    if_match: str | None,
    transfer: TransferConfig,
    progress: ProgressCallback | None = None,
    options: RequestOptions = NO_OPTIONS,
) -> StoredObject:
    if if_none_match not in (None, "*"):
        raise InvalidRequest('if_none_match takes only "*" (write only if the key is new)')
    if size is not None and (not isinstance(size, int) or size < 0):
        raise InvalidRequest(f"size={size!r} must be a non-negative int")
    reader = open_source(source)
    if size is not None and reader.size is not None and size != reader.size:
        raise InvalidRequest(f"size={size} contradicts the source's {reader.size} bytes")
    known = reader.size if reader.size is not None else size
    params = write_params(key, guess_from=reader.name, **headers)
    conditions = {k: v for k, v in (("IfNoneMatch", if_none_match), ("IfMatch", if_match)) if v}
    meter = Meter(f"s3://{bucket}/{key}", known, progress)
    async with reader:
        if known is not None and known <= transfer.multipart_threshold:
            shared = tree_budget.get()  # in a directory call: held like a part
            held = await shared.acquire(known) if shared is not None else 0
            try:
                data = await _read_all(reader, known)
                return await put_object(
                    s3, bucket, key, data, params, conditions, transfer, options, meter
                )
            finally:
                if shared is not None:
                    shared.release(held)
        # Read ahead: a short stream still goes in one request. What is read is copied
        # at once into buffers of the first part size, which become the first parts
        # (the caller's chunks are let go as they come: one request's body is one
        # buffer). The parts after it hold the caller's ``bytes`` chunks instead, as
        # write() does (see HOLD_FROM in ._multipart).
        ahead: list[Body] = []
        filled = 0  # bytes in ahead[-1]
        pool, pooled = s3.memory, 0  # the read-ahead's part of the client's buffer bytes

        async def counted() -> None:  # count the buffers added to ahead in the pool
            # Without waiting: a read-ahead sends nothing until it is over, so waiting
            # here could leave uploads holding read-aheads waiting on each other.
            nonlocal pooled
            if len(ahead) * transfer.part_size > pooled:
                want = len(ahead) * transfer.part_size - pooled
                taken = await pool.take(want)
                pooled += taken

        try:
            if known is None:
                piece = transfer.part_size
                buffered = 0
                while buffered <= transfer.multipart_threshold:
                    if reader.can_readinto:  # straight into the buffers
                        if not ahead or filled == piece:
                            ahead.append(Body(piece))
                            filled = 0
                            await counted()
                        got = await reader.readinto(ahead[-1], filled, piece)
                        filled += got
                        buffered += got
                        if got:
                            continue
                    else:
                        chunk = await reader.read(transfer.multipart_threshold + 1 - buffered)
                        if len(chunk):
                            filled = _copy_ahead(ahead, filled, piece, chunk)
                            await counted()
                            buffered += len(chunk)
                            continue
                    data = _joined(ahead, filled, buffered)
                    return await put_object(
                        s3, bucket, key, data, params, conditions, transfer, options, meter
                    )
            up = MultipartUpload(
                s3,
                bucket,
                key,
                params=params,
                part_size=None,
                concurrency=None,
                size=known,
                if_none_match=if_none_match,
                if_match=if_match,
                transfer=transfer,
                meter=meter,
                options=options,
            )
            async with up:
                if ahead:
                    pooled = 0  # the upload holds them now, and gives them back
                    await up._adopt_buffers(ahead, filled)
                    ahead = []
                if await up.sends_spans(reader):  # no buffers: the kernel sends the file
                    while await up._send_span(reader):
                        pass
                elif reader.can_readinto:
                    while await up._fill_from(reader):
                        pass
                else:
                    while chunk := await reader.read(up._wanted()):
                        await up._write(chunk, lasting=reader.lasting)
            assert up.result is not None
            return up.result
        finally:
            pool.give(pooled)


def _copy_ahead(buffers: list[Body], filled: int, piece: int, chunk: Any) -> int:
    """Copy ``chunk`` into the read-ahead ``buffers`` (each ``piece`` bytes, the last
    holding ``filled``), adding buffers as they fill; the last one's new ``filled``."""
    view = memoryview(chunk).cast("B")
    while view.nbytes:
        if not buffers or filled == piece:
            buffers.append(Body(piece))
            filled = 0
        take = min(piece - filled, view.nbytes)
        buffers[-1][filled : filled + take] = view[:take]
        filled += take
        view = view[take:]
    return filled


def _joined(buffers: list[Body], filled: int, size: int) -> Body:
    """A short stream's read-ahead (full ``buffers``, the last holding ``filled``
    bytes) as one request body."""
    if len(buffers) == 1:
        body = buffers[0]
        del body[filled:]
        return body
    body, pos = Body(size), 0
    for index, buffer in enumerate(buffers):
        n = len(buffer) if index < len(buffers) - 1 else filled
        body[pos : pos + n] = memoryview(buffer)[:n]
        pos += n
    return body


async def _read_all(reader: Reader, size: int) -> Body:
    """Read exactly ``size`` bytes and check that the source ends there."""
    buf = Body()
    while len(buf) < size:
        chunk = await reader.read(size - len(buf))
        if not len(chunk):
            raise InvalidRequest(f"the source ended after {len(buf)} bytes, not {size}")
        if not buf and isinstance(chunk, Body):
            buf = chunk
        else:
            buf += chunk
    if len(buf) > size or len(await reader.read(1)):
        raise InvalidRequest(f"the source holds more than the {size} bytes declared")
    return buf


async def put_object(
    s3: S3,
    bucket: str,
    key: str,
    data: Body,
    params: Mapping[str, Any],
    conditions: Mapping[str, str],
    transfer: TransferConfig,
    options: RequestOptions = NO_OPTIONS,
    meter: Meter | None = None,
) -> StoredObject:
    """One PutObject carrying ``data`` and its checksum, retried on transient failures;
    reported to ``meter`` as one step: the start, then the end once stored."""
    if meter is not None:
        await meter.start(len(data))
    algorithm = transfer.checksum_algorithm
    sent: dict[str, Any] = {**params, **conditions}
    carried = s3._body_checksum(algorithm, sent)
    sign = await s3._signs_body("put_object", carried, data, bucket=bucket, options=options, **sent)
    async with checksummed(carried, data, sign=sign) as checksum:
        extra = checksum.as_params() if checksum else {}

        async def attempt() -> Any:
            return await s3.call(
                "put_object",
                action="upload",
                bucket=bucket,
                key=key,
                Body=data,
                ContentLength=len(data),
                options=options,
                **params,
                **extra,
                **conditions,
            )

        resp, _ = await with_retries(attempt, transfer=transfer, what=f"upload of {key}")
    if meter is not None:
        meter.done = len(data)
        await meter.end()
    checksums: dict[str, str] = {}
    if checksum and algorithm and algorithm != "MD5":
        checksums[algorithm] = checksum.value
    return StoredObject.from_write(
        bucket,
        key,
        params,
        resp,
        size=len(data),
        checksums=checksums,
        checksum_type="FULL_OBJECT" if checksums else None,
    )
