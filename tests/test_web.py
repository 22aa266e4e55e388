"""aios3.web against real apps: FastAPI on uvicorn and aiohttp, each on 127.0.0.1, in
front of both S3 servers, spoken to by a real HTTP client (aiohttp's) and, where a
client must vanish mid-body, by a plain socket."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp
import pytest
from conftest import open_uploads
from faultproxy import Fault, FaultProxy
from webapps import CAP, KINDS, raw_request, running_app

import aios3
import aios3.web
from aios3 import MiB
from aios3.testing import Server

DATA = bytes(range(256)) * 400  # 102,400 bytes


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def app(kind: str, s3: aios3.S3) -> AsyncIterator[str]:
    async with running_app(kind, s3) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


async def stored(s3: aios3.S3, key: str = "docs/report.pdf") -> aios3.ObjectInfo:
    return await s3.upload(
        key,
        DATA,
        content_type="application/pdf",
        content_disposition=aios3.content_disposition("inline", filename="Zoë's report.pdf"),
        cache_control="private, max-age=60",
    )


# -- serving ------------------------------------------------------------------------------


async def test_serves_the_object_with_its_headers(
    s3: aios3.S3, app: str, http: aiohttp.ClientSession
) -> None:
    info = await stored(s3)
    async with http.get(f"{app}/objects/docs/report.pdf") as resp:
        body = await resp.read()
        headers = resp.headers
    assert resp.status == 200 and body == DATA
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Length"] == str(len(DATA))
    assert headers["ETag"] == info.etag
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["Cache-Control"] == "private, max-age=60"
    assert headers["Content-Disposition"] == info.content_disposition
    head = await s3.head("docs/report.pdf")
    assert head.last_modified is not None
    assert parsedate_to_datetime(headers["Last-Modified"]) == head.last_modified.replace(
        microsecond=0
    )
    async with http.head(f"{app}/objects/docs/report.pdf") as resp:
        assert resp.status == 200 and await resp.read() == b""
        assert resp.headers["Content-Length"] == str(len(DATA))
        assert resp.headers["ETag"] == info.etag
    async with http.get(f"{app}/objects/docs/report.pdf?download=Zoë 2026.pdf") as resp:
        assert await resp.read() == DATA
        assert resp.headers["Content-Disposition"] == (
            "attachment; filename=\"Zoe 2026.pdf\"; filename*=UTF-8''Zo%C3%AB%202026.pdf"
        )


async def test_one_range_is_answered_206_and_past_the_end_416(
    s3: aios3.S3, app: str, http: aiohttp.ClientSession
) -> None:
    info = await stored(s3)
    size = len(DATA)
    url = f"{app}/objects/docs/report.pdf"
    cases = {
        "bytes=10-19": (10, 20),
        "bytes=-5": (size - 5, size),
        "bytes=100000-": (100000, size),
        "bytes=102000-999999": (102000, size),
        "bytes=0-0": (0, 1),
        "bytes=-999999": (0, size),
    }
    for header, (start, end) in cases.items():
        async with http.get(url, headers={"Range": header}) as resp:
            assert resp.status == 206, header
            assert await resp.read() == DATA[start:end], header
            assert resp.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}"
            assert resp.headers["Content-Length"] == str(end - start)
            assert resp.headers["ETag"] == info.etag
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        async with http.get(url, headers={"Range": header}) as resp:
            assert resp.status == 416, header
            assert resp.headers["Content-Range"] == f"bytes */{size}"
            assert await resp.read() == b""
    # Several ranges, another unit or nonsense: the whole object, as HTTP allows.
    for header in ("bytes=0-1,5-6", "items=0-1", "bytes=9-2", "bytes=x-y"):
        async with http.get(url, headers={"Range": header}) as resp:
            assert resp.status == 200 and await resp.read() == DATA, header
    # If-Range: the range only while the client's copy is still this version.
    async with http.get(url, headers={"Range": "bytes=0-9", "If-Range": info.etag or ""}) as resp:
        assert resp.status == 206 and await resp.read() == DATA[:10]
    async with http.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'}) as resp:
        assert resp.status == 200 and await resp.read() == DATA
    async with http.head(url, headers={"Range": "bytes=0-9"}) as resp:
        assert resp.status == 200  # HEAD ignores Range


async def test_conditional_requests_are_answered_304(
    s3: aios3.S3, app: str, http: aiohttp.ClientSession
) -> None:
    info = await stored(s3)
    url = f"{app}/objects/docs/report.pdf"
    async with http.get(url) as resp:
        last_modified = resp.headers["Last-Modified"]
        await resp.read()
    etag = info.etag or ""
    not_modified = [
        {"If-None-Match": etag},
        {"If-None-Match": f'"nope", W/{etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": last_modified},
        {
            "If-Modified-Since": format_datetime(
                parsedate_to_datetime(last_modified) + timedelta(days=1), usegmt=True
            )
        },
    ]
    for headers in not_modified:
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 304, headers
            assert await resp.read() == b""
            assert resp.headers["ETag"] == etag
            assert resp.headers["Cache-Control"] == "private, max-age=60"
    modified = [
        {"If-None-Match": '"other"'},
        {
            "If-Modified-Since": format_datetime(
                parsedate_to_datetime(last_modified) - timedelta(seconds=1), usegmt=True
            )
        },
        {"If-None-Match": '"other"', "If-Modified-Since": last_modified},  # INM decides
        {"If-Modified-Since": "not a date"},
    ]
    for headers in modified:
        async with http.get(url, headers=headers) as resp:
            assert resp.status == 200 and await resp.read() == DATA, headers
    async with http.head(url, headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304


async def test_a_missing_object_is_404(app: str, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{app}/objects/no/such/key") as resp:
        assert resp.status == 404 and await resp.read() == b"Not Found"
    async with http.head(f"{app}/objects/no/such/key") as resp:
        assert resp.status == 404


async def test_a_big_object_streams_whole(
    s3: aios3.S3, app: str, http: aiohttp.ClientSession
) -> None:
    data = bytes(range(251)) * (6 * MiB // 251)
    await s3.upload("big.bin", data)
    async with http.get(f"{app}/objects/big.bin") as resp:
        got = bytearray()
        async for chunk in resp.content.iter_any():
            got += chunk
    assert resp.status == 200 and got == data


@pytest.fixture
async def stalling(server: Server, s3: aios3.S3) -> AsyncIterator[tuple[aios3.S3, FaultProxy]]:
    """A client with one connection, through a proxy that can stall a body: were the
    connection still held after the web client left, the next request would hang."""
    parts = urlsplit(server.endpoint)
    async with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80) as proxy:
        config = server.config(
            endpoint=proxy.url, default_bucket=s3.config.default_bucket, max_pool_connections=1
        )
        async with aios3.connect(config) as one:
            yield one, proxy


async def test_a_client_leaving_mid_body_releases_the_s3_connection(
    kind: str, stalling: tuple[aios3.S3, FaultProxy], http: aiohttp.ClientSession
) -> None:
    s3, proxy = stalling
    data = bytes(range(256)) * (4 * MiB // 256)
    await s3.upload("long.bin", data)
    async with running_app(kind, s3) as app:
        for _ in range(2):
            # S3 stops sending after 1 MiB: the app waits on it while its client leaves.
            stall = proxy.add(
                Fault("stall", method="GET", path_contains="long.bin", after_bytes=MiB, seconds=60)
            )
            reader, writer = await raw_request(
                app, "GET /objects/long.bin HTTP/1.1\r\nHost: app\r\n\r\n"
            )
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200") and b"4194304" in head
            await reader.readexactly(64 * 1024)  # some of the body, then leave
            writer.transport.abort()  # a reset, as a closed browser tab gives
            assert stall.fired == 1
            assert await asyncio.wait_for(s3.get_bytes("long.bin", end=10), 10) == data[:10]
            async with http.get(f"{app}/objects/long.bin", headers={"Range": "bytes=-3"}) as r:
                assert r.status == 206 and await asyncio.wait_for(r.read(), 10) == data[-3:]


# -- storing -----------------------------------------------------------------------------


async def test_stores_a_request_body(s3: aios3.S3, app: str, http: aiohttp.ClientSession) -> None:
    async with http.put(
        f"{app}/objects/notes/a.txt", data=b"hello", headers={"Content-Type": "text/plain"}
    ) as resp:
        assert resp.status == 200, await resp.text()
        assert await resp.json() == {"key": "notes/a.txt", "size": 5, "content_type": "text/plain"}
    assert await s3.get_bytes("notes/a.txt") == b"hello"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked, multipart
        for _ in range(6):
            yield b"z" * MiB

    async with http.put(f"{app}/objects/stream.bin", data=chunks()) as resp:
        assert resp.status == 200, await resp.text()
    info = await s3.head("stream.bin")
    assert info.size == 6 * MiB and (info.etag or "").endswith('-2"')  # two parts
    assert await open_uploads(s3, s3.config.default_bucket or "") == []


async def test_content_types_not_allowed_are_refused_415(
    s3: aios3.S3, app: str, http: aiohttp.ClientSession
) -> None:
    for content_type in ("text/html", None):
        headers = {"Content-Type": content_type} if content_type else {}
        async with http.put(f"{app}/images/x", data=b"<p>", headers=headers) as resp:
            assert resp.status == 415, content_type
    assert not await s3.exists("x")
    async with http.put(
        f"{app}/images/me.png", data=b"\x89PNG", headers={"Content-Type": "image/png"}
    ) as resp:
        assert resp.status == 200
    assert (await s3.head("me.png")).content_type == "image/png"


async def assert_nothing_stored(s3: aios3.S3, key: str, wait: float = 10.0) -> None:
    """Within ``wait`` seconds, no upload is left open and ``key`` does not exist."""
    bucket = s3.config.default_bucket or ""
    for _ in range(int(wait / 0.05)):
        if not await open_uploads(s3, bucket):
            break
        await asyncio.sleep(0.05)
    assert await open_uploads(s3, bucket) == []
    assert not await s3.exists(key)


async def put_status(http: aiohttp.ClientSession, url: str, data: object) -> int | None:
    """The answer's status; ``None`` if the server closed the connection before the
    client could read it (it stops reading a refused body, as HTTP servers do)."""
    try:
        async with http.put(url, data=data) as resp:
            return resp.status
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
        return None


async def test_a_declared_length_over_the_cap_is_refused_at_once(
    s3: aios3.S3, app: str, http: aiohttp.ClientSession
) -> None:
    async with http.put(
        f"{app}/objects/huge.bin", data=io.BytesIO(b"x" * (CAP + 1)), expect100=True
    ) as resp:
        assert resp.status == 413
    await assert_nothing_stored(s3, "huge.bin")


async def test_a_body_growing_past_the_cap_is_413_and_aborted(
    s3: aios3.S3, app: str, http: aiohttp.ClientSession
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(12):  # 12 MiB against a 7 MiB cap: one 5 MiB part is sent first
            yield b"y" * MiB

    status = await put_status(http, f"{app}/objects/grown.bin", chunks())
    assert status in (413, None)
    await assert_nothing_stored(s3, "grown.bin")
    # A declared length over the cap, sent without waiting for 100 Continue: refused
    # at once, while the client is still sending.
    status = await put_status(http, f"{app}/objects/grown.bin", io.BytesIO(b"y" * (CAP + 1)))
    assert status in (413, None)
    await assert_nothing_stored(s3, "grown.bin")


async def test_a_client_leaving_mid_upload_aborts_it(s3: aios3.S3, kind: str) -> None:
    async with running_app(kind, s3) as app:
        _, writer = await raw_request(
            app,
            "PUT /objects/cut.bin HTTP/1.1\r\nHost: app\r\nContent-Length: 6291456\r\n\r\n",
            b"c" * (5 * MiB + 1000),  # past one part: the multipart upload is under way
        )
        await asyncio.sleep(0.5)
        writer.transport.abort()
        await assert_nothing_stored(s3, "cut.bin")
        assert not await s3.exists("cut.bin")


# -- importing without the frameworks -------------------------------------------------------


def test_import_needs_no_framework() -> None:
    """Without Starlette, ``import aios3.web`` works, aiohttp's helpers too, and the
    Starlette ones name the extra to install."""
    script = """
import asyncio, sys
sys.modules["starlette"] = None  # as if Starlette were not installed
sys.modules["fastapi"] = None
import aios3, aios3.web
try:
    asyncio.run(aios3.web.serve_starlette(None, None, "k"))
except ImportError as exc:
    print("refused:", exc)
print("aiohttp helper:", aios3.web.serve_aiohttp.__name__)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "refused: " in done.stdout and "pip install 'aios3[web]'" in done.stdout
    assert "aiohttp helper: serve_aiohttp" in done.stdout


async def test_bad_options_are_refused_before_any_request(s3: aios3.S3) -> None:
    from starlette.requests import Request

    scope = {"type": "http", "method": "GET", "headers": [], "path": "/", "query_string": b""}
    request = Request(scope)
    with pytest.raises(aios3.InvalidRequest):
        await aios3.web.serve_starlette(s3, request, "k", filename="../x")
    with pytest.raises(aios3.InvalidRequest):
        await aios3.web.serve_starlette(s3, request, "k", cache_control="a\nb")
    with pytest.raises(aios3.InvalidRequest):
        await aios3.web.store_starlette(s3, request, "k", max_size=-1)
    with pytest.raises(aios3.InvalidRequest):
        await aios3.web.store_starlette(s3, request, "k", max_size=1, content_types="image/*")
    post = Request({**scope, "method": "POST"})
    with pytest.raises(aios3.InvalidRequest, match="GET and HEAD"):
        await aios3.web.serve_starlette(s3, post, "k")
