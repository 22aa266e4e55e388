"""aios3's own HTTP/1.1 connections, over plain http: ranged GET bodies read straight
into a download's buffers, and whole requests (an upload's body of any size) sent and
answered whole.

A download's ranges are its bulk: every byte of a large object. Through aiohttp each
byte is received into a fresh ``bytes`` of up to 256 KiB, copied again by its parser
into another, and passed up through a stream reader, with a read timeout rescheduled
per chunk: ~0.3 CPU-s per GiB of Python and copying before the file sees a byte. Here
a connection is an :class:`asyncio.BufferedProtocol`: after the response head, the
socket reads go into the caller's buffer itself (``recv_into``), so a range costs one
wake-up of its task per buffer filled (1-4 MiB for a download) and no copy in user space.

Scope, and what stays with the regular path:
- plain ``http://`` targets with no proxy (https, and proxies, keep aiohttp's TLS and
  proxy handling);
- the answer must be the ``206`` of exactly the range asked (``Content-Range`` and
  ``Content-Length`` checked); any other answer (an error, a redirect, a 200, a chunked
  body) closes the connection and the caller asks again through the regular path,
  whose errors and retries are botocore's; so does a 206 carrying a checksum (a range
  that covers a whole object), which the regular path verifies;
- so does a head this reader does not trust (not HTTP/1.x, a malformed or duplicated
  framing header, a header name that is not a token, a number of over 19 digits), and
  a connection that is not made within :data:`CONNECT_FOR` seconds (the regular path
  then fails with botocore's error, within botocore's connect budget; that host's
  ranges skip this path for :data:`UNREACHABLE_FOR` seconds);
- a request with a header that could not be written as it is (a control character in
  a value, say an ETag from a hostile server; a character outside latin-1) is never
  written: the regular path gets it, and its own checks; so does one carrying an
  SSE-C key (aiohttp alone sends a customer's key, for ranges and small requests).
Whole requests (:meth:`RawConnections.exchange`): the direct path's PutObject,
UploadPart, a multipart upload's Create, Complete and Abort, HeadObject, DeleteObject
and listing pages go out whole, and their answers are read whole, framed by a length,
by chunks or by the end of the stream. Through aiohttp, a 4 KiB PutObject spent ~28%
of its CPU in aiohttp's request and response machinery, and an 8 MiB part went through
its stream writer 256 KiB at a time (see :mod:`._payload`). Here a body goes straight
onto the socket from where it is, as much at a time as the socket takes (the transport
would copy what the socket did not take at once, and wake once per slice), within the
read timeout (a server that stops reading is a timeout); the answer is read meanwhile,
as a server may answer an error before it has read all of the body: the rest is not
sent, and the connection is not used again. A file's part (a
:class:`~aios3._body.FileSpan`) goes from the page cache to the socket with
``os.sendfile``, the same way: as the socket takes it, the answer read meanwhile.
Once a request is sent it is never sent again here, but for a kept-alive connection
the server closed before answering a byte, where the method is idempotent (not a
POST: aiohttp's rule); anything else is a connection error for botocore's retry
handler, as aiohttp's would be. A request with a body that draws an error does not
leave its connection for another (the server may not have read all of the body). A
request never waits for a place: when all ``limit`` are in use (by a download's
ranges, say), aiohttp sends it. A body goes out exactly as long as its Content-Length
says, or aiohttp sends it.

Requests are signed as the direct path signs them (:meth:`DirectPath.prepare`).
Connections are kept alive in :class:`RawConnections`, at most ``limit`` in use at
once; an idle one is reused only if nothing arrived on it meanwhile (no stray bytes,
no end of stream) and for at most :data:`IDLE_FOR` seconds; the client closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import select
import sys
import time
from typing import TYPE_CHECKING, Any, TypeAlias

from ._aio import in_thread, wake
from ._body import FileSpan, Pieces

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["RawAnswer", "RawConnections"]

_HEAD_MAX = 64 * 1024  # bytes of a response head, at most
_CONTENT_RANGE = re.compile(rb"bytes (\d{1,19})-(\d{1,19})/(\d{1,19}|\*)")
_STATUS = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: .*)?")
_STATUS_1XX = re.compile(rb"HTTP/1\.[01] 1")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")
_LENGTH = re.compile(r"[0-9]{1,19}")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # in a header value: all but tab
_FRAMING = frozenset({"content-length", "content-range", "transfer-encoding", "connection"})
IDLE_FOR = 15.0
"""Seconds an idle connection is kept for reuse (aiohttp's keep-alive default)."""
CONNECT_FOR = 2.0
"""Seconds a raw connection gets to be made (at most the client's connect_timeout):
one that is not made by then, or refused, sends this host's ranges the regular way
for UNREACHABLE_FOR seconds, whose connect budget and errors are botocore's."""
UNREACHABLE_FOR = 30.0
# sent again once on a new connection where a kept one closed unanswered (aiohttp's set)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_INTERIM_MOST = 8  # 1xx answers before the final one, at most
_TRAILERS_MOST = 128  # trailer fields after a chunked body, at most
_JOINED = 64 * 1024  # a body this small is sent in one write with its head
Sendable: TypeAlias = "bytes | bytearray | memoryview | FileSpan"  # what a request writes
ANSWER_MOST = 64 * 1024 * 1024
"""Bytes, at most, of an answer read whole (a listing page is ~300 KB)."""
_PIECE_MOST = 16 * 1024 * 1024  # a body read whole is given memory this much at a time
# sendfile errors of the connection (the server closed it: its answer may be there)
_CLOSED = frozenset(
    {
        errno.EPIPE,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ENOTCONN,
        errno.ESHUTDOWN,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
    }
)
# sendfile errors that say it cannot send from this file: its bytes are read instead
_NO_SENDFILE = frozenset(
    {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
)


class RawClosed(ConnectionError):
    """The connection ended before the whole response arrived."""


class RawNotAnswered(RawClosed):
    """The connection ended before any byte of an answer: on a kept-alive connection,
    the server closed it as the request went, and never read it."""


class RawUnreadable(Exception):
    """An answer this reader does not trust: for a range, the regular path asks
    instead; for a request sent whole, a connection error."""


class RawBodyBroken(Exception):
    """A 2xx answer whose head was read and whose body then broke off, stalled or could
    not be read (asked for with ``late_errors``): its ``status`` and ``headers``, the
    failure as ``error`` (and ``__cause__``). The connection is closed."""

    def __init__(self, status: int, headers: dict[str, str], error: Exception) -> None:
        super().__init__(f"the body of a {status} answer failed: {error!r}")
        self.status, self.headers, self.error = status, headers, error


class _Connection(asyncio.BufferedProtocol):
    """One keep-alive HTTP/1.1 connection. A response's head is read into a scratch
    buffer; its body, into the buffers :meth:`readinto` is given."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._scratch = bytearray(_HEAD_MAX)
        self._head = bytearray()  # received and not yet taken: a head, the body's start
        self._dest: memoryview | None = None  # where the body's bytes go now
        self._filled = 0
        self.placed = 0  # the bytes the last readinto() placed, its head's included
        self._waiter: asyncio.Future[None] | None = None
        self._progress = 0.0  # when the body's last bytes arrived (monotonic)
        self._until = b"\r\n\r\n"  # what ends the wait for bytes into _head
        self.ended = False  # the server ended the stream (not a reset)
        self.expiry: asyncio.TimerHandle | None = None  # closes it while idle
        self.lost: BaseException | None = None
        self.cut = False  # a body not all sent (the server answered first): never reused

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
            self._progress = time.monotonic()
            if self._filled == len(self._dest):
                self._pause_and_wake()
            return
        self._head += memoryview(self._scratch)[:nbytes]
        if self._until in self._head or len(self._head) > _HEAD_MAX:
            self._pause_and_wake()

    def eof_received(self) -> bool:
        return False  # close: a response cut short is the caller's error to raise

    def connection_lost(self, exc: Exception | None) -> None:
        self.ended = exc is None
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
        return self.lost is None and self._transport is not None and not self._head and not self.cut

    def quiet(self) -> bool:
        """Whether an idle connection may carry another request: still open, and
        nothing arrived on it meanwhile (readable now means stray bytes or the end of
        the stream; asked without blocking)."""
        if not self.usable:
            return False
        assert self._transport is not None
        sock = self._transport.get_extra_info("socket")
        if sock is None:
            return False
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(sock.fileno(), select.POLLIN)
                return not poller.poll(0)
            readable, _, _ = select.select([sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def sent_all(self) -> bool:
        """Whether all the request went out (a server may answer before reading it)."""
        return self._transport is not None and not self._transport.get_write_buffer_size()

    def keep(self) -> None:
        """Taken from the idle ones: its idle timer no longer closes it."""
        if self.expiry is not None:
            self.expiry.cancel()
            self.expiry = None

    def close(self) -> None:
        """Close it; at once where a request's bytes are still waiting to go (a server
        that stopped reading would otherwise hold the socket, and the body's slices,
        for as long as it keeps the connection open)."""
        self.keep()
        if self._transport is not None:
            if self._transport.get_write_buffer_size() or self.cut:
                self._transport.abort()
            else:
                self._transport.close()

    async def _wait(self, idle: float, until: bytes = b"\r\n\r\n") -> None:
        """Read until ``until`` arrives in ``_head`` (``b""``: any byte), at most
        ``idle`` seconds."""
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._until = until
        try:
            self._transport.resume_reading()
            async with asyncio.timeout(idle):
                await self._waiter
        finally:
            self._waiter = None
            self._until = b"\r\n\r\n"

    async def request(self, sends: list[Sendable], idle: float) -> tuple[int, dict[str, str]]:
        """Send a request (its head, then any body) and read the response's status
        and headers (names in lower case). A head, and a body (or a piece of one:
        see :class:`~aios3._body.Pieces`) of at most :data:`_JOINED` bytes, go through
        the transport; a larger one by :meth:`_send_body`, as the socket takes it.
        Meanwhile the answer is read, as a server may answer (an error) before it has
        read the body: what is left is not sent."""
        transport = self._transport
        assert transport is not None
        for data in sends:
            if isinstance(data, FileSpan) or len(data) > _JOINED:
                sent = await self._send_body(data, idle)
                if sent is None:  # no sendfile from this file: read it, and send that
                    assert isinstance(data, FileSpan)
                    sent = await self._send_body(
                        await in_thread(data.read_whole, on_cancel=data.stop), idle
                    )
                if not sent:
                    return await self.response(idle)
            elif self.lost is not None or transport.is_closing():
                self.cut = True
                return await self.response(idle)
            else:
                transport.write(data)
        return await self.response(idle)

    async def _send_body(self, data: Sendable, idle: float) -> bool | None:
        """Send ``data`` straight onto the transport's socket, once the transport has
        sent what it holds (the head), as much at a time as the socket takes: a
        :class:`FileSpan` with ``os.sendfile``, from the page cache (no copy through
        this process), bytes with ``os.write`` from where they are (the transport
        would copy what the socket did not take at once, and wake once per slice).
        Whenever the socket is full, wait at most ``idle`` seconds for room, reading
        any answer meanwhile. False where the rest is not sent (``cut``): an answer
        came, or the connection ended; ``None`` where the system cannot sendfile from
        this file (nothing sent: the caller sends its bytes). The socket is written
        as asyncio's own ``loop.sendfile`` writes it, and watched for room through a
        duplicate descriptor (the loop lets no one else watch the transport's own)."""
        transport = self._transport
        assert transport is not None
        if self.lost is not None or transport.is_closing():
            self.cut = True
            return False
        if isinstance(data, FileSpan):
            span, view, total = data, None, data.length
        else:
            span, view = None, memoryview(data)
            total = view.nbytes
        fd = transport.get_extra_info("socket").fileno()
        loop = asyncio.get_running_loop()
        sent = 0
        watch = os.dup(fd)
        try:
            while sent < total:
                if self.lost is not None or transport.is_closing() or self._answered():
                    self.cut = True
                    return False
                n = 0
                if not transport.get_write_buffer_size():
                    try:
                        if span is not None:
                            n = os.sendfile(fd, span.fd, span.offset + sent, total - sent)
                        else:
                            assert view is not None
                            n = os.write(fd, view[sent:])
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError as exc:
                        if span is not None and exc.errno in _NO_SENDFILE and not sent:
                            return None
                        if exc.errno not in _CLOSED:
                            if span is not None:
                                raise span.unreadable(exc) from exc
                            raise RawClosed(f"the request could not be sent: {exc}") from exc
                        self.cut = True  # the server closed: its answer may be there
                        return False
                    else:
                        if not n:
                            if span is not None:  # the file is shorter than it was
                                raise span.shorter(sent)
                            raise RawClosed("the socket took no byte of the request")
                        sent += n
                        continue
                waiter = self._waiter = loop.create_future()
                loop.add_writer(watch, wake, waiter)
                try:
                    transport.resume_reading()  # an early answer is read as it comes
                    async with asyncio.timeout(idle):
                        await waiter
                finally:
                    loop.remove_writer(watch)  # before the descriptor closes
                    self._waiter = None
            return True
        except BaseException:
            self.cut = True  # a body not all sent: the connection is dropped, not flushed
            raise
        finally:
            if view is not None:
                view.release()
            os.close(watch)

    def _answered(self) -> bool:
        """Whether a final answer's head arrived (past any interim 1xx ones)."""
        head, start = self._head, 0
        while (end := head.find(b"\r\n\r\n", start)) >= 0:
            if not _STATUS_1XX.match(head, start):
                return True
            start = end + 4
        return False

    async def response(self, idle: float) -> tuple[int, dict[str, str]]:
        """Read the next response's status and headers (names in lower case)."""
        while b"\r\n\r\n" not in self._head:
            if self.lost is not None:
                closed = RawClosed if self._head else RawNotAnswered
                raise closed(f"no answer: {self.lost}") from self.lost
            if len(self._head) > _HEAD_MAX:
                raise RawUnreadable("a response head over 64 KiB")
            await self._wait(idle)
        end = self._head.index(b"\r\n\r\n")
        lines = bytes(self._head[:end]).split(b"\r\n")
        del self._head[: end + 4]  # what is left is the body's start
        status = _STATUS.fullmatch(lines[0])
        if status is None:
            raise RawUnreadable(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            raw_name, sep, value = line.partition(b":")
            name = raw_name.decode("latin-1").lower()
            if not sep or not _TOKEN.fullmatch(name):
                raise RawUnreadable(f"a malformed header line: {line[:80]!r}")
            if name in headers and name in _FRAMING:
                raise RawUnreadable(f"{name} given twice")
            headers[name] = value.strip(b" \t").decode("latin-1")  # OWS: spaces, tabs
        if status[1] == b"0" and "keep-alive" not in headers.get("connection", "").lower():
            headers["connection"] = "close"  # HTTP/1.0: closed after the answer
        return int(status[2]), headers

    async def line(self, idle: float) -> bytes:
        """The next line of the body (a chunk's size, a trailer), without its CRLF."""
        while (end := self._head.find(b"\r\n")) < 0:
            if self.lost is not None:
                raise RawClosed(f"the body broke off: {self.lost}") from self.lost
            if len(self._head) > _HEAD_MAX:
                raise RawUnreadable("a line over 64 KiB")
            await self._wait(idle, b"\r\n")
        taken = bytes(self._head[:end])
        del self._head[: end + 2]
        return taken

    async def chunked(self, idle: float, most: int) -> bytes:
        """A ``Transfer-Encoding: chunked`` body, whole (at most ``most`` bytes)."""
        body = bytearray()
        while size := _chunk_size(await self.line(idle)):
            if len(body) + size > most:
                raise RawUnreadable(f"an answer over {most} bytes")
            for piece in await self._pieces(size, idle):
                body += piece
            if await self.line(idle):
                raise RawUnreadable("a chunk longer than its size")
        for _ in range(_TRAILERS_MOST):  # trailer fields: not read
            if not await self.line(idle):
                return bytes(body)
        raise RawUnreadable(f"over {_TRAILERS_MOST} trailer fields")

    async def _pieces(self, size: int, idle: float) -> list[bytearray]:
        """The body's next ``size`` bytes, in pieces of at most 16 MiB, each given
        memory once the bytes before it are in: a length a server states and does not
        send costs one piece, not the length."""
        pieces: list[bytearray] = []
        while size > 0:
            piece = bytearray(min(size, _PIECE_MOST))
            await self.readinto(memoryview(piece), idle)
            pieces.append(piece)
            size -= len(piece)
        return pieces

    async def counted(self, size: int, idle: float) -> bytes:
        """The body's next ``size`` bytes, whole (read in :meth:`_pieces`)."""
        pieces = await self._pieces(size, idle)
        return bytes(pieces[0]) if len(pieces) == 1 else b"".join(pieces)

    async def to_end(self, idle: float, most: int) -> bytes:
        """A body framed by the end of the stream (no length given), whole."""
        body = bytearray()
        while True:
            body += self._head
            self._head.clear()
            if len(body) > most:
                raise RawUnreadable(f"an answer over {most} bytes")
            if self.lost is not None:
                if not self.ended:
                    raise RawClosed(f"the body broke off: {self.lost}") from self.lost
                return bytes(body)
            await self._wait(idle, b"")  # any byte wakes the reader

    async def readinto(self, view: memoryview, idle: float) -> None:
        """Fill all of ``view`` with the body's next bytes (the caller asks for no more
        than the body holds); ``idle``: seconds without a byte, at most. :attr:`placed`
        says how many came, on a failure too."""
        taken = min(len(self._head), len(view))
        if taken:
            view[:taken] = self._head[:taken]
            del self._head[:taken]
        self._dest, self._filled = view[taken:], 0
        self._progress = time.monotonic()
        try:
            while self._filled < len(self._dest):
                if self.lost is not None:
                    raise RawClosed(f"the body broke off: {self.lost}") from self.lost
                left = idle - (time.monotonic() - self._progress)
                if left <= 0:
                    raise TimeoutError(f"no byte of the body for {idle} s")
                with contextlib.suppress(TimeoutError):  # the loop checks the time
                    await self._wait(left)
        finally:
            self._dest = None
            self.placed = taken + self._filled


class RawAnswer:
    """A ``206`` answer whose body is being read: :meth:`readinto` fills buffers with
    it; leaving the ``async with`` block hands the connection back for the next request
    if the whole body was read (and the server keeps it open), else closes it, and
    frees its place among the pool's connections in use."""

    def __init__(self, pool: RawConnections, key: tuple[str, int], conn: _Connection) -> None:
        self._pool, self._key, self._conn = pool, key, conn
        self.remaining = 0
        self.reusable = True
        self.got = 0  # the bytes the last readinto() placed, if it failed too

    async def readinto(self, view: memoryview) -> None:
        """Fill all of ``view`` with the body's next bytes. If it fails (the body broke
        off, stalled past the read timeout, was cancelled), :attr:`got` says how
        many of them came first."""
        self.got = 0
        if len(view) > self.remaining:
            raise ValueError("asked for more than the body holds")
        try:
            await self._conn.readinto(view, self._pool.read_timeout)
        finally:
            self.got = self._conn.placed
            self.remaining -= self.got

    async def __aenter__(self) -> RawAnswer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.remaining or not self.reusable or not self._conn.usable:
                self._conn.close()
            else:
                self._pool.give_back(self._key, self._conn)
        finally:
            self._pool.in_use.release()


def _chunk_size(line: bytes) -> int:
    size = line.split(b";", 1)[0].strip()  # a chunk extension is not read
    if not _HEX.fullmatch(size):
        raise RawUnreadable(f"not a chunk size: {line[:80]!r}")
    return int(size, 16)


def request_head(target: str, headers: Mapping[str, str], method: str = "GET") -> bytes | None:
    """``method target`` with ``headers`` as HTTP/1.1 bytes; ``None`` where a header
    could not be written as it is (a name that is not a token; a control character but
    tab, or a character outside latin-1, in a value)."""
    if _CONTROL.search(target) or " " in target or not _TOKEN.fullmatch(method):
        return None
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or _CONTROL.search(value):
            return None
        lines.append(f"{name}: {value}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:
        return None


class RawConnections:
    """The keep-alive connections ranged GETs are read over: at most ``limit`` in use
    at once (a request waits for a place) and ``limit`` idle ones kept per host, each
    for at most :data:`IDLE_FOR` seconds; :meth:`close` closes them (the client closes
    it with itself)."""

    def __init__(self, *, limit: int, connect_timeout: float, read_timeout: float) -> None:
        self._idle: dict[tuple[str, int], list[tuple[_Connection, float]]] = {}
        self._limit = limit
        self.in_use = asyncio.Semaphore(limit)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.opened = 0  # connections made, for tests and curious users
        self._unreachable: dict[tuple[str, int], float] = {}  # host: when it failed
        self._closed = False

    async def _connect(self, key: tuple[str, int]) -> _Connection | None:
        """A new connection to ``key``; ``None`` if it cannot be made within
        :data:`CONNECT_FOR` (the regular path then tries, and fails with botocore's
        error for it, retried as botocore does), and for :data:`UNREACHABLE_FOR`
        seconds after that without trying."""
        failed = self._unreachable.get(key)
        if failed is not None:
            if time.monotonic() - failed < UNREACHABLE_FOR:
                return None
            del self._unreachable[key]
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(min(self.connect_timeout, CONNECT_FOR)):
                # No happy_eyeballs_delay: Python 3.11's staggered race leaks the
                # socket of an attempt that won as the connect was cancelled.
                _, conn = await loop.create_connection(_Connection, key[0], key[1])
        except (OSError, TimeoutError):
            self._unreachable[key] = time.monotonic()
            return None
        self._unreachable.pop(key, None)
        self.opened += 1
        return conn

    def give_back(self, key: tuple[str, int], conn: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if self._closed or len(idle) >= self._limit:
            conn.close()
            return
        idle.append((conn, time.monotonic()))
        # Reading is paused while it waits: an end of stream from the server is not
        # seen, so a timer closes it (aiohttp's pool closes its idle ones too).
        loop = asyncio.get_running_loop()
        conn.expiry = loop.call_later(IDLE_FOR, self._expire, key, conn)

    def _expire(self, key: tuple[str, int], conn: _Connection) -> None:
        conn.expiry = None
        idle = self._idle.get(key, [])
        idle[:] = [entry for entry in idle if entry[0] is not conn]
        if not idle:
            self._idle.pop(key, None)
        conn.close()

    def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn, _ in idle:
                conn.close()
        self._idle.clear()

    def _kept(self, key: tuple[str, int]) -> _Connection | None:
        """The most recently used idle connection to ``key`` that may be used again;
        those idle too long, closed by the server or holding stray bytes are closed."""
        idle = self._idle.get(key)
        oldest = time.monotonic() - IDLE_FOR
        while idle:
            conn, since = idle.pop()
            if since >= oldest and conn.quiet():
                conn.keep()
                return conn
            conn.close()
        self._idle.pop(key, None)
        return None

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
        other answer (the connection is closed; the regular path should ask), and where
        the request cannot be written or the connection made. A connection that breaks
        is an error (:class:`ConnectionError` or :class:`TimeoutError`), except a
        kept-alive one the server closed meanwhile: the request goes once more, on a new
        connection."""
        head = request_head(target, headers)
        if head is None:
            return None
        key = (host, port)
        await self.in_use.acquire()
        answer: RawAnswer | None = None
        try:
            while (conn := self._kept(key)) is not None:
                try:
                    answer = await self._answer(key, conn, head, start, end)
                    return answer
                except RawClosed:  # closed as the request went: the server let it go
                    pass
            conn = await self._connect(key)
            if conn is not None:
                answer = await self._answer(key, conn, head, start, end)
            return answer
        finally:
            if answer is None:  # else the answer frees its place when it is done
                self.in_use.release()

    async def exchange(
        self,
        host: str,
        port: int,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes | bytearray | FileSpan | Pieces | None,
        *,
        most: int | None = None,
        late_errors: bool = False,
    ) -> tuple[int, dict[str, str], bytes] | None:
        """Send a whole request (a ``body`` of any length, written as the socket takes
        it) and read its whole answer: status, headers, body (a 2xx answer's at most
        ``most`` bytes, by default :data:`ANSWER_MOST`; any other's at most that).
        ``late_errors``: a 2xx answer whose body then fails raises
        :class:`RawBodyBroken`, for a caller that reports a broken body apart from a
        request that was not answered. ``None`` where it was not sent (a header that
        cannot be written as it is, a connection not made): the regular path sends
        it. Once sent, whatever happens is an error (:class:`ConnectionError`,
        :class:`TimeoutError`), except a kept-alive connection the server closed
        before answering a byte: a request of an idempotent method goes once more, on
        a new connection, as for ranges (a POST never: a CompleteMultipartUpload sent
        again could find its upload gone)."""
        if self.in_use.locked():
            return None  # all taken (by ranges, say): aiohttp's pool sends it
        most = ANSWER_MOST if most is None else most
        length = next((v for k, v in headers.items() if k.lower() == "content-length"), None)
        if (body or length is not None) and length != str(len(body or b"")):
            return None  # the body is sent as long as it says, never more or less
        head = request_head(target, headers, method)
        if head is None:
            return None
        sends: list[Sendable]
        if isinstance(body, Pieces):
            sends = [head, *body.parts]  # each from where it is
        elif body and len(body) <= _JOINED and not isinstance(body, FileSpan):
            sends = [head + body]  # one write, one send
        else:
            sends = [head, body] if body else [head]
        key = (host, port)
        async with self.in_use:
            if (conn := self._kept(key)) is not None:
                if method not in _IDEMPOTENT:  # an error, as aiohttp's: botocore retries
                    return await self._exchange(
                        key, conn, method, sends, bool(body), most, late_errors
                    )
                with contextlib.suppress(RawNotAnswered):  # once, as aiohttp does
                    return await self._exchange(
                        key, conn, method, sends, bool(body), most, late_errors
                    )
            conn = await self._connect(key)
            if conn is None:
                return None
            return await self._exchange(key, conn, method, sends, bool(body), most, late_errors)

    async def _exchange(
        self,
        key: tuple[str, int],
        conn: _Connection,
        method: str,
        sends: list[Sendable],
        carries: bool,
        most: int,
        late_errors: bool,
    ) -> tuple[int, dict[str, str], bytes]:
        idle = self.read_timeout
        try:
            status, headers = await conn.request(sends, idle)
            try:
                for _ in range(_INTERIM_MOST):  # interim answers: the final one follows
                    if not 100 <= status < 200 or status == 101:
                        break
                    status, headers = await conn.response(idle)
            except RawNotAnswered as exc:  # it was read: never sent again
                raise RawClosed(str(exc)) from exc
            if status < 200:
                raise RawUnreadable(f"an answer {status} to {method}")
            if carries and not conn.sent_all():
                conn.cut = True  # answered with part of the body still here to send
            if conn.cut and status < 300:  # a success for a body it did not all get
                raise RawUnreadable(f"an answer {status} before the body was all sent")
            framing = headers.get("transfer-encoding")
            length = headers.get("content-length")
            # An error to a request with a body may come before the server read it all:
            # what it did not read would be taken for the next request.
            reusable = "close" not in headers.get("connection", "").lower() and not (
                status >= 300 and carries
            )
            success = 200 <= status < 300
            if not success:  # an error's body is capped, whatever the request
                most = min(most, ANSWER_MOST)
            if method == "HEAD" or status in (204, 304):
                content = b""
            elif framing is not None and length is not None:
                raise RawUnreadable("both transfer-encoding and content-length")
            elif framing is not None and framing.lower() != "chunked":
                raise RawUnreadable(f"a body in transfer-encoding {framing!r}")
            elif length is not None and (not _LENGTH.fullmatch(length) or int(length) > most):
                unreadable = RawUnreadable(f"a content-length of {length[:40]!r}")
                if late_errors and success and int(length) <= sys.maxsize:
                    # a length a body may have, longer than the caller takes: the
                    # caller's to report (the connection closed, the body unread)
                    raise RawBodyBroken(status, headers, unreadable)
                raise unreadable
            else:
                try:
                    if framing is not None:
                        content = await conn.chunked(idle, most)
                    elif length is not None:
                        content = await conn.counted(int(length), idle)
                    else:
                        content, reusable = await conn.to_end(idle, most), False
                except (RawClosed, RawUnreadable, TimeoutError) as exc:
                    if late_errors and success:
                        raise RawBodyBroken(status, headers, exc) from exc
                    raise
        except BaseException:
            conn.close()
            raise
        if reusable and conn.usable and conn.sent_all():
            self.give_back(key, conn)
        else:
            conn.close()
        return status, headers, content

    async def _answer(
        self, key: tuple[str, int], conn: _Connection, head: bytes, start: int, end: int
    ) -> RawAnswer | None:
        try:
            status, headers = await conn.request([head], self.read_timeout)
        except RawUnreadable:
            conn.close()
            return None
        except BaseException:
            conn.close()
            raise
        span = _CONTENT_RANGE.fullmatch(headers.get("content-range", "").encode("latin-1"))
        if (
            status != 206
            or "transfer-encoding" in headers
            or headers.get("content-length") != str(end - start)
            or span is None  # (its numbers have at most 19 digits: int() takes them)
            or (int(span[1]), int(span[2]) + 1) != (start, end)
            or any(name.startswith("x-amz-checksum-") for name in headers)
        ):
            conn.close()
            return None
        answer = RawAnswer(self, key, conn)
        answer.remaining = end - start
        answer.reusable = "close" not in headers.get("connection", "").lower()
        return answer
