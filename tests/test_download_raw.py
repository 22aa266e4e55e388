"""Ranged downloads over plain http read their bodies into buffers on aios3's own
kept-alive connections (``aios3._rawget``). Whatever the answer, the file is the
object: a 206 of the wrong shape, an error, a connection the server dropped, a stalled
or broken body all end in the regular path, a retry, or a typed error. Large downloads
write those buffers with O_DIRECT, where the filesystem takes it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import ClassVar

import pytest
from faultproxy import Action, Fault, FaultProxy
from test_roundtrip import blob

import aios3
from aios3 import MiB, TransferConfig
from aios3._rawget import RawConnections
from aios3.testing import Server

RANGES = TransferConfig(
    part_size=5 * MiB,
    download_threshold=MiB,
    concurrency=2,
    part_retries=2,
    retry_backoff=0.05,
)


def _raw(client: aios3.S3) -> RawConnections:
    direct = client._direct
    assert direct is not None
    return direct._raw


def _via_proxy(server: Server, s3: aios3.S3, proxy: FaultProxy, **kw: object) -> aios3.S3:
    config = server.config(
        endpoint=proxy.url, default_bucket=s3.config.default_bucket, max_attempts=2, **kw
    )
    return aios3.connect(config, transfer=RANGES)


async def test_ranges_are_read_over_kept_alive_connections(
    server: Server, server_kind: str, s3: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Three downloads of three ranges each: every byte right, every range read on the
    raw path; where the server keeps connections alive (SeaweedFS), two connections
    (the concurrency) serve all nine ranges and the HEADs before them; moto closes
    each after its answer."""
    data = blob(12 * MiB + 5, seed=40)
    await s3.upload("raw/obj", data)
    async with _via_proxy(server, s3, proxy) as client:
        for n in range(3):
            await client.download("raw/obj", tmp_path / f"out{n}")
            assert (tmp_path / f"out{n}").read_bytes() == data
        opened = _raw(client).opened
    gets = [t for m, t in proxy.log if m == "GET" and "raw/obj" in t]
    assert len(gets) == 9  # no range asked twice
    if server_kind == "seaweedfs":
        assert 1 <= opened <= 2
    else:
        assert opened == 9 + 3  # the ranges, and each download's HEAD


async def test_an_answer_other_than_the_range_goes_the_regular_way(
    server: Server, s3: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A 503 to a raw range is asked again through botocore's path (which retries it);
    a 412 (the object changed) ends as the typed error, with no file left."""
    data = blob(11 * MiB, seed=41)
    await s3.upload("raw/503", data)
    async with _via_proxy(server, s3, proxy) as client:
        rule = proxy.add(Fault("status", method="GET", path_contains="raw/503", times=1))
        await client.download("raw/503", tmp_path / "out")
        assert rule.fired == 1 and (tmp_path / "out").read_bytes() == data
        proxy.add(
            Fault(
                "status",
                method="GET",
                path_contains="raw/503",
                status=412,
                code="PreconditionFailed",
                times=-1,
            )
        )
        with pytest.raises(aios3.PreconditionFailed):
            await client.download("raw/503", tmp_path / "again")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


async def test_a_dropped_idle_connection_is_replaced(
    server: Server, s3: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    """The server closes the kept-alive connections between two downloads: the next
    ranges go out on new connections, and nothing is asked twice or lost."""
    data = blob(11 * MiB, seed=42)
    await s3.upload("raw/idle", data)
    async with _via_proxy(server, s3, proxy) as client:
        await client.download("raw/idle", tmp_path / "one")
        before = _raw(client).opened
        await proxy.drop_connections()
        await asyncio.sleep(0.05)
        await client.download("raw/idle", tmp_path / "two")
        assert _raw(client).opened > before
    assert (tmp_path / "two").read_bytes() == data
    assert len([t for m, t in proxy.log if m == "GET" and "raw/idle" in t]) == 6


@pytest.mark.parametrize("direct", [False, True], ids=["buffered", "o_direct"])
@pytest.mark.parametrize("action", ["truncate", "stall"])
async def test_a_broken_body_resumes_where_it_stopped(
    server: Server,
    s3: aios3.S3,
    proxy: FaultProxy,
    tmp_path: Path,
    action: Action,
    direct: bool,
) -> None:
    """A range cut short, or one that stalls past the read timeout, is asked again
    from the first whole block (4 KiB) not received: what came of a receive buffer
    before the break is kept, not fetched again; written with O_DIRECT too, where the
    download is that large (the offset it resumes at stays one O_DIRECT takes)."""
    if direct and not _takes_o_direct(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    data = blob(11 * MiB, seed=43)
    await s3.upload("raw/cut", data)
    transfer = dataclasses.replace(RANGES, direct_io_threshold=MiB if direct else None)
    async with _via_proxy(server, s3, proxy, read_timeout=1) as client:
        rule = proxy.add(
            Fault(action, method="GET", path_contains="raw/cut", after_bytes=2 * MiB + 3, seconds=5)
        )
        await client.download("raw/cut", tmp_path / "out", transfer=transfer)
    assert rule.fired == 1 and (tmp_path / "out").read_bytes() == data
    asked = proxy.ranges_asked("raw/cut")
    starts = {int(r.removeprefix("bytes=").split("-")[0]) for r in asked if r}
    resumed = starts - {0, 5 * MiB, 10 * MiB}
    # 2 MiB + 3 bytes came: the try after it asks from 2 MiB into its range (a receive
    # buffer is 4 MiB: without keeping a broken buffer's blocks, from the range's start)
    assert len(asked) == 4 and len(resumed) == 1 and resumed <= {2 * MiB, 7 * MiB}


async def test_a_header_with_a_line_break_is_never_written(server: Server) -> None:
    """A header value holding CR or LF (say, an ETag from a hostile server) is not sent
    on a raw connection: no connection is even opened, the regular path must ask."""
    pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
    host = "127.0.0.1"
    port = int(server.endpoint.rsplit(":", 1)[1])
    try:
        for bad in ('"etag"\r\nx-evil: 1', '"etag"\nx-evil: 1'):
            answer = await pool.get(host, port, "/b/k", {"if-match": bad}, start=0, end=10)
            assert answer is None
        assert pool.opened == 0
    finally:
        pool.close()


async def test_closing_the_client_closes_its_idle_connections(
    server: Server, s3: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    data = blob(6 * MiB, seed=44)
    await s3.upload("raw/close", data)
    client = _via_proxy(server, s3, proxy)
    async with client:
        await client.download("raw/close", tmp_path / "out")
        pool = _raw(client)
    assert pool._closed and not any(pool._idle.values())


def _resident_pages(path: Path) -> int:
    """How many of the file's pages are in the page cache (mincore on a private
    mapping, which touches none of them)."""
    import ctypes
    import mmap

    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    libc = ctypes.CDLL(None, use_errno=True)
    vec = (ctypes.c_ubyte * pages)()
    with (
        open(path, "rb") as f,
        mmap.mmap(
            f.fileno(), size, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE
        ) as m,
    ):
        address = ctypes.addressof(ctypes.c_char.from_buffer(m))
        try:
            if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vec) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            del address  # the buffer export ends before the mapping closes
    return sum(v & 1 for v in vec)


def _takes_o_direct(folder: Path) -> bool:
    flag = getattr(os, "O_DIRECT", 0)
    probe = folder / "probe"
    probe.touch()
    try:
        os.close(os.open(probe, os.O_WRONLY | flag))
    except OSError:
        return False
    finally:
        probe.unlink()
    return bool(flag)


async def test_large_downloads_write_whole_blocks_past_the_page_cache(
    s3: aios3.S3, tmp_path: Path
) -> None:
    """At ``direct_io_threshold`` and above, the blocks go to the disk with O_DIRECT:
    the file is right and almost none of it sits in the page cache (its last, partial
    block is written buffered); below it, every page was written through the cache."""
    if not _takes_o_direct(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    data = blob(12 * MiB + 1234, seed=45)
    await s3.upload("raw/direct", data)
    direct = dataclasses.replace(RANGES, direct_io_threshold=MiB)
    await s3.download("raw/direct", tmp_path / "direct", transfer=direct)
    buffered = dataclasses.replace(RANGES, direct_io_threshold=None)
    await s3.download("raw/direct", tmp_path / "buffered", transfer=buffered)
    assert (tmp_path / "direct").read_bytes() == data  # (this read fills the cache)
    assert (tmp_path / "buffered").read_bytes() == data
    for name in ("direct", "buffered"):
        fd = os.open(tmp_path / name, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # start both cold
        finally:
            os.close(fd)
    (tmp_path / "direct").unlink()
    (tmp_path / "buffered").unlink()
    await s3.download("raw/direct", tmp_path / "direct", transfer=direct)
    await s3.download("raw/direct", tmp_path / "buffered", transfer=buffered)
    pages = -(-len(data) // 4096)
    assert _resident_pages(tmp_path / "direct") <= 2
    assert _resident_pages(tmp_path / "buffered") >= pages // 2
    assert (tmp_path / "direct").read_bytes() == data


async def test_a_filesystem_without_o_direct_gets_buffered_writes(s3: aios3.S3) -> None:
    """tmpfs refuses O_DIRECT: the download writes through the page cache, whole."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or _takes_o_direct(shm):
        pytest.skip("no tmpfs that refuses O_DIRECT here")
    data = blob(11 * MiB + 5, seed=46)
    await s3.upload("raw/tmpfs", data)
    target = shm / f"aios3-test-{os.getpid()}"
    try:
        await s3.download(
            "raw/tmpfs", target, transfer=dataclasses.replace(RANGES, direct_io_threshold=0)
        )
        assert target.read_bytes() == data
    finally:
        target.unlink(missing_ok=True)


class _Canned:
    """A loopback HTTP server that answers the n-th request it reads (on whatever
    connection) with ``answers[n]`` as it is: heads no S3 server would send."""

    def __init__(self, answers: list[bytes], late: bytes = b"", close: bool = False) -> None:
        self.answers = answers
        self.late = late  # sent a moment after each answer
        self.close = close  # the connection closed after each answer
        self.asked = 0
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.handlers: set[asyncio.Task[None]] = set()
        self.writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.writers.append(writer)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                answer = self.answers[min(self.asked, len(self.answers) - 1)]
                self.asked += 1
                writer.write(answer)
                await writer.drain()
                if self.late:
                    await asyncio.sleep(0.02)
                    writer.write(self.late)
                if self.close:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    running: ClassVar[dict[int, _Canned]] = {}

    @classmethod
    async def close_all(cls, port: int) -> None:
        """Close every connection the server on ``port`` has (as a server does with
        idle ones)."""
        for writer in cls.running[port].writers:
            writer.close()

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = int(self.server.sockets[0].getsockname()[1])
        _Canned.running[port] = self
        return port

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        _Canned.running = {p: c for p, c in _Canned.running.items() if c is not self}
        self.server.close()
        for writer in self.writers:
            writer.close()  # each handler's read ends: it returns
        await asyncio.gather(*self.handlers, return_exceptions=True)
        await self.server.wait_closed()


def _ranged(body: bytes, *extra: str) -> bytes:
    head = [
        "HTTP/1.1 206 Partial Content",
        f"Content-Range: bytes 0-{len(body) - 1}/{len(body)}",
        f"Content-Length: {len(body)}",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _read(answer: object, size: int) -> bytes:
    from aios3._rawget import RawAnswer

    assert isinstance(answer, RawAnswer)
    buf = bytearray(size)
    async with answer:
        await answer.readinto(memoryview(buf))
    return bytes(buf)


async def test_a_head_this_reader_does_not_trust_goes_the_regular_way() -> None:
    """Duplicated framing headers, a header name with a space, a head that is not
    HTTP/1.x, numbers too long for int(): each answer is None (the regular path asks),
    none an error."""
    huge = "9" * 5000
    heads = [
        _ranged(b"0123456789", "Content-Length: 10"),
        _ranged(b"0123456789", "Content-Range: bytes 0-9/10"),
        _ranged(b"0123456789", "Transfer-Encoding: identity", "Transfer-Encoding: chunked"),
        _ranged(b"0123456789", "Connection: keep-alive", "Connection: close"),
        _ranged(b"0123456789", "Bad Name: x"),
        b"ICY 200 OK\r\n\r\n0123456789",
        b"HTTP/1.1 " + huge.encode() + b" OK\r\n\r\n",
        f"HTTP/1.1 206 OK\r\nContent-Range: bytes 0-{huge}/{huge}\r\n"
        "Content-Length: 10\r\n\r\n0123456789".encode(),
        _ranged(b"0123456789", "x-amz-checksum-crc32: AAAAAA=="),
    ]
    for head in heads:
        async with _Canned([head]) as port:
            pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
            try:
                assert await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10) is None
                assert pool.in_use._value == 2  # its place given back
            finally:
                pool.close()
    async with _Canned([_ranged(b"0123456789", "X-Tab:\tfine")]) as port:  # the control
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            answer = await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10)
            assert await _read(answer, 10) == b"0123456789"
        finally:
            pool.close()


async def test_headers_that_cannot_be_written_as_they_are_are_not_sent() -> None:
    from aios3._rawget import request_head

    assert request_head("/b/k", {"x-a": "tab\there"}) is not None
    for headers in ({"x-a": "nul\x00"}, {"x-a": "del\x7f"}, {"x-a": "é€"}, {"bad name": "1"}):
        assert request_head("/b/k", headers) is None


async def test_a_connection_that_cannot_be_made_goes_the_regular_way() -> None:
    """No one listens: None at once (the regular path then fails with botocore's
    EndpointError, which is not retried again), not a retried TransferError."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            assert await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10) is None
            assert pool.opened == 0 and pool.in_use._value == 2
            assert ("127.0.0.1", port) in pool._unreachable  # skipped for a while
        finally:
            pool.close()


async def test_a_connection_the_server_closed_or_http_1_0_is_not_reused() -> None:
    """A kept connection the server closed while idle is not quiet; an HTTP/1.0
    answer without keep-alive is not kept at all."""
    body = b"0123456789"
    async with _Canned([_ranged(body)]) as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            answer = await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10)
            assert await _read(answer, 10) == body
            ((conn, _),) = pool._idle[("127.0.0.1", port)]
            assert conn.quiet()
            await _Canned.close_all(port)
            await asyncio.sleep(0.05)
            assert not conn.quiet()  # the end of the stream is waiting on it
        finally:
            pool.close()
    http10 = _ranged(body).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    async with _Canned([http10]) as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            answer = await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10)
            assert await _read(answer, 10) == body
            assert not pool._idle.get(("127.0.0.1", port))
        finally:
            pool.close()


async def test_an_idle_connection_with_stray_bytes_or_too_old_is_not_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that sends bytes a moment after the body: the connection is not used
    again (they would be read as the next answer's head). One idle past IDLE_FOR is
    closed too; a quiet, recent one is reused."""
    import aios3._rawget as rawget

    body = b"0123456789"
    async with _Canned([_ranged(body)], late=b"HTTP/1.1 200 OK\r\n\r\n") as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            for _ in range(2):
                answer = await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10)
                assert await _read(answer, 10) == body
                await asyncio.sleep(0.05)
            assert pool.opened == 2
        finally:
            pool.close()
    async with _Canned([_ranged(body)]) as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            for _ in range(2):
                answer = await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10)
                assert await _read(answer, 10) == body
            assert pool.opened == 1
            monkeypatch.setattr(rawget, "IDLE_FOR", 0.0)
            await asyncio.sleep(0.01)
            answer = await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10)
            assert await _read(answer, 10) == body
            assert pool.opened == 2
        finally:
            pool.close()


async def test_connections_in_use_are_capped() -> None:
    """With limit 1, a second request waits until the first answer is done with."""
    body = b"0123456789"
    async with _Canned([_ranged(body)]) as port:
        pool = RawConnections(limit=1, connect_timeout=5, read_timeout=5)
        try:
            first = await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10)
            second = asyncio.create_task(pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10))
            await asyncio.sleep(0.1)
            assert not second.done()
            assert await _read(first, 10) == body
            assert await _read(await second, 10) == body
            assert pool.opened == 1  # the second reused the first's connection
        finally:
            pool.close()


async def test_an_sse_c_range_is_never_read_raw(server: Server, s3: aios3.S3) -> None:
    """A key for SSE-C goes over the regular path alone."""
    direct = s3._direct
    assert direct is not None
    params = {
        "Range": "bytes=0-9",
        "SSECustomerAlgorithm": "AES256",
        "SSECustomerKey": "k" * 32,
    }
    bucket = s3.config.default_bucket
    assert bucket is not None
    assert await direct.raw_range(bucket, "k", params, start=0, end=10) is None
    assert direct._raw.opened == 0


@pytest.mark.parametrize(
    "cancel_first", [True, False], ids=["cancel-then-give", "give-then-cancel"]
)
async def test_a_buffer_goes_to_the_next_waiter_past_a_cancelled_one(cancel_first: bool) -> None:
    """The first waiter is cancelled before it runs, either before the buffer is given
    back (still in the waiters' list) or after the give woke it: the second gets it."""
    from aios3._download import _Buffers

    buffers = _Buffers(MiB, 1)
    held = await buffers.take()
    first = asyncio.create_task(buffers.take())
    second = asyncio.create_task(buffers.take())
    await asyncio.sleep(0)
    if cancel_first:
        first.cancel()
        buffers.give(held)
    else:
        buffers.give(held)
        first.cancel()
    async with asyncio.timeout(5):
        assert await second is held
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_disk_error_is_not_retried(
    server: Server,
    s3: aios3.S3,
    proxy: FaultProxy,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The disk refuses a write (ENOSPC): the download fails with that OSError at once,
    no range is asked again, and no file is left."""
    import errno

    import aios3._writer as writer

    def full(*args: object) -> bool:
        raise OSError(errno.ENOSPC, "No space left on device")

    data = blob(11 * MiB, seed=47)
    await s3.upload("raw/full", data)
    monkeypatch.setattr(writer, "_write_direct", full)
    monkeypatch.setattr(writer, "write_at", full)
    async with _via_proxy(server, s3, proxy) as client:
        with pytest.raises(OSError) as caught:
            await client.download("raw/full", tmp_path / "out")
    assert caught.value.errno == errno.ENOSPC
    asked = proxy.ranges_asked("raw/full", method=None)
    assert len(asked) == len(set(asked)) <= 4  # the HEAD and each of 3 ranges at most once
    assert list(tmp_path.iterdir()) == []


class _ShortWrites:
    """``os`` for aios3._writer, whose pwrite on ``direct`` writes only ``first``
    bytes the first time (through the buffered descriptor, as O_DIRECT could not)."""

    def __init__(self, direct: int, fd: int, first: int) -> None:
        self.direct, self.fd, self.first = direct, fd, first
        self.direct_offsets: list[int] = []

    def __getattr__(self, name: str) -> object:
        return getattr(os, name)

    def pwrite(self, fd: int, data: memoryview, offset: int) -> int:
        if fd != self.direct:
            return os.pwrite(fd, data, offset)
        self.direct_offsets.append(offset)
        if self.first >= 0:
            n, self.first = self.first, -1
            return os.pwrite(self.fd, data[:n], offset) if n else 0
        return os.pwrite(fd, data, offset)


def test_a_short_o_direct_write_realigns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A short write that ends mid-block: that block is finished buffered and the rest
    goes O_DIRECT from the next block boundary; a write of nothing raises."""
    import mmap

    import aios3._writer as writer

    if not _takes_o_direct(tmp_path):
        pytest.skip("this filesystem refuses O_DIRECT")
    data = blob(5 * writer.BLOCK + 100, seed=48)
    view = memoryview(mmap.mmap(-1, len(data)))
    view[:] = data
    path = tmp_path / "f"
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    direct = os.open(path, os.O_WRONLY | os.O_DIRECT)
    try:
        shim = _ShortWrites(direct, fd, first=1000)
        monkeypatch.setattr(writer, "os", shim)
        assert writer._write_direct(direct, fd, view, 0)  # still O_DIRECT after it
        assert shim.direct_offsets[0] == 0
        assert all(o % writer.BLOCK == 0 for o in shim.direct_offsets[1:])
        assert len(shim.direct_offsets) == 2
        assert path.read_bytes() == data
        shim.first = 0
        with pytest.raises(OSError, match="wrote nothing"):
            writer._write_direct(direct, fd, view, 0)
    finally:
        os.close(direct)
        os.close(fd)
        view.release()


async def test_a_range_answered_otherwise_retries_the_regular_way_only(
    server: Server, s3: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A range that drew an answer other than its 206 (here 503, every time) asks
    again through botocore's path only, with its backoff: one raw request per range,
    not one more per attempt (the other raw connection is the HEAD's, on moto)."""
    data = blob(3 * MiB, seed=44)
    await s3.upload("raw/slow", data)
    async with _via_proxy(server, s3, proxy) as client:
        proxy.add(Fault("status", method="GET", path_contains="raw/slow", times=-1))
        with pytest.raises(aios3.ServiceError):
            await client.download("raw/slow", tmp_path / "out")
        opened = _raw(client).opened
    gets = [t for m, t in proxy.log if m == "GET" and "raw/slow" in t]
    tries = RANGES.part_retries + 1
    assert len(gets) == 1 + 2 * tries  # one raw, then max_attempts=2 per try
    assert opened <= 2
    assert list(tmp_path.iterdir()) == []


async def test_an_idle_connection_is_closed_after_idle_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An idle connection nobody asks for again is closed IDLE_FOR seconds later (a
    server's end of stream is not read while it waits: it would sit in CLOSE_WAIT)."""
    import aios3._rawget as rawget

    monkeypatch.setattr(rawget, "IDLE_FOR", 0.1)
    async with _Canned([_ranged(b"0123456789")]) as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            answer = await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10)
            assert await _read(answer, 10) == b"0123456789"
            ((conn, _),) = pool._idle[("127.0.0.1", port)]
            await asyncio.sleep(0.3)
            assert ("127.0.0.1", port) not in pool._idle
            assert conn._transport is not None and conn._transport.is_closing()
        finally:
            pool.close()


async def test_a_body_times_out_read_timeout_after_its_last_byte() -> None:
    """A byte, then nothing: the read times out read_timeout after that byte, not
    a whole read_timeout window later."""
    import time

    head = b"HTTP/1.1 206 OK\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10\r\n\r\n"
    async with _Canned([head], late=b"0") as port:  # one body byte after 20 ms
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=1.0)
        try:
            answer = await pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10)
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await _read(answer, 10)
            assert 0.9 < time.monotonic() - started < 1.6  # not ~2 s
        finally:
            pool.close()


def test_o_direct_opens_the_same_file_only(tmp_path: Path) -> None:
    """The O_DIRECT descriptor is the download's own file: not a symlink put at its
    name, not another file renamed over it (buffered writes then, to its own)."""
    from aios3._download import _open_direct

    transfer = TransferConfig(direct_io_threshold=0)
    tmp = tmp_path / "part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        direct = _open_direct(tmp, fd, 1, transfer)
        if direct is None:
            pytest.skip("no O_DIRECT on this filesystem")
        os.close(direct)
        victim = tmp_path / "victim"
        victim.write_bytes(b"keep")
        tmp.unlink()
        tmp.symlink_to(victim)
        assert _open_direct(tmp, fd, 1, transfer) is None
        tmp.unlink()
        tmp.write_bytes(b"")  # another file at the same name
        assert _open_direct(tmp, fd, 1, transfer) is None
        assert victim.read_bytes() == b"keep"
    finally:
        os.close(fd)


async def test_a_connect_cancelled_at_any_point_leaves_no_socket() -> None:
    """Cancelled while its connection is being made, at many points: no socket is left
    unclosed (the suite turns the ResourceWarning of one into an error)."""
    import gc

    async with _Canned([_ranged(b"0123456789")]) as port:
        pool = RawConnections(limit=4, connect_timeout=5, read_timeout=5)
        try:
            for turn in range(300):
                task = asyncio.create_task(pool.get("127.0.0.1", port, "/b/k", {}, start=0, end=10))
                for _ in range(turn % 6):
                    await asyncio.sleep(0)
                task.cancel()
                try:
                    answer = await task
                except asyncio.CancelledError:
                    continue
                assert answer is not None
                await _read(answer, 10)
            assert pool.in_use._value == 4
        finally:
            pool.close()
    gc.collect()


def test_every_range_in_flight_has_a_receive_buffer() -> None:
    """Receive buffers are as large as 4 MiB while there is one for every range in
    flight within the download's 16 MiB (2 MiB at the default concurrency of 8), so no
    range's connection waits unread for one; a MiB at least."""
    from aios3._download import _QUEUED, _receive_size

    sizes = {n: _receive_size(n) for n in (1, 2, 3, 4, 6, 8, 16, 32)}
    assert sizes == {
        1: 4 * MiB,
        2: 4 * MiB,
        3: 4 * MiB,
        4: 4 * MiB,
        6: 2 * MiB,
        8: 2 * MiB,
        16: MiB,
        32: MiB,
    }
    assert all(_QUEUED // size >= n for n, size in sizes.items() if n <= 16)


def test_a_large_objects_ranges_grow_to_32_mib() -> None:
    """Ranges start at part_size and double, up to 32 MiB, while the object would take
    more than 8 of them per range in flight; always a multiple of part_size."""
    from aios3._download import range_size

    default = TransferConfig()
    sizes = {n: range_size(n, default) // MiB for n in (100 * MiB, 512 * MiB, 513 * MiB)}
    assert sizes == {100 * MiB: 8, 512 * MiB: 8, 513 * MiB: 16}
    assert range_size(2048 * MiB, default) == 32 * MiB
    assert range_size(100 * 1024 * MiB, default) == 32 * MiB  # no larger
    five = TransferConfig(part_size=5 * MiB, concurrency=1)
    assert [range_size(n * MiB, five) // MiB for n in (40, 41, 81, 10_000)] == [5, 10, 20, 20]
    big = TransferConfig(part_size=64 * MiB)
    assert range_size(100 * 1024 * MiB, big) == 64 * MiB  # part_size is the least


async def test_a_large_objects_ranges_are_fetched_grown(
    server: Server, s3: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A download of 41 MiB in 5 MiB parts, one range in flight, asks for ranges of
    10 MiB (more than 8 of 5 MiB each would be needed), in order, and writes the
    object."""
    data = blob(41 * MiB, seed=44)
    await s3.upload("raw/grown", data)
    transfer = dataclasses.replace(RANGES, concurrency=1)
    async with _via_proxy(server, s3, proxy) as client:
        await client.download("raw/grown", tmp_path / "out", transfer=transfer)
    assert (tmp_path / "out").read_bytes() == data
    asked = proxy.ranges_asked("raw/grown")
    step = 10 * MiB
    assert asked == [f"bytes={s}-{min(s + step, len(data)) - 1}" for s in range(0, len(data), step)]


async def test_a_grown_range_gets_its_tries_again_as_it_advances(
    server: Server, s3: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A range of two parts (10 MiB of 5 MiB parts, 3 tries a part) cut four times, 2 MiB
    further each time, is written whole: the part it got past renewed its tries, as two
    ranges of a part each would have had three tries each. Without the renewal the
    third cut ends the download."""
    data = blob(41 * MiB, seed=45)
    await s3.upload("raw/renew", data)
    transfer = dataclasses.replace(RANGES, concurrency=1)
    async with _via_proxy(server, s3, proxy) as client:
        cut = Fault("truncate", method="GET", path_contains="raw/renew", after_bytes=2 * MiB + 3)
        rule = proxy.add(dataclasses.replace(cut, times=4))
        await client.download("raw/renew", tmp_path / "out", transfer=transfer)
    assert rule.fired == 4 and (tmp_path / "out").read_bytes() == data
    asked = proxy.ranges_asked("raw/renew")
    starts = [int(r.removeprefix("bytes=").split("-")[0]) for r in asked if r]
    assert starts[:5] == [0, 2 * MiB, 4 * MiB, 6 * MiB, 8 * MiB]  # each from the last cut


@pytest.mark.parametrize(
    ("reached", "tries"),
    [
        ([2, 4, 6, 8, 12, 14], 7),  # renewed at 6 and at 12: never 3 short in a row
        ([3, 3, 3, 3], 3),  # a cut at the same byte every time: 3 tries
        # fetched again from the start each time (a checksum failure): renewed once,
        # at 5, and then 5 again is no progress
        ([4, 0, 5, 0, 5, 0, 5], 5),
    ],
)
async def test_tries_renew_only_past_the_furthest_point(reached: list[int], tries: int) -> None:
    """with_retries' renewal, as a range uses it: 3 tries (part_retries=2), renewed for
    every 5 units the transfer gets past the furthest point of the last renewal."""
    from aios3._retry import with_retries

    pos, made = 0, 0

    async def attempt() -> str:
        nonlocal pos, made
        made += 1
        if made > len(reached):
            return "done"
        pos = reached[made - 1]
        raise aios3.TransferError(f"cut {made} at {pos}")

    transfer = TransferConfig(part_retries=2, retry_backoff=0.001)
    if tries > len(reached):
        result, n = await with_retries(
            attempt, transfer=transfer, what="x", progress=lambda: pos, renew=5
        )
        assert (result, n) == ("done", tries)
    else:
        with pytest.raises(aios3.TransferError, match=f"cut {tries} at"):
            await with_retries(attempt, transfer=transfer, what="x", progress=lambda: pos, renew=5)
    assert made == tries
