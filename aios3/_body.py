"""Request bodies that aios3 owns.

Every body aios3 sends (a part, a small object) is a :class:`Body`: a ``bytearray``
that no caller can change while it is in flight. aiohttp sends it through
:mod:`._payload`, which :func:`send_with_aiohttp` registers when a client opens (not
here: importing aios3 does not import aiohttp).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Body", "send_with_aiohttp"]


class Body(bytearray):
    """Bytes owned by aios3 for one request.

    ``sha256``: the SHA-256 (hex) of the bytes, where whoever sends them computed it in
    the same pass as their checksum (the request signature needs it); ``None`` otherwise.
    It is set only while the bytes cannot change: between the hashing and the end of
    the request."""

    __slots__ = ("sha256",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.sha256: str | None = None


def send_with_aiohttp() -> None:
    """Register :class:`Body`'s aiohttp payload (once: it registers on import)."""
    from . import _payload  # noqa: F401
