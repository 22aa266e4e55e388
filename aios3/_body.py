"""Request bodies that aios3 owns.

Every body aios3 sends (a part, a small object) is a :class:`Body`: a ``bytearray``
that no caller can change while it is in flight. aiohttp sends it through
:mod:`._payload`, which :func:`send_with_aiohttp` registers when a client opens (not
here: importing aios3 does not import aiohttp).
"""

from __future__ import annotations

__all__ = ["Body", "send_with_aiohttp"]


class Body(bytearray):
    """Bytes owned by aios3 for one request."""

    __slots__ = ()


def send_with_aiohttp() -> None:
    """Register :class:`Body`'s aiohttp payload (once: it registers on import)."""
    from . import _payload  # noqa: F401
