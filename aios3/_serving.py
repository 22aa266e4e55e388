"""What ``aios3.web`` does whatever the framework: answer a GET or HEAD of an object as
HTTP says (validators, one byte range, conditional requests), and take a request body
in within a size cap and a content-type allow-list.

Serving reads the object's description with one HEAD, decides the answer from it (404,
304, 416, 206 or 200), then opens one GET for the bytes to send, pinned to the ETag it
described: an object replaced in between is described again, never sent under the
other one's headers.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING

from ._exceptions import InvalidRequest, NoSuchKey, PreconditionFailed
from ._info import ObjectInfo, _check_header, content_disposition
from ._names import Name

if TYPE_CHECKING:
    from ._client import S3
    from ._stream import ObjectStream

__all__ = ["Answer", "BodyRefused", "Intake", "open_answer"]

_ATTEMPTS = 3  # describe + open, when the object changes in between
_RANGE = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


@dataclass(frozen=True, slots=True)
class Answer:
    """The response to send: its status and headers, and which bytes of the object
    (``object[start:end]``) go in its body, if any."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    start: int = 0
    end: int = 0
    info: ObjectInfo | None = None

    @property
    def has_body(self) -> bool:
        return self.end > self.start


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _seconds(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=0)


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def _none_match(header: str, etag: str | None) -> bool:
    """If-None-Match holds (the client has this version): weak comparison."""
    tags = [t.strip() for t in header.split(",") if t.strip()]
    if "*" in tags:
        return True
    return etag is not None and any(_opaque(t) == _opaque(etag) for t in tags)


def _range_still_valid(if_range: str | None, info: ObjectInfo) -> bool:
    """If-Range holds: the client's copy is this version (strong comparison)."""
    if if_range is None:
        return True
    if_range = if_range.strip()
    if if_range.startswith(('"', "W/")):
        return not if_range.startswith("W/") and if_range == info.etag
    when = _parse_date(if_range)
    return (
        when is not None
        and info.last_modified is not None
        and (_seconds(info.last_modified) == _seconds(when))
    )


class _Unsatisfiable(Exception):
    pass


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """One ``bytes=`` range as ``(start, end)`` (end exclusive), or ``None`` to send the
    whole object (a header that is malformed, of another unit, or asks for several
    ranges is ignored, as HTTP allows). Raises :class:`_Unsatisfiable`."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    match = _RANGE.fullmatch(spec)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise _Unsatisfiable
        return max(0, size - length), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise _Unsatisfiable
    end = size if not last else min(size, int(last) + 1)
    return start, end


def decide(
    info: ObjectInfo | None,
    *,
    method: str,
    headers: Mapping[str, str],
    disposition: str | None = None,
    filename: str | None = None,
    cache_control: str | None = None,
) -> Answer:
    """The answer to a GET or HEAD of the object ``info`` describes (``None``: there
    is no such object)."""
    if info is None:
        return Answer(404, {"Content-Type": "text/plain; charset=utf-8"})
    size = info.size or 0
    validators: dict[str, str] = {}
    if info.etag:
        validators["ETag"] = info.etag
    if info.last_modified is not None:
        validators["Last-Modified"] = _http_date(info.last_modified)
    cache = cache_control if cache_control is not None else info.cache_control
    if cache:
        validators["Cache-Control"] = cache
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        if _none_match(if_none_match, info.etag):
            return Answer(304, validators, info=info)
    else:  # If-Modified-Since counts only without If-None-Match
        since = headers.get("if-modified-since")
        when = _parse_date(since) if since else None
        modified = info.last_modified
        if when is not None and modified is not None and _seconds(modified) <= _seconds(when):
            return Answer(304, validators, info=info)
    out = {
        **validators,
        "Content-Type": info.content_type or "application/octet-stream",
        "Accept-Ranges": "bytes",
    }
    if filename is not None:
        out["Content-Disposition"] = content_disposition(
            disposition or "attachment", filename=filename
        )
    elif disposition is not None:
        out["Content-Disposition"] = disposition
    elif info.content_disposition:
        out["Content-Disposition"] = info.content_disposition
    if info.content_encoding:
        out["Content-Encoding"] = info.content_encoding
    if info.content_language:
        out["Content-Language"] = info.content_language
    wanted = headers.get("range")
    if method == "GET" and wanted is not None and _range_still_valid(headers.get("if-range"), info):
        try:
            chosen = _byte_range(wanted, size)
        except _Unsatisfiable:
            return Answer(
                416,
                {**validators, "Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
                info=info,
            )
        if chosen is not None:
            start, end = chosen
            out["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
            out["Content-Length"] = str(end - start)
            return Answer(206, out, start, end, info)
    out["Content-Length"] = str(size)
    return Answer(200, out, 0, size if method == "GET" else 0, info)


def check_serve_options(
    disposition: str | None, filename: str | None, cache_control: str | None
) -> None:
    """Refuse bad options before any request."""
    if filename is not None:
        content_disposition(disposition or "attachment", filename=filename)
    elif disposition is not None:
        _check_header("disposition", disposition)
    if cache_control is not None:
        _check_header("cache_control", cache_control)


async def open_answer(
    s3: S3,
    name: Name,
    *,
    bucket: str | None,
    version_id: str | None,
    method: str,
    headers: Mapping[str, str],
    disposition: str | None,
    filename: str | None,
    cache_control: str | None,
    chunk_size: int | None,
) -> tuple[Answer, ObjectStream | None]:
    """Describe the object, decide the answer, and open the stream of its body (the
    caller must close it). A missing bucket raises :class:`~aios3.NoSuchBucket`."""
    if method not in ("GET", "HEAD"):
        raise InvalidRequest(f"only GET and HEAD serve an object, not {method}")
    check_serve_options(disposition, filename, cache_control)
    for attempt in range(_ATTEMPTS):
        info = await s3.stat(name, bucket=bucket, version_id=version_id)
        answer = decide(
            info,
            method=method,
            headers=headers,
            disposition=disposition,
            filename=filename,
            cache_control=cache_control,
        )
        if not answer.has_body or info is None:
            return answer, None
        stream = s3.stream(
            name,
            bucket=bucket,
            start=answer.start,
            end=answer.end,
            version_id=version_id,
            if_match=info.etag,
            chunk_size=chunk_size,
        )
        try:
            await stream.open()
        except (PreconditionFailed, NoSuchKey):
            stream.close()
            if attempt == _ATTEMPTS - 1:
                raise
            continue  # replaced or deleted since the HEAD: describe it again
        except BaseException:
            stream.close()
            raise
        return answer, stream
    raise AssertionError("unreachable")


# -- taking a request body in -------------------------------------------------------------


class BodyRefused(InvalidRequest):
    """A request body that is not stored: too large (``status`` 413) or of a content
    type not allowed (415)."""


def media_type(content_type: str | None) -> str | None:
    """``image/png`` of ``image/png; charset=...``, lower-cased."""
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def check_content_type(content_type: str | None, allowed: Collection[str] | None) -> None:
    """Raise :class:`BodyRefused` (415) unless the body's media type is allowed (an entry
    may be ``type/*``)."""
    if allowed is None:
        return
    kind = media_type(content_type)
    if kind is not None:
        for entry in allowed:
            entry = entry.strip().lower()
            if entry == kind or (entry.endswith("/*") and kind.startswith(entry[:-1])):
                return
    raise BodyRefused(
        f"content type {kind or '(none)'!r} is not one of {sorted(allowed)}", status=415
    )


def check_store_options(max_size: int, allowed: Collection[str] | None) -> None:
    if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 0:
        raise InvalidRequest(f"max_size={max_size!r} must be a byte count >= 0")
    if allowed is not None and (
        isinstance(allowed, str) or not all(isinstance(a, str) and "/" in a for a in allowed)
    ):
        raise InvalidRequest("content_types must be a collection of 'type/subtype' strings")


class Intake:
    """A request body as an async iterable for :meth:`S3.upload`, counted against
    ``max_size``: one byte more raises :class:`BodyRefused` (413) inside the upload,
    which aborts it."""

    def __init__(self, chunks: AsyncIterable[bytes], max_size: int) -> None:
        self._chunks = chunks
        self.max_size = max_size
        self.received = 0
        self.too_large = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            if not chunk:
                continue
            self.received += len(chunk)
            if self.received > self.max_size:
                self.too_large = True
                raise BodyRefused(
                    f"the request body is over the {self.max_size}-byte limit", status=413
                )
            yield chunk

    def too_long(self, declared: int | None) -> bool:
        """Whether a declared Content-Length is over the limit already."""
        return declared is not None and declared > self.max_size


def declared_length(value: str | None) -> int | None:
    """A Content-Length header's value, or ``None`` when absent or not a number."""
    if value is None or not value.strip().isdigit():
        return None
    return int(value)
