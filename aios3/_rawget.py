"""Ranged GET bodies read straight into a download's buffers, over plain http.

A download's ranges are its bulk: every byte of a large object. Through aiohttp each
byte is received into a fresh ``bytes`` of up to 256 KiB, copied again by its parser
into another, and passed up through a stream reader, with a read timeout rescheduled
per chunk: ~0.3 CPU-s per GiB of Python and copying before the file sees a byte. Here
a connection is an :class:`asyncio.BufferedProtocol`: after the response head, the
socket reads go into the caller's buffer itself (``recv_into``), a MiB at a time, so a
range costs one event-loop wake-up per MiB and no copy in user space.

Scope, and what stays with the regular path:
- plain ``http://`` targets with no proxy (https, and proxies, keep aiohttp's TLS and
  proxy handling);
- the answer must be the ``206`` of exactly the range asked (``Content-Range`` and
  ``Content-Length`` checked); any other answer (an error, a redirect, a 200, a chunked
  body) closes the connection and the caller asks again through the regular path,
  whose errors and retries are botocore's; so does a 206 carrying a checksum (a range
  that covers a whole object), which the regular path verifies;
- a request whose header values hold a line break (an ETag from a hostile server) is
  never written: the regular path gets it, and its own checks.
Requests are signed as the direct path signs them (:meth:`DirectPath.prepare`).
Connections are kept alive in :class:`RawConnections`, closed with the client.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

from ._aio import wake

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["RawAnswer", "RawConnections"]

_HEAD_MAX = 64 * 1024  # bytes of a response head, at most
_CONTENT_RANGE = re.compile(rb"bytes (\d+)-(\d+)/(\d+|\*)")


class RawClosed(ConnectionError):
    """The connection ended before the whole response arrived."""


class _Connection(asyncio.BufferedProtocol):
    """One keep-alive HTTP/1.1 connection. A response's head is read into a scratch
    buffer; its body, into the buffers :meth:`readinto` is given."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._scratch = bytearray(_HEAD_MAX)
        self._head = bytearray()  # received and not yet taken: a head, the body's start
        self._dest: memoryview | None = None  # where the body's bytes go now
        self._filled = 0
        self._waiter: asyncio.Future[None] | None = None
        self.lost: BaseException | None = None

    # -- asyncio's side --------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self._transport = transport
        transport.pause_reading()  # nothing is read until a request waits for it

    def get_buffer(self, sizehint: int) -> Any:
        if self._dest is not None:
            return self._dest[self._filled :]
        return self._scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self._dest is not None:
            self._filled += nbytes
            if self._filled == len(self._dest):
                self._pause_and_wake()
            return
        self._head += memoryview(self._scratch)[:nbytes]
        if b"\r\n\r\n" in self._head or len(self._head) > _HEAD_MAX:
            self._pause_and_wake()

    def eof_received(self) -> bool:
        return False  # close: a response cut short is the caller's error to raise

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or RawClosed("the server closed the connection")
        if self._waiter is not None:
            wake(self._waiter)

    def _pause_and_wake(self) -> None:
        assert self._transport is not None
        self._transport.pause_reading()
        if self._waiter is not None:
            wake(self._waiter)

    # -- the caller's side -------------------------------------------------------------

    @property
    def usable(self) -> bool:
        return self.lost is None and self._transport is not None and not self._head

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def _wait(self, idle: float) -> None:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            self._transport.resume_reading()
            async with asyncio.timeout(idle):
                await self._waiter
        finally:
            self._waiter = None

    async def request(self, head: bytes, idle: float) -> tuple[int, dict[str, str]]:
        """Send a request ``head`` (no body) and read the response's status and
        headers (names in lower case)."""
        assert self._transport is not None
        self._transport.write(head)
        while b"\r\n\r\n" not in self._head:
            if self.lost is not None:
                raise RawClosed(f"no answer: {self.lost}") from self.lost
            if len(self._head) > _HEAD_MAX:
                raise RawClosed("a response head over 64 KiB")
            await self._wait(idle)
        end = self._head.index(b"\r\n\r\n")
        lines = bytes(self._head[:end]).split(b"\r\n")
        del self._head[: end + 4]  # what is left is the body's start
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise RawClosed(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise RawClosed(f"a malformed header line: {line[:80]!r}")
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        return int(parts[1]), headers

    async def readinto(self, view: memoryview, idle: float) -> None:
        """Fill all of ``view`` with the body's next bytes (the caller asks for no more
        than the body holds); ``idle``: seconds without a byte, at most."""
        taken = min(len(self._head), len(view))
        if taken:
            view[:taken] = self._head[:taken]
            del self._head[:taken]
        self._dest, self._filled = view[taken:], 0
        try:
            while self._filled < len(self._dest):
                if self.lost is not None:
                    raise RawClosed(f"the body broke off: {self.lost}") from self.lost
                before = self._filled
                try:
                    await self._wait(idle)
                except TimeoutError:
                    if self._filled == before:
                        raise
        finally:
            self._dest = None


class RawAnswer:
    """A ``206`` answer whose body is being read: :meth:`readinto` fills buffers with
    it; leaving the ``async with`` block hands the connection back for the next request
    if the whole body was read (and the server keeps it open), else closes it."""

    def __init__(self, pool: RawConnections, key: tuple[str, int], conn: _Connection) -> None:
        self._pool, self._key, self._conn = pool, key, conn
        self.remaining = 0
        self.reusable = True

    async def readinto(self, view: memoryview) -> None:
        if len(view) > self.remaining:
            raise ValueError("asked for more than the body holds")
        await self._conn.readinto(view, self._pool.read_timeout)
        self.remaining -= len(view)

    async def __aenter__(self) -> RawAnswer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.remaining or not self.reusable or not self._conn.usable:
            self._conn.close()
        else:
            self._pool.give_back(self._key, self._conn)


class RawConnections:
    """The keep-alive connections ranged GETs are read over, at most ``limit`` idle
    ones kept; :meth:`close` closes them (the client closes it with itself)."""

    def __init__(self, *, limit: int, connect_timeout: float, read_timeout: float) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._limit = limit
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.opened = 0  # connections made, for tests and curious users
        self._closed = False

    async def _connect(self, key: tuple[str, int]) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            _, conn = await loop.create_connection(_Connection, key[0], key[1])
        self.opened += 1
        return conn

    def give_back(self, key: tuple[str, int], conn: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if self._closed or len(idle) >= self._limit:
            conn.close()
        else:
            idle.append(conn)

    def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    async def get(
        self,
        host: str,
        port: int,
        target: str,
        headers: Mapping[str, str],
        *,
        start: int,
        end: int,
    ) -> RawAnswer | None:
        """Send ``GET target`` to ``host:port`` with ``headers`` and expect the ``206``
        of bytes ``start`` to ``end - 1``: the answer, its body unread; ``None`` for any
        other answer (the connection is closed; the regular path should ask). A
        connection that fails is an error (:class:`ConnectionError` or
        :class:`TimeoutError`), except a kept-alive one the server closed meanwhile:
        the request goes once more, on a new connection."""
        lines = [f"GET {target} HTTP/1.1"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                return None
            lines.append(f"{name}: {value}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        key = (host, port)
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.usable:
                conn.close()
                continue
            try:
                return await self._answer(key, conn, head, start, end)
            except RawClosed:  # closed while idle: the server let it go
                conn.close()
        conn = await self._connect(key)
        return await self._answer(key, conn, head, start, end)

    async def _answer(
        self, key: tuple[str, int], conn: _Connection, head: bytes, start: int, end: int
    ) -> RawAnswer | None:
        try:
            status, headers = await conn.request(head, self.read_timeout)
        except BaseException:
            conn.close()
            raise
        span = _CONTENT_RANGE.fullmatch(headers.get("content-range", "").encode("latin-1"))
        if (
            status != 206
            or "transfer-encoding" in headers
            or headers.get("content-length") != str(end - start)
            or span is None
            or (int(span[1]), int(span[2]) + 1) != (start, end)
            or any(name.startswith("x-amz-checksum-") for name in headers)
        ):
            conn.close()
            return None
        answer = RawAnswer(self, key, conn)
        answer.remaining = end - start
        answer.reusable = "close" not in headers.get("connection", "").lower()
        return answer
