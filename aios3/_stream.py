"""Reading an object as a stream of chunks: :class:`ObjectStream`."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import TYPE_CHECKING, Any

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
from ._retry import jitter

if TYPE_CHECKING:
    from ._client import S3

__all__ = ["ObjectStream", "body_error", "check_range", "is_cut_short", "range_header"]


def check_range(start: int | None, end: int | None) -> None:
    """Refuse negative or non-integer bounds before any request. Everything else
    follows slice semantics, as ``data[start:end]`` would: an ``end`` past the end is
    the end, and a ``start`` at or past the end, or an ``end <= start``, is empty."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidRequest(f"{name} must be an int, not {type(value).__name__}")
        if value is not None and value < 0:
            raise InvalidRequest(f"{name}={value} is negative; ranges count from 0")


def empty_range(start: int | None, end: int | None) -> bool:
    """Whether ``object[start:end]`` is empty whatever the object's size."""
    return start is not None and end is not None and end <= start


def unsatisfiable(err: S3Error) -> bool:
    """A 416: the range starts at or past the end of the object (or it is empty), which
    slice semantics answer with no bytes."""
    return err.status == 416 or err.code == "InvalidRange"


async def describe(
    s3: S3, bucket: str, key: str, params: dict[str, Any], options: RequestOptions = NO_OPTIONS
) -> ObjectInfo:
    """The object's info by HEAD, for a range that holds no bytes."""
    head = {k: v for k, v in params.items() if k in ("VersionId", "IfMatch")}
    resp = await s3.call(
        "head_object", action="head", bucket=bucket, key=key, options=options, **head
    )
    return ObjectInfo.from_response(bucket, key, resp)


def range_header(start: int, end: int | None) -> str:
    """HTTP Range for ``object[start:end]`` (``end`` exclusive, ``None``: to the end)."""
    return f"bytes={start}-" if end is None else f"bytes={start}-{end - 1}"


def is_cut_short(exc: BaseException) -> bool:
    """Whether a body read failed because the connection broke or stalled (retryable)."""
    import aiohttp
    from botocore import exceptions as bex

    return isinstance(
        exc,
        aiohttp.ClientPayloadError
        | aiohttp.ClientConnectionError
        | bex.ResponseStreamingError
        | bex.IncompleteReadError
        | bex.ReadTimeoutError
        | TimeoutError
        | ConnectionError,
    )


def checksum_failure(exc: BaseException) -> bool:
    from botocore.exceptions import FlexibleChecksumError

    return isinstance(exc, FlexibleChecksumError)


def body_error(exc: BaseException, *, action: str, bucket: str, key: str) -> S3Error | None:
    """A failed body read as aios3's error: bytes that fail their checksum raise
    :class:`IntegrityError`, a connection cut short :class:`TransferError` (both worth
    another try); ``None`` for anything else."""
    if checksum_failure(exc):
        return IntegrityError(f"{action} s3://{bucket}/{key}: {exc}", bucket=bucket, key=key)
    if is_cut_short(exc):
        return TransferError(
            f"{action} s3://{bucket}/{key} broke off: {exc}", bucket=bucket, key=key
        )
    return None


class ObjectStream:
    """An object's bytes as an async iterator of chunks (at most ``chunk_size`` each).

    Use it as ``async with s3.stream(key) as body: async for chunk in body: ...``.
    ``info`` describes the object once the stream is open (after entering, or the first
    chunk). A connection that breaks mid-body is resumed with a ranged GET pinned to the
    ETag (If-Match), up to ``part_retries`` times; a body that fails its checksum raises
    :class:`~aios3.IntegrityError`.
    """

    def __init__(
        self,
        s3: S3,
        bucket: str,
        key: str,
        *,
        chunk_size: int,
        start: int | None,
        end: int | None,
        version_id: str | None,
        if_match: str | None,
        progress: ProgressCallback | None = None,
        options: RequestOptions = NO_OPTIONS,
    ) -> None:
        check_range(start, end)
        if chunk_size < 1:
            raise InvalidRequest("chunk_size must be at least 1")
        self.bucket, self.key = bucket, key
        self._s3 = s3
        self._chunk_size = chunk_size
        self._pos = start or 0
        self._end = end
        self._version_id = version_id
        self._etag = if_match
        self._body: Any = None
        self._done = False
        self._info: ObjectInfo | None = None
        self._closed_by: TransferError | None = None
        self._retries = s3.transfer.part_retries
        self._backoff = s3.transfer.retry_backoff
        self._meter = Meter(f"s3://{bucket}/{key}", None, progress)
        self._options = options  # on the GET, and on every GET that resumes it

    @property
    def info(self) -> ObjectInfo:
        """The object's info; available once the stream is open."""
        if self._info is None:
            raise RuntimeError("the stream is not open yet: enter it or read a chunk first")
        return self._info

    async def open(self) -> ObjectInfo:
        """Send the GET (``async with`` and the first ``__anext__`` do this)."""
        if self._info is None:
            await self._request()
        return self.info

    async def _request(self) -> None:
        params: dict[str, Any] = {}
        if self._version_id:
            params["VersionId"] = self._version_id
        if self._etag:
            params["IfMatch"] = self._etag
        if empty_range(self._pos, self._end):
            # An empty range: S3 cannot express it, so describe the object with HEAD.
            self._info = await describe(self._s3, self.bucket, self.key, params, self._options)
            self._done = True
            await self._meter.start(0)
            return
        if self._pos or self._end is not None:
            params["Range"] = range_header(self._pos, self._end)
        try:
            resp = await self._s3.call(
                "get_object",
                action="get",
                bucket=self.bucket,
                key=self.key,
                options=self._options,
                **params,
            )
        except S3Error as err:
            if self._info is not None or not unsatisfiable(err):
                raise
            self._info = await describe(self._s3, self.bucket, self.key, params, self._options)
            self._done = True  # the range starts at or past the end: no bytes
            await self._meter.start(0)
            return
        self._body = resp["Body"]
        self._s3._live.add(self)  # closing the client closes this body too
        if self._info is None:
            self._info = ObjectInfo.from_response(self.bucket, self.key, resp)
            try:
                await self._meter.start(resp.get("ContentLength"))
            except BaseException:
                self.close()
                raise
        self._etag = self._etag or resp.get("ETag")

    def __aiter__(self) -> ObjectStream:
        return self

    async def __anext__(self) -> bytes:
        if self._closed_by is not None:
            raise self._closed_by
        if self._done:
            await self._meter.end()
            raise StopAsyncIteration
        if self._info is None:
            await self._request()
            if self._done:
                await self._meter.end()
                raise StopAsyncIteration
        for attempt in range(self._retries + 1):
            try:
                chunk: bytes = await self._body.read(self._chunk_size)
                break
            except asyncio.CancelledError:
                self.close()
                raise
            except Exception as exc:
                self.close()
                if self._closed_by is not None:
                    raise self._closed_by from exc
                error = body_error(exc, action="get", bucket=self.bucket, key=self.key)
                if isinstance(error, IntegrityError):
                    raise error from exc
                if error is None or attempt == self._retries:
                    if isinstance(exc, S3Error):
                        raise
                    raise TransferError(
                        f"get s3://{self.bucket}/{self.key} broke off at byte {self._pos} "
                        f"after {attempt + 1} tries: {type(exc).__name__}: {exc}",
                        bucket=self.bucket,
                        key=self.key,
                    ) from exc
                await asyncio.sleep(self._backoff * (2**attempt) * (0.5 + jitter()))
                try:
                    await self._request()
                except Exception as again:
                    raise translate(
                        again, action="resume get", bucket=self.bucket, key=self.key
                    ) from again
        try:
            if not chunk:
                self._done = True
                self.close()
                await self._meter.end()
                raise StopAsyncIteration
            self._pos += len(chunk)
            await self._meter.add(len(chunk))
        except Exception:  # the progress callback raised: the stream stops here
            self.close()
            raise
        return chunk

    async def read(self) -> bytes:
        """Read everything that is left into memory."""
        return b"".join([chunk async for chunk in self])

    def close(self) -> None:
        """Release the HTTP connection now. Safe to call more than once."""
        body, self._body = self._body, None
        if body is not None:
            self._s3._live.discard(self)
            body.close()

    async def _abort_for_close(self) -> None:
        self._closed_by = closed_error(self.bucket, self.key)
        self.close()

    async def aclose(self) -> None:
        """Release the HTTP connection now."""
        self.close()

    async def __aenter__(self) -> ObjectStream:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A bare ``async for`` that breaks early drops the last reference here.
        body = getattr(self, "_body", None)
        if body is not None:
            body.close()
