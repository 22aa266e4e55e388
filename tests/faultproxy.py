"""A loopback HTTP/1.1 proxy that injects faults between an S3 client and a real server.

Point the client's ``endpoint_url`` at :attr:`FaultProxy.url`; every client connection gets
its own upstream connection, and requests and responses are relayed byte for byte
(keep-alive, ``Content-Length``, ``chunked``/``aws-chunked`` bodies, ``Expect:
100-continue`` and close-delimited responses all work)::

    proxy = FaultProxy("127.0.0.1", upstream_port)  # host="::1": listen on IPv6
    await proxy.start()
    try:
        rule = proxy.add(Fault("status", method="PUT", path_contains="partNumber=2"))
        ...                                    # drive the client through proxy.url
        assert rule.fired == 1
    finally:
        await proxy.close()

A :class:`Fault` is a rule: the first rule (in :meth:`FaultProxy.add` order) that matches a
request's method and target, and is not spent, fires on that request. Actions:

``status``
    Answer with an S3-style XML error (``status``/``code``) instead of forwarding. The
    request body is read and discarded (after a ``100 Continue`` if the client asked for
    one), so the connection stays usable.
``redirect``
    Like ``status`` (give a 3xx ``status`` and a ``code`` such as ``TemporaryRedirect``),
    with ``Location: {location}{target}`` and, if ``region`` is set, the
    ``x-amz-bucket-region`` header S3 sends with a region redirect.
``stall``
    Forward the request, then sleep ``seconds`` before relaying the response head (if
    ``after_bytes`` is 0) or after relaying ``after_bytes`` bytes of the response body.
``truncate``
    Relay the response head and only ``after_bytes`` bytes of its body, then close both
    connections cleanly (FIN).
``reset_response``
    Like ``truncate``, but abort both connections (RST).
``reset_request``
    Forward the request head and ``after_bytes`` bytes of its body, then abort both
    connections.
``corrupt``
    Relay the response, with the body byte at offset ``after_bytes`` inverted (length
    unchanged; nothing changes if the body is shorter).

Every relayed request body whose ``x-amz-content-sha256`` names a digest, or a PUT's that
carries an ``x-amz-checksum-crc32``/``-sha1``/``-sha256`` header, is hashed on the way, as AWS
checks them (SeaweedFS and moto do not): :attr:`FaultProxy.payloads` holds ``(method,
target, whether the digest and checksums matched)`` for each.

Body offsets count payload bytes only, never chunked framing. Counters:
:attr:`FaultProxy.requests` (all requests seen), :attr:`FaultProxy.forwarded` (sent
upstream), :attr:`FaultProxy.fired` (faults fired) and :attr:`FaultProxy.log` (``(method,
target)`` of each request). Faults assume the client does not pipeline requests. The
upstream must speak plain HTTP (not TLS).

Beware: aiohttp (under aiobotocore) itself retries an idempotent request (GET, HEAD, PUT,
DELETE) once when its connection fails before the response head arrives, so such a fault
needs ``times=2`` to reach botocore as an error.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Fault", "FaultProxy"]

_CHUNK = 64 * 1024
_LIMIT = 1024 * 1024  # longest request/response head accepted

Action = Literal[
    "reset_request", "reset_response", "stall", "status", "redirect", "truncate", "corrupt"
]


@dataclass(eq=False)
class Fault:
    """A fault rule; see the module docstring for what each ``action`` does."""

    action: Action
    method: str | None = None
    path_contains: str | None = None
    after_bytes: int = 0
    status: int = 503
    code: str = "SlowDown"
    seconds: float = 5.0
    location: str = ""
    region: str | None = None
    times: int = 1
    fired: int = field(default=0, compare=False)

    @property
    def spent(self) -> bool:
        return self.times >= 0 and self.fired >= self.times

    def matches(self, method: str, target: str) -> bool:
        if self.spent:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in target


class _Close(Exception):
    """End the client connection (and its upstream connection); ``abort`` sends a RST."""

    def __init__(self, abort: bool = False) -> None:
        super().__init__()
        self.abort = abort


@dataclass(eq=False)
class _Exchange:
    method: str
    target: str
    fault: Fault | None
    close: bool  # the request asked for Connection: close


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """One message head (start line + headers + blank line), or None at a clean EOF."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _Close(abort=True) from exc
        return None


def _parse_head(head: bytes) -> tuple[list[str], dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return lines[0].split(" ", 2), headers


def _framing(headers: dict[str, str], *, default: str) -> tuple[str, int]:
    """How the body is delimited: ("chunked", 0), ("length", n) or (default, 0)."""
    if headers.get("transfer-encoding", "").lower().endswith("chunked"):
        return "chunked", 0
    if "content-length" in headers:
        return "length", int(headers["content-length"])
    return default, 0


async def _body_pieces(
    reader: asyncio.StreamReader, kind: str, length: int
) -> AsyncIterator[tuple[bytes, bool]]:
    """The raw bytes of a body, as ``(piece, is_payload)``; framing pieces are not payload."""
    if kind == "length":
        while length > 0:
            data = await reader.read(min(length, _CHUNK))
            if not data:
                raise _Close(abort=True)
            length -= len(data)
            yield data, True
    elif kind == "close":
        while data := await reader.read(_CHUNK):
            yield data, True
    elif kind == "chunked":
        while True:
            line = await reader.readuntil(b"\r\n")
            yield line, False
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            while size > 0:
                data = await reader.read(min(size, _CHUNK))
                if not data:
                    raise _Close(abort=True)
                size -= len(data)
                yield data, True
            yield await reader.readexactly(2), False
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
            yield line, False
        yield line, False


def _error_response(fault: Fault, method: str, target: str) -> bytes:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{fault.code}</Code><Message>Injected by FaultProxy</Message>"
        "<RequestId>faultproxy</RequestId></Error>"
    ).encode()
    if method.upper() == "HEAD":
        body = b""
    extra = ""
    if fault.action == "redirect":
        extra = f"Location: {fault.location}{target}\r\n"
        if fault.region is not None:
            extra += f"x-amz-bucket-region: {fault.region}\r\n"
    head = (
        f"HTTP/1.1 {fault.status} Injected\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        "x-amz-request-id: faultproxy\r\n"
        f"{extra}"
        "\r\n"
    ).encode()
    return head + body


class FaultProxy:
    """Relay ``host``:<free port> (127.0.0.1 unless given) to
    ``upstream_host:upstream_port``, injecting faults."""

    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.faults: list[Fault] = []
        self.requests = 0
        self.forwarded = 0
        self.fired = 0
        self.log: list[tuple[str, str]] = []
        self.ranges: list[str | None] = []  # each request's Range header, as self.log
        self.headers: list[dict[str, str]] = []  # each request's headers, as self.log
        self.active: set[_Exchange] = set()  # requests read and not yet answered in full
        self.peak = 0  # the most requests in flight at once
        self.peak_parts = 0  # ... of them UploadPart requests
        self.payloads: list[tuple[str, str, bool]] = []  # hashed bodies: all matched?
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0, limit=_LIMIT)
        self.port = self._server.sockets[0].getsockname()[1]

    async def drop_connections(self) -> None:
        """Close every connection the proxy has open, as a server does with idle
        keep-alive connections; it goes on accepting new ones."""
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._connections.difference_update(tasks)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0)  # let handlers of just-accepted connections register
        while self._connections:
            tasks = list(self._connections)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._connections.difference_update(tasks)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    def ranges_asked(self, path_contains: str, method: str | None = "GET") -> list[str | None]:
        """The Range header (``None``: none) of each request whose target holds
        ``path_contains`` and whose method is ``method`` (``None``: any), in order."""
        return [
            r
            for (m, t), r in zip(self.log, self.ranges, strict=True)
            if path_contains in t and method in (None, m)
        ]

    def _match(self, method: str, target: str) -> Fault | None:
        for fault in self.faults:
            if fault.matches(method, target):
                fault.fired += 1
                self.fired += 1
                return fault
        return None

    async def _serve(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        writers = [cwriter]
        abort = True
        try:
            abort = await self._relay_connection(creader, cwriter, writers)
        except asyncio.CancelledError:
            pass  # close(): end quietly (asyncio logs handler tasks that end cancelled)
        finally:
            try:
                for writer in writers:
                    if abort:
                        writer.transport.abort()
                    else:
                        writer.close()
                for writer in writers:
                    with contextlib.suppress(Exception, asyncio.CancelledError):
                        await writer.wait_closed()
            finally:
                self._connections.discard(task)

    async def _relay_connection(
        self,
        creader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        writers: list[asyncio.StreamWriter],
    ) -> bool:
        """Relay one client connection until it ends; return whether to abort it."""
        abort = True
        try:
            ureader, uwriter = await asyncio.open_connection(
                self.upstream_host, self.upstream_port, limit=_LIMIT
            )
            writers.append(uwriter)
            queue: asyncio.Queue[_Exchange | None] = asyncio.Queue()
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump_requests(creader, cwriter, uwriter, queue))
                group.create_task(self._pump_responses(ureader, cwriter, queue))
        except* _Close as group:
            abort = any(exc.abort for exc in group.exceptions if isinstance(exc, _Close))
        except* (OSError, EOFError, ValueError, asyncio.LimitOverrunError):
            pass  # a peer went away or sent garbage: drop the connection
        return abort

    async def _pump_requests(
        self,
        creader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        uwriter: asyncio.StreamWriter,
        queue: asyncio.Queue[_Exchange | None],
    ) -> None:
        while (head := await _read_head(creader)) is not None:
            (method, target, *_), headers = _parse_head(head)
            self.requests += 1
            self.log.append((method, target))
            self.ranges.append(headers.get("range"))
            self.headers.append(headers)
            fault = self._match(method, target)
            exchange = _Exchange(
                method, target, fault, headers.get("connection", "").lower() == "close"
            )
            self.active.add(exchange)
            parts = sum(1 for e in self.active if e.method == "PUT" and "partNumber=" in e.target)
            self.peak, self.peak_parts = (
                max(self.peak, len(self.active)),
                max(self.peak_parts, parts),
            )
            pieces = _body_pieces(creader, *_framing(headers, default="none"))
            if fault is not None and fault.action in ("status", "redirect"):
                if headers.get("expect", "").lower() == "100-continue":
                    cwriter.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await cwriter.drain()
                async with contextlib.aclosing(pieces):
                    async for _ in pieces:
                        pass
                await queue.put(exchange)
                continue
            self.forwarded += 1
            claimed = headers.get("x-amz-content-sha256", "")
            sums = {  # a PUT's are its body's (a Complete's, the whole object's)
                name: headers[f"x-amz-checksum-{name}"]
                for name in ("crc32", "sha1", "sha256")
                if f"x-amz-checksum-{name}" in headers and method == "PUT"
            }
            if len(claimed) == 64 or sums:
                pieces = self._hashed(pieces, method, target, claimed, sums)
            uwriter.write(head)
            await uwriter.drain()
            await queue.put(exchange)  # now, so a "100 Continue" can be relayed
            cut = fault if fault is not None and fault.action == "reset_request" else None
            await self._relay(pieces, uwriter, cut)
        await queue.put(None)

    async def _hashed(
        self,
        pieces: AsyncIterator[tuple[bytes, bool]],
        method: str,
        target: str,
        claimed: str,
        sums: dict[str, str],
    ) -> AsyncIterator[tuple[bytes, bool]]:
        """``pieces``, relayed as they are; once they end, whether their payload's
        SHA-256 is the digest the request claimed (if it claimed one) and its
        ``x-amz-checksum-*`` headers are the payload's checksums."""
        sha256, sha1, crc = hashlib.sha256(), hashlib.sha1(), 0
        async with contextlib.aclosing(pieces):  # type: ignore[type-var]
            async for piece, payload in pieces:
                if payload:
                    sha256.update(piece)
                    sha1.update(piece)
                    crc = zlib.crc32(piece, crc)
                yield piece, payload
        actual = {
            "crc32": crc.to_bytes(4, "big"),
            "sha1": sha1.digest(),
            "sha256": sha256.digest(),
        }
        ok = len(claimed) != 64 or sha256.hexdigest() == claimed
        for name, value in sums.items():
            ok = ok and base64.b64encode(actual[name]).decode() == value
        self.payloads.append((method, target, ok))

    async def _pump_responses(
        self,
        ureader: asyncio.StreamReader,
        cwriter: asyncio.StreamWriter,
        queue: asyncio.Queue[_Exchange | None],
    ) -> None:
        while (exchange := await queue.get()) is not None:
            try:
                await self._answer(exchange, ureader, cwriter)
            finally:
                self.active.discard(exchange)
        raise _Close()

    async def _answer(
        self, exchange: _Exchange, ureader: asyncio.StreamReader, cwriter: asyncio.StreamWriter
    ) -> None:
        """Relay the response to one request (or the fault's answer)."""
        fault = exchange.fault
        if fault is not None and fault.action in ("status", "redirect"):
            cwriter.write(_error_response(fault, exchange.method, exchange.target))
            await cwriter.drain()
            return
        if fault is not None and fault.action == "stall" and fault.after_bytes <= 0:
            await asyncio.sleep(fault.seconds)
        while True:
            head = await _read_head(ureader)
            if head is None:
                raise _Close()
            (_, status, *_), headers = _parse_head(head)
            cwriter.write(head)
            await cwriter.drain()
            if not 100 <= int(status) < 200:
                break  # else an interim response, e.g. 100 Continue: the real one follows
        kind, length = _framing(headers, default="close")
        if exchange.method.upper() == "HEAD" or int(status) in (204, 304):
            kind, length = "none", 0
        if fault is not None and fault.action == "reset_request":
            fault = None
        await self._relay(_body_pieces(ureader, kind, length), cwriter, fault)
        if kind == "close" or exchange.close or headers.get("connection", "").lower() == "close":
            raise _Close()

    async def _relay(
        self,
        pieces: AsyncIterator[tuple[bytes, bool]],
        writer: asyncio.StreamWriter,
        fault: Fault | None,
    ) -> None:
        """Copy a body, applying ``fault`` (if it acts on bodies) at its byte offset."""
        action = fault.action if fault is not None else None
        cuts = action in ("truncate", "reset_response", "reset_request")
        offset = 0  # payload bytes copied so far
        async with contextlib.aclosing(pieces):  # type: ignore[type-var]
            async for piece, payload in pieces:
                if fault is not None and payload:
                    at = fault.after_bytes - offset  # the fault's offset within this piece
                    offset += len(piece)
                    if cuts and at < len(piece):
                        writer.write(piece[: max(at, 0)])
                        await writer.drain()
                        raise _Close(abort=action != "truncate")
                    if action == "corrupt" and 0 <= at < len(piece):
                        piece = piece[:at] + bytes([piece[at] ^ 0xFF]) + piece[at + 1 :]
                    if action == "stall" and fault.after_bytes > 0 and 0 <= at < len(piece):
                        writer.write(piece[:at])
                        await writer.drain()
                        await asyncio.sleep(fault.seconds)
                        piece = piece[at:]
                writer.write(piece)
                await writer.drain()
        if cuts:
            raise _Close(abort=action != "truncate")  # the body ended before the cut
