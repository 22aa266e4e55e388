"""How aiohttp sends a :class:`~aios3._body.Body` (and :class:`~aios3._body.Pieces`,
a body of several buffers): as it is, in slices, and without the
"large body" ResourceWarning its generic bytes payload raises above 1 MB, so that
applications that run with warnings as errors are not broken by aios3. A
:class:`~aios3._body.FileSpan` (a file's part that found aios3's own connections all
taken) is read a slice at a time as aiohttp sends it, never whole.

Importing this module registers the payload; :func:`aios3._body.send_with_aiohttp`
does, as a client opens.
"""

from __future__ import annotations

import os
from typing import Any

from aiohttp import payload as _payload

from ._aio import in_thread
from ._body import Body, FileSpan, Pieces

__all__: list[str] = []

_SLICE = 256 * 1024


class _BodyPayload(_payload.BytesPayload):
    """Writes in slices, so the transport copies at most one slice per connection
    (Python 3.11's socket transport copies whatever the socket does not take at once)."""

    def __init__(self, value: Body, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("content_type", "application/octet-stream")
        _payload.Payload.__init__(self, value, *args, **kwargs)
        self._size = len(value)

    async def write(self, writer: Any) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        view = memoryview(self._value)
        await _write_slices(writer, view if content_length is None else view[:content_length])


async def _write_slices(writer: Any, view: memoryview) -> None:
    """``view`` written :data:`_SLICE` bytes at a time, from where it is."""
    for start in range(0, view.nbytes, _SLICE):
        await writer.write(view[start : start + _SLICE])


class _Sized(_payload.Payload):
    """A body aios3 owns that is not one buffer: its length known, written by
    ``write_with_length``."""

    def __init__(self, value: Pieces | FileSpan, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("content_type", "application/octet-stream")
        super().__init__(value, *args, **kwargs)
        self._size = len(value)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a request body of aios3's is not text")

    async def write(self, writer: Any) -> None:
        await self.write_with_length(writer, None)


class _PiecesPayload(_Sized):
    """A body of several buffers, each written from where it is, in slices."""

    _value: Pieces

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        left = len(self._value) if content_length is None else content_length
        for part in self._value.parts:
            if left <= 0:
                return
            view = memoryview(part)[:left]
            await _write_slices(writer, view)
            left -= view.nbytes


class _SpanPayload(_Sized):
    """A file's span, read a slice at a time (in a worker thread) as it is written."""

    _value: FileSpan

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        span = self._value
        end = span.length if content_length is None else min(span.length, content_length)
        at = 0
        while at < end:
            n = min(_SLICE, end - at)
            chunk = await in_thread(os.pread, span.fd, n, span.offset + at)
            if not chunk:
                raise span.shorter(at)
            await writer.write(chunk)
            at += len(chunk)


_payload.PAYLOAD_REGISTRY.register(_BodyPayload, Body, order=_payload.Order.try_first)
_payload.PAYLOAD_REGISTRY.register(_SpanPayload, FileSpan, order=_payload.Order.try_first)
_payload.PAYLOAD_REGISTRY.register(_PiecesPayload, Pieces, order=_payload.Order.try_first)
