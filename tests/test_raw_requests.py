"""Requests over plain http (a PutObject or a part, whatever its size, a HEAD, a
DELETE, a listing page) go out whole on aios3's own kept-alive connections and their
answers are read whole (``RawConnections.exchange``): what the server keeps, and what
the caller gets, errors included, are what the aiohttp path gives. Any answer framing
HTTP/1.1 allows is read (a length, chunks, the end of the stream); one this reader
does not trust is a connection error, which botocore's retry handler sees. A large
body goes out as the socket takes it, and a server that stops reading it, or answers
before it has read it all, is neither a hang nor a copy of the body in memory."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faultproxy import FaultProxy
from test_download_raw import _Canned

import aios3
from aios3 import MiB, TransferConfig
from aios3._body import FileSpan
from aios3._rawget import RawClosed, RawConnections, RawUnreadable
from aios3.testing import Server


def _direct_session(client: aios3.S3) -> Any:
    direct = client._direct
    assert direct is not None
    return direct._session


async def test_small_requests_go_over_aios3s_own_connections(server: Server, s3: aios3.S3) -> None:
    """Put, head, list and delete of small objects:
    none opens aiohttp's session on the direct path; the server keeps the headers and
    metadata sent, and an object with no Content-Type named gets aiohttp's default."""
    direct = s3._direct
    assert direct is not None
    await s3.upload("raw/a.txt", b"hello", content_type="text/plain", metadata={"k": "v"})
    await s3.upload("raw/b.bin", b"\x00" * 1000)
    head = await s3.head("raw/a.txt")
    assert (head.size, head.content_type, head.metadata) == (5, "text/plain", {"k": "v"})
    assert (await s3.head("raw/b.bin")).content_type == "application/octet-stream"
    assert sorted(o.key for o in [x async for x in s3.list("raw/")]) == ["raw/a.txt", "raw/b.bin"]
    await s3.delete("raw/a.txt")
    assert not await s3.exists("raw/a.txt")
    assert _direct_session(s3) is None  # aiohttp never asked
    assert direct._raw.opened >= 1


async def test_errors_over_the_raw_path_are_the_typed_ones(server: Server, s3: aios3.S3) -> None:
    """A HEAD's 404 (no body), a conditional put's 412: the same typed errors."""
    with pytest.raises(aios3.NotFound):
        await s3.head("raw/missing")
    await s3.upload("raw/once", b"1")
    with pytest.raises(aios3.PreconditionFailed):
        await s3.upload("raw/once", b"2", if_none_match="*")
    assert await s3.get_bytes("raw/once") == b"1"


async def test_large_bodies_go_over_aios3s_own_connections(server: Server, s3: aios3.S3) -> None:
    """A 9 MiB PutObject and the 8 MiB parts of a multipart upload: written by aios3's
    own connections (aiohttp's session never opened); the server keeps every byte."""
    data = bytes(range(256)) * (36 * 1024 + 1)  # 9 MiB + 256 bytes
    await s3.upload("raw/big", data, transfer=TransferConfig(multipart_threshold=64 * MiB))
    parts = TransferConfig(part_size=8 * MiB, multipart_threshold=8 * MiB)
    info = await s3.upload("raw/parts", data * 2, transfer=parts)
    assert info.parts == 3
    assert _direct_session(s3) is None
    assert await s3.get_bytes("raw/big") == data
    assert await s3.get_bytes("raw/parts") == data * 2


async def test_a_small_put_reset_mid_answer_is_retried(
    server: Server, s3: aios3.S3, proxy: FaultProxy
) -> None:
    """The proxy resets the connection of the first PUT: botocore's retry handler sees
    a connection error and sends it again; the object is whole."""
    from faultproxy import Fault

    config = server.config(endpoint=proxy.url, default_bucket=s3.config.default_bucket)
    async with aios3.connect(config) as client:
        rule = proxy.add(
            Fault("reset_request", method="PUT", path_contains="raw/reset", after_bytes=100)
        )
        await client.upload("raw/reset", b"x" * 5000)
        assert rule.fired == 1
        assert _direct_session(client) is None
    assert await s3.get_bytes("raw/reset") == b"x" * 5000


def _answer(status: str, *lines: str, body: bytes = b"") -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *lines]) + "\r\n\r\n").encode() + body


async def _exchange(
    port: int, pool: RawConnections, method: str = "PUT", body: bytes | FileSpan | None = b"data"
) -> tuple[int, dict[str, str], bytes] | None:
    headers = {"x-a": "1"}
    if body is not None:
        headers["content-length"] = str(len(body))
    return await pool.exchange("127.0.0.1", port, method, "/b/k", headers, body)


async def test_every_framing_is_read_and_reuse_follows_it() -> None:
    """A length, chunks (with an extension and a trailer), interim 100 and 103 answers,
    a HEAD whose length has no body, a 204: read, and the connection kept; a body to the
    end of the stream: read, and the connection not kept."""
    chunked = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
    cases: list[tuple[bytes, str, bytes, bool]] = [
        (_answer("200 OK", "Content-Length: 5", body=b"hello"), "PUT", b"hello", True),
        (
            _answer("200 OK", "Transfer-Encoding: chunked", body=chunked),
            "PUT",
            b"hello world",
            True,
        ),
        (
            _answer("100 Continue")
            + _answer("103 Early Hints", "Link: x")
            + _answer("200 OK", "Content-Length: 2", body=b"ok"),
            "PUT",
            b"ok",
            True,
        ),
        (_answer("200 OK", "Content-Length: 99"), "HEAD", b"", True),
        (_answer("204 No Content"), "DELETE", b"", True),
        (_answer("200 OK", "Connection: close", body=b"to the end"), "GET", b"to the end", False),
    ]
    for raw, method, content, kept in cases:
        async with _Canned([raw]) as port:
            pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
            try:
                task = asyncio.create_task(_exchange(port, pool, method))
                if not kept:
                    await asyncio.sleep(0.1)
                    await _Canned.close_all(port)
                sent = await task
                assert sent is not None
                assert (sent[0], sent[2]) in ((200, content), (204, content))
                assert bool(pool._idle.get(("127.0.0.1", port))) is kept
            finally:
                pool.close()


async def test_answers_this_reader_does_not_trust_are_errors_once_sent() -> None:
    """After the request went out, nothing is sent again: an answer it cannot read is a
    connection error (botocore's handler decides on a retry), the server asked once."""
    huge = MiB + 1
    bad = [
        _answer("200 OK", "Transfer-Encoding: gzip", body=b"x"),
        _answer("200 OK", "Content-Length: 1x", body=b"x"),
        _answer("200 OK", "Transfer-Encoding: chunked", body=b"zz\r\nhello\r\n0\r\n\r\n"),
        _answer("200 OK", "Transfer-Encoding: chunked", body=b"2\r\nhello\r\n0\r\n\r\n"),
        _answer("200 OK", f"Content-Length: {huge}"),
        _answer("101 Switching Protocols"),
    ]
    import aios3._rawget as rawget

    for raw in bad:
        async with _Canned([raw]) as port:
            pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
            old, rawget.ANSWER_MOST = rawget.ANSWER_MOST, MiB
            try:
                with pytest.raises(RawUnreadable):
                    await _exchange(port, pool)
                assert _Canned.running[port].asked == 1
                assert not pool._idle.get(("127.0.0.1", port)) and pool.in_use._value == 2
            finally:
                rawget.ANSWER_MOST = old
                pool.close()


async def test_a_connection_closed_before_or_during_the_answer() -> None:
    """A kept-alive connection the server closed before answering a byte: sent once
    more, on a new connection. One that closes after part of the answer: an error,
    and not sent again."""
    ok = _answer("200 OK", "Content-Length: 2", body=b"ok")
    async with _Canned([ok]) as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            assert await _exchange(port, pool) == (200, {"content-length": "2"}, b"ok")
            ((conn, _),) = pool._idle[("127.0.0.1", port)]
            conn.quiet = lambda: True  # type: ignore[method-assign]  # as if it closed as the request went
            await _Canned.close_all(port)
            await asyncio.sleep(0.05)
            assert await _exchange(port, pool) == (200, {"content-length": "2"}, b"ok")
            assert pool.opened == 2 and _Canned.running[port].asked == 2
        finally:
            pool.close()
    cut = _answer("200 OK", "Content-Length: 10", body=b"par")
    async with _Canned([cut]) as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            task = asyncio.create_task(_exchange(port, pool))
            await asyncio.sleep(0.1)
            await _Canned.close_all(port)
            with pytest.raises(RawClosed):
                await task
            assert _Canned.running[port].asked == 1 and pool.in_use._value == 2
        finally:
            pool.close()


async def test_bytes_after_the_answer_and_an_early_answer_are_not_kept() -> None:
    """Bytes nobody asked for after the answer, or an answer before the server read
    the whole body: the connection is closed, not reused."""
    ok = _answer("200 OK", "Content-Length: 2", body=b"ok")
    async with _Canned([ok + b"HTTP/1.1 200 OK\r\n\r\n"]) as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            sent = await _exchange(port, pool)
            assert sent is not None and sent[2] == b"ok"
            assert not pool._idle.get(("127.0.0.1", port))
        finally:
            pool.close()
    forbidden = _answer("403 Forbidden", "Content-Length: 0")
    async with _Canned([forbidden]) as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            assert await _exchange(port, pool) == (403, {"content-length": "0"}, b"")
            assert not pool._idle.get(("127.0.0.1", port))  # a body went with it
            assert await _exchange(port, pool, "HEAD", None) == (403, {"content-length": "0"}, b"")
            assert pool._idle.get(("127.0.0.1", port))  # none did
        finally:
            pool.close()


async def test_a_request_is_sent_again_once_at_most() -> None:
    """Kept-alive connections whose server reads each request and closes without a
    byte: the request goes out on one kept connection and one new one, never more (a
    conditional PUT sent again would be a 412 for a write that succeeded); a POST (a
    CompleteMultipartUpload) goes out once, its error botocore's to retry."""
    ok = _answer("200 OK", "Content-Length: 2", body=b"ok")
    asked, closing = 0, False
    handlers: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal asked
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                asked += 1
                if closing:
                    break
                writer.write(ok)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    pool = RawConnections(limit=8, connect_timeout=5, read_timeout=5)
    try:
        sent = await asyncio.gather(*(_exchange(port, pool, body=None) for _ in range(4)))
        assert all(s == (200, {"content-length": "2"}, b"ok") for s in sent)
        assert len(pool._idle[("127.0.0.1", port)]) >= 2
        closing, before = True, asked
        with pytest.raises(RawClosed):
            await _exchange(port, pool, body=b"once")
        assert asked - before == 2  # a kept connection, then a new one
        assert pool._idle.get(("127.0.0.1", port))  # a kept connection left for it
        with pytest.raises(RawClosed):
            await _exchange(port, pool, "POST", body=b"<Complete/>")
        assert asked - before == 3  # a POST: the kept connection alone
    finally:
        pool.close()
        server.close()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def test_interim_answers_and_trailers_are_bounded() -> None:
    """A 104 (any 1xx but 101) is interim: the final answer is the one returned, even
    to a HEAD; a 101 is an error; endless 1xx or trailers are errors, not a hang."""
    final = _answer("200 OK", "Content-Length: 0", "x-final: 1")
    async with _Canned([_answer("104 Upload Resumption") + final]) as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        try:
            assert await _exchange(port, pool, "HEAD", None) == (
                200,
                {"content-length": "0", "x-final": "1"},
                b"",
            )
        finally:
            pool.close()
    trailers = b"0\r\n" + b"x-t: 1\r\n" * 200 + b"\r\n"
    for raw in [
        _answer("101 Switching Protocols"),
        _answer("100 Continue") * 9 + final,
        _answer("200 OK", "Transfer-Encoding: chunked", body=trailers),
    ]:
        async with _Canned([raw]) as port:
            pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
            try:
                with pytest.raises(RawUnreadable):
                    await _exchange(port, pool, "HEAD" if b"101" in raw else "PUT")
            finally:
                pool.close()


async def test_a_body_unlike_its_length_or_no_free_place_goes_through_aiohttp() -> None:
    """A Content-Length other than the body's, or every place in use: None (not
    sent here), so nothing is smuggled and a small request never waits on ranges."""
    ok = _answer("200 OK", "Content-Length: 2", body=b"ok")
    async with _Canned([ok]) as port:
        pool = RawConnections(limit=1, connect_timeout=5, read_timeout=5)
        try:
            smuggled = b"hello" + b"DELETE /b/victim HTTP/1.1\r\nHost: x\r\n\r\n"
            headers = {"content-length": "5"}
            assert await pool.exchange("127.0.0.1", port, "PUT", "/b/k", headers, smuggled) is None
            async with pool.in_use:
                assert await _exchange(port, pool) is None
            assert _Canned.running[port].asked == 0
            assert await _exchange(port, pool, body=None) == (200, {"content-length": "2"}, b"ok")
        finally:
            pool.close()


async def test_get_reads_whole_objects_over_aios3s_own_connections(
    server: Server, s3: aios3.S3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get() and get_bytes() keep the whole body anyway: over plain http it comes
    whole over aios3's connections, for any length (past the cap on other answers),
    any range, an empty object; the info is the one HEAD gives; aiohttp never asked."""
    import aios3._direct as direct_module

    monkeypatch.setattr(direct_module, "ANSWER_MOST", 1024)  # a listing page's cap
    data = bytes(range(256)) * 400  # 100 KiB: over that cap
    await s3.upload("raw/whole", data, content_type="text/x-test", metadata={"k": "v"})
    await s3.upload("raw/empty", b"")
    got, info = await s3.get("raw/whole")
    assert got == data
    head = await s3.head("raw/whole")
    assert (info.size, info.etag, info.content_type, info.metadata) == (
        head.size,
        head.etag,
        "text/x-test",
        {"k": "v"},
    )
    assert await s3.get_bytes("raw/whole", start=1000, end=1010) == data[1000:1010]
    assert await s3.get_bytes("raw/whole", start=len(data) - 5) == data[-5:]
    assert await s3.get_bytes("raw/empty") == b""
    with pytest.raises(aios3.NotFound):
        await s3.get_bytes("raw/missing")
    assert _direct_session(s3) is None
    async with s3.stream("raw/whole") as body:  # a stream is aiohttp's still
        assert b"".join([chunk async for chunk in body]) == data
    assert _direct_session(s3) is not None


def _to_canned(port: int, **settings: Any) -> aios3.Config:
    """A client's config for the canned server on ``port`` (any credentials do)."""
    return aios3.Config(
        endpoint=f"http://127.0.0.1:{port}",
        access_key_id="AKIDEXAMPLE",
        secret_access_key="secret",
        region="us-east-1",
        **settings,
    )


def _get_answer(body: bytes, checksum: str | None) -> bytes:
    lines = [f"Content-Length: {len(body)}", 'ETag: "e"']
    if checksum is not None:
        lines.append(f"x-amz-checksum-crc32: {checksum}")
    return _answer("200 OK", *lines, body=body)


@pytest.mark.parametrize(
    ("checksum", "setting", "fails"),
    [
        ("right", None, False),
        ("wrong", None, True),
        ("AAAAAA==-2", None, False),  # composite: not base64, not checked
        ("wrong", "when_required", False),  # checked only when asked
        (None, None, False),
    ],
)
async def test_a_whole_get_is_checked_as_botocore_checks_a_streamed_one(
    checksum: str | None, setting: str | None, fails: bool
) -> None:
    """The answer's CRC32 is checked where botocore's own path checks it, and a
    mismatch is the same IntegrityError, asked again part_retries times: get_bytes over
    aios3's connections and over botocore's path (direct_requests=False) agree."""
    import base64
    import zlib

    body = b"the object's bytes"
    value = {
        "right": base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode(),
        "wrong": base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode(),
    }.get(checksum or "", checksum)
    canned = _Canned([_get_answer(body, value)])
    async with canned as port:
        for direct in (True, False):
            config = _to_canned(port, checksum=setting, max_attempts=1, direct_requests=direct)
            canned.asked = 0
            async with aios3.connect(config, transfer=TransferConfig(part_retries=1)) as client:
                if fails:
                    with pytest.raises(aios3.IntegrityError):
                        await client.get_bytes("s3://bkt/k")
                    assert canned.asked == 2, direct  # asked again once (part_retries=1)
                else:
                    assert await client.get_bytes("s3://bkt/k") == body, direct
                if direct:
                    assert client._direct is not None and client._direct._raw.opened >= 1
                    assert client._direct._session is None


async def test_a_stated_length_costs_no_memory_before_its_bytes_come() -> None:
    """A GetObject read whole has no cap on its length, so a length stated and not sent
    (or a chunk's) must not be given memory up front: a 1 TB Content-Length, three bytes
    and silence are a body that stalled, after at most one 16 MiB piece."""
    import tracemalloc

    for framing, body in (
        ("Content-Length: 1000000000000", b"abc"),
        ("Transfer-Encoding: chunked", b"e8d4a51000\r\nabc"),  # a 1 TB chunk
    ):
        async with _Canned([_answer("200 OK", framing, body=body)]) as port:
            config = _to_canned(port, read_timeout=0.5, max_attempts=1)
            async with aios3.connect(config, transfer=TransferConfig(part_retries=0)) as client:
                tracemalloc.start()
                try:
                    with pytest.raises(aios3.TransferError, match="no byte of the body"):
                        await client.get_bytes("s3://bkt/k")
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                assert peak < 40 * MiB, (framing, peak)


@pytest.mark.parametrize("how", ["cut", "stall", "bad-chunk"])
async def test_a_whole_gets_broken_body_is_a_body_error_asked_part_retries_times(how: str) -> None:
    """A 200 whose body breaks off (the server closes), stalls past read_timeout or
    cannot be read (a chunk unlike its size) is what a streamed body's failure was:
    a TransferError that says it broke off, asked again part_retries times, not a
    request botocore's handler retries max_attempts times."""
    answer = {
        "cut": _answer("200 OK", "Content-Length: 100", body=b"0123456789"),
        "stall": _answer("200 OK", "Content-Length: 100", body=b"0123456789"),
        "bad-chunk": _answer("200 OK", "Transfer-Encoding: chunked", body=b"2\r\nhello\r\n"),
    }[how]
    canned = _Canned([answer], close=how == "cut")
    async with canned as port:
        config = _to_canned(port, read_timeout=0.5, max_attempts=3)
        async with aios3.connect(config, transfer=TransferConfig(part_retries=1)) as client:
            with pytest.raises(aios3.TransferError, match="broke off"):
                await client.get_bytes("s3://bkt/k")
            assert canned.asked == 2  # once, and once more (part_retries=1)
            assert client._direct is not None and client._direct._session is None


async def test_an_error_answers_body_is_capped_whatever_the_request() -> None:
    """A GetObject read whole takes a 2xx body of any length; an error answer's body
    is held to ANSWER_MOST still (a 404 with a 5 KiB body, the cap at 1 KiB: an answer
    not trusted), and a checksum value that is not base64 fails the check, typed."""
    import sys

    import aios3._rawget as rawget

    body = b"e" * 5000
    for status, fails in (("200 OK", False), ("404 Not Found", True)):
        async with _Canned([_answer(status, f"Content-Length: {len(body)}", body=body)]) as port:
            pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
            old, rawget.ANSWER_MOST = rawget.ANSWER_MOST, 1024
            try:
                ask = pool.exchange("127.0.0.1", port, "GET", "/b/k", {}, None, most=sys.maxsize)
                if fails:
                    with pytest.raises(RawUnreadable):
                        await ask
                else:
                    sent = await ask
                    assert sent is not None and sent[2] == body
            finally:
                rawget.ANSWER_MOST = old
                pool.close()
    for value in ("AAAAAA=", "AAAAAA\u00e9"):  # its padding cut short; not ASCII
        async with _Canned([_get_answer(b"the object's bytes", value)]) as port:
            config = _to_canned(port)
            async with aios3.connect(config, transfer=TransferConfig(part_retries=0)) as client:
                with pytest.raises(aios3.IntegrityError):
                    await client.get_bytes("s3://bkt/k")


async def test_a_head_not_trusted_is_still_a_request_botocore_retries() -> None:
    """Only a body that fails after a trusted 2xx head is the body's error: a length
    past what any body may have (19 digits) is a head not trusted, which botocore's
    retry handler asks again (max_attempts), as any unanswered request, and which get()
    asks again as a whole (part_retries): 2 x 2 asks."""
    huge = "9" * 19
    canned = _Canned([_answer("200 OK", f"Content-Length: {huge}", body=b"x")])
    async with canned as port:
        config = _to_canned(port, read_timeout=0.5, max_attempts=2)
        async with aios3.connect(config, transfer=TransferConfig(part_retries=1)) as client:
            with pytest.raises(aios3.EndpointError):
                await client.get_bytes("s3://bkt/k")
            assert canned.asked == 4


async def test_a_small_download_refuses_an_answer_longer_than_its_head_unread(
    tmp_path: Any,
) -> None:
    """A download of at most a MiB reads its GET whole: a store that ignores If-Match
    and answers another, far larger object is refused on its Content-Length, before a
    byte of it is read (no memory, nothing written); one that answers a same-sized
    object with another ETag is not written either."""
    import tracemalloc

    head = _answer("200 OK", "Content-Length: 5", 'ETag: "abc"')
    huge = _answer("200 OK", f"Content-Length: {300 * MiB}", 'ETag: "other"', body=b"x" * 1000)
    other = _answer("200 OK", "Content-Length: 5", 'ETag: "other"', body=b"12345")
    for get, error, says in (
        (huge, aios3.TransferError, "at most 5 were expected"),
        (other, aios3.IntegrityError, "changed since its HEAD"),
    ):
        canned = _Canned([head, get])
        async with canned as port:
            config = _to_canned(port, max_attempts=1, read_timeout=2)
            async with aios3.connect(config, transfer=TransferConfig(part_retries=0)) as client:
                out = tmp_path / "out"
                out.write_bytes(b"old")
                tracemalloc.start()
                try:
                    with pytest.raises(error, match=says):
                        await client.download("s3://bkt/k", out)
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                assert peak < 8 * MiB, peak
                assert out.read_bytes() == b"old"
                assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
                assert canned.asked == 2  # the HEAD, one GET


class _Unread:
    """A loopback server that reads each request's head and never its body: it says
    nothing (``answer`` empty) or answers at once; either way it keeps the connection
    open and reads nothing more."""

    def __init__(self, answer: bytes = b"") -> None:
        self.answer = answer
        self.tasks: set[asyncio.Task[None]] = set()
        self.done = asyncio.Event()  # set as the test ends

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(self.answer)
            await writer.drain()
            await self.done.wait()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        self.done.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()


_LARGE = bytes(48 * MiB)


@pytest.fixture(params=["bytes", "file"])
def large(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[bytes | FileSpan]:
    """A 48 MiB body: in memory, or a span of a file (sent with ``os.sendfile``)."""
    if request.param == "bytes":
        yield _LARGE
        return
    if not hasattr(os, "sendfile"):
        pytest.skip("no os.sendfile here")
    path = tmp_path / "large"
    path.write_bytes(_LARGE)
    span = FileSpan(os.open(path, os.O_RDONLY), 0, len(_LARGE), str(path))
    try:
        yield span
    finally:
        span.close()


def _recorded(pool: RawConnections) -> list[Any]:
    """The connections ``pool`` makes, as it makes them."""
    made: list[Any] = []
    connect = pool._connect

    async def recording(key: tuple[str, int]) -> Any:
        conn = await connect(key)
        made.append(conn)
        return conn

    pool._connect = recording  # type: ignore[method-assign]
    return made  # more than loopback's socket buffers hold, both ends together


async def test_a_server_that_stops_reading_a_body_is_a_timeout_not_a_copy(
    large: bytes | FileSpan,
) -> None:
    """A server that never reads a 48 MiB body: the send ends in the read timeout
    (as botocore sees a read that does not come), with none of it copied by the
    client (it goes to the socket from where it is, as the socket takes it; the
    transport was once handed all of it, and kept a copy of what the socket had not
    taken; what is traced here is the test server's reading); the connection is closed
    and its place given back."""
    import tracemalloc

    async with _Unread() as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=0.5)
        made = _recorded(pool)
        tracemalloc.start()
        try:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await _exchange(port, pool, body=large)
            _, peak = tracemalloc.get_traced_memory()
            assert time.monotonic() - started < 5
            assert peak < 4 * MiB
            assert pool.in_use._value == 2 and not pool._idle.get(("127.0.0.1", port))
            await asyncio.sleep(0.05)
            assert made[0].lost is not None  # closed at once, its unsent bytes dropped
        finally:
            tracemalloc.stop()
            pool.close()


@pytest.mark.parametrize(("status", "interim"), [(403, False), (403, True), (200, False)])
async def test_an_answer_before_the_body_is_read_stops_the_body(
    status: int, interim: bool, large: bytes | FileSpan
) -> None:
    """A server that answers (an error, as S3 may for a bad signature) without reading
    the body, after an interim 100 or not: the answer is returned at once, not a
    timeout, the rest of the body is never sent and the connection never used again.
    A success before the body was all taken is not believed: an error, which botocore
    retries."""
    error = b"<Error><Code>AccessDenied</Code></Error>"
    reason = "Forbidden" if status == 403 else "OK"
    answer = _answer(f"{status} {reason}", f"Content-Length: {len(error)}", body=error)
    if interim:
        answer = _answer("100 Continue") + answer
    async with _Unread(answer) as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=30)
        try:
            started = time.monotonic()
            if status == 403:
                sent = await _exchange(port, pool, body=large)
                assert sent == (403, {"content-length": str(len(error))}, error)
            else:
                with pytest.raises(RawUnreadable, match="before the body was all sent"):
                    await _exchange(port, pool, body=large)
            assert time.monotonic() - started < 10
            assert pool.in_use._value == 2 and not pool._idle.get(("127.0.0.1", port))
        finally:
            pool.close()


async def test_a_file_that_ends_before_its_span_is_an_error_and_a_cut(tmp_path: Path) -> None:
    """A span longer than its file (the file shrank after its digest): sendfile finds
    the end early; the send raises InvalidRequest (not a connection error that would be
    sent again), and the connection, half a request on it, is dropped."""
    if not hasattr(os, "sendfile"):
        pytest.skip("no os.sendfile here")
    path = tmp_path / "short"
    path.write_bytes(b"x" * 100_000)
    span = FileSpan(os.open(path, os.O_RDONLY), 0, 200_000, str(path))
    async with _Unread() as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=5)
        made = _recorded(pool)
        try:
            with pytest.raises(aios3.InvalidRequest, match="shrank"):
                await _exchange(port, pool, body=span)
            assert pool.in_use._value == 2 and not pool._idle.get(("127.0.0.1", port))
            await asyncio.sleep(0.05)
            assert made[0].lost is not None
        finally:
            span.close()
            pool.close()


async def test_a_send_cancelled_mid_body_closes_its_connection(large: bytes | FileSpan) -> None:
    """Cancelled while the socket is full: the cancel goes through at once, the
    connection (half a request on it) is closed, never kept, and its place given back."""
    async with _Unread() as port:
        pool = RawConnections(limit=2, connect_timeout=5, read_timeout=30)
        made = _recorded(pool)
        try:
            task = asyncio.create_task(_exchange(port, pool, body=large))
            await asyncio.sleep(0.3)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert pool.in_use._value == 2 and not pool._idle.get(("127.0.0.1", port))
            assert pool.opened == 1
            await asyncio.sleep(0.05)
            assert made[0].lost is not None
        finally:
            pool.close()


async def test_a_part_reset_mid_body_is_sent_again_whole(
    server: Server, s3: aios3.S3, proxy: FaultProxy
) -> None:
    """The proxy resets the connection 3 MiB into an 8 MiB part: botocore's retry
    handler sends it again, on aios3's own connections; the object is whole."""
    from faultproxy import Fault

    data = bytes(range(256)) * (64 * 1024)  # 16 MiB
    config = server.config(endpoint=proxy.url, default_bucket=s3.config.default_bucket)
    async with aios3.connect(
        config, transfer=TransferConfig(part_size=8 * MiB, multipart_threshold=8 * MiB)
    ) as client:
        rule = proxy.add(
            Fault("reset_request", method="PUT", path_contains="partNumber=2", after_bytes=3 * MiB)
        )
        assert (await client.upload("raw/reset-part", data)).parts == 2
        assert rule.fired == 1
        assert _direct_session(client) is None
    assert await s3.get_bytes("raw/reset-part") == data
