"""How aiohttp sends a :class:`~aios3._body.Body`: as it is, in slices, and without the
"large body" ResourceWarning its generic bytes payload raises above 1 MB, so that
applications that run with warnings as errors are not broken by aios3.

Importing this module registers the payload; :func:`aios3._body.send_with_aiohttp`
does, as a client opens.
"""

from __future__ import annotations

from typing import Any

from aiohttp import payload as _payload

from ._body import Body

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
        if content_length is not None:
            view = view[:content_length]
        for start in range(0, view.nbytes, _SLICE):
            await writer.write(view[start : start + _SLICE])


_payload.PAYLOAD_REGISTRY.register(_BodyPayload, Body, order=_payload.Order.try_first)
