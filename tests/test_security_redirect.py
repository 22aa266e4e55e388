"""Redirects are never followed: a signed request sent on to wherever an endpoint's
``Location`` points would hand that host the session token and the whole body, and
aios3 would report the other host's answer as the object's. Both paths (the direct
path and botocore's) get a 3xx as an answer: botocore's region redirector acts on one
that names the bucket's region; any other is a typed error, after a bounded number of
requests (botocore's redirector would otherwise HEAD the bucket, get the same 3xx,
HEAD it again, until Python's recursion limit).

The endpoint is a :class:`FaultProxy` in front of the real server whose ``redirect``
faults answer 3xx to a second loopback server, the recorder, which must receive
nothing at all."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from faultproxy import Fault, FaultProxy

import aios3
from aios3.testing import Server

MiB = 1024 * 1024
TOKEN = "session-token-that-must-stay-here"


@dataclass
class Recorder:
    """A loopback HTTP server that records every request it gets and answers 200 with
    an ETag, as a store would."""

    url: str = ""
    seen: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((request.method, request.path_qs, dict(request.headers), body))
        return web.Response(status=200, body=b"not the object", headers={"ETag": '"other"'})


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", rec.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rec.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield rec
    finally:
        await runner.cleanup()


@pytest.fixture
async def proxy(server: Server) -> AsyncIterator[FaultProxy]:
    parts = urlsplit(server.endpoint)
    async with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80) as p:
        yield p


def _client_config(
    server: Server, s3: aios3.S3, proxy: FaultProxy, *, direct: bool, token: str | None
) -> aios3.Config:
    return server.config(
        endpoint=proxy.url,
        default_bucket=s3.config.default_bucket,
        session_token=token,
        direct_requests=direct,
        max_attempts=3,
    )


_SMALL = aios3.TransferConfig(part_retries=0)
_PARTS = aios3.TransferConfig(part_size=5 * MiB, multipart_threshold=0, part_retries=0)


def _calls(client: aios3.S3) -> list[tuple[str, Callable[[], Awaitable[Any]]]]:
    return [
        ("upload", lambda: client.upload("r/small", b"secret body", transfer=_SMALL)),
        ("head", lambda: client.head("r/there")),
        ("get", lambda: client.get_bytes("r/there")),
        ("stream", lambda: client.stream("r/there").read()),
        ("multipart", lambda: client.upload("r/big", b"p" * (6 * MiB), transfer=_PARTS)),
    ]


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "botocore"])
@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_is_an_error_never_followed(
    server: Server,
    s3: aios3.S3,
    proxy: FaultProxy,
    recorder: Recorder,
    direct: bool,
    status: int,
) -> None:
    """Every request answered with a 3xx to another host (no region named): each call
    raises a typed error after exactly one request, and the other host gets nothing:
    no token, no body."""
    await s3.upload("r/there", b"the real object")
    config = _client_config(server, s3, proxy, direct=direct, token=TOKEN)
    proxy.add(
        Fault("redirect", status=status, code="TemporaryRedirect", location=recorder.url, times=-1)
    )
    async with aios3.connect(config) as client:
        assert (client._direct is not None) == direct
        for name, call in _calls(client):
            before = proxy.requests
            started = time.monotonic()
            with pytest.raises(aios3.ServiceError) as caught:
                await call()
            assert caught.value.status == status, name
            assert "redirected" in str(caught.value), name
            assert proxy.requests - before == 1, name  # not retried, not chased
            assert time.monotonic() - started < 10, name
    assert recorder.seen == []
    assert [u async for u in s3.list_multipart_uploads("r/")] == []
    assert await s3.get_bytes("r/there") == b"the real object"
    assert not await s3.exists("r/small")


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "botocore"])
async def test_redirected_part_is_not_sent_on(
    server: Server,
    server_kind: str,
    s3: aios3.S3,
    proxy: FaultProxy,
    recorder: Recorder,
    direct: bool,
) -> None:
    """A multipart upload whose parts are redirected: the upload fails on the part (and
    is aborted); the other host never sees the part, nor the token."""
    # SeaweedFS refuses a session token it did not issue; moto takes any.
    token = TOKEN if server_kind == "moto" else None
    config = _client_config(server, s3, proxy, direct=direct, token=token)
    rule = proxy.add(
        Fault(
            "redirect",
            method="PUT",
            path_contains="partNumber=",
            status=307,
            code="TemporaryRedirect",
            location=recorder.url,
            times=-1,
        )
    )
    async with aios3.connect(config) as client:
        with pytest.raises(aios3.TransferError) as caught:
            await client.upload("r/parts", bytes(range(256)) * (24 * 1024), transfer=_PARTS)
    assert caught.value.status == 307
    assert caught.value.part_number in (1, 2)
    assert 1 <= rule.fired <= 2  # the parts in flight, each tried once
    assert recorder.seen == []
    assert [u async for u in s3.list_multipart_uploads("r/")] == []
    assert not await s3.exists("r/parts")


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "botocore"])
async def test_region_redirect_is_still_botocores(
    server: Server, s3: aios3.S3, proxy: FaultProxy, recorder: Recorder, direct: bool
) -> None:
    """A 301 that names the bucket's region is botocore's region redirect: it asks that
    region's endpoint again (here the same one) and the call succeeds; the Location is
    never followed."""
    await s3.upload("r/moved", b"moved object")
    config = _client_config(server, s3, proxy, direct=direct, token=None)
    rule = proxy.add(
        Fault(
            "redirect",
            method="GET",
            status=301,
            code="PermanentRedirect",
            location=recorder.url,
            region=server.region,
        )
    )
    async with aios3.connect(config) as client:
        assert await client.get_bytes("r/moved") == b"moved object"
    assert rule.fired == 1
    assert recorder.seen == []


async def test_redirect_fault_answers_with_location(
    server: Server, proxy: FaultProxy, recorder: Recorder
) -> None:
    """The proxy's redirect action itself: a 3xx with Location (target appended) and
    x-amz-bucket-region, the request body read and dropped, the connection kept."""
    import aiohttp

    proxy.add(
        Fault(
            "redirect", status=307, code="TemporaryRedirect", location="http://x.test", region="r1"
        )
    )
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{proxy.url}/b/k?a=1", data=b"body", allow_redirects=False) as resp:
            assert resp.status == 307
            assert resp.headers["Location"] == "http://x.test/b/k?a=1"
            assert resp.headers["x-amz-bucket-region"] == "r1"
            assert b"<Code>TemporaryRedirect</Code>" in await resp.read()
        async with http.get(f"{proxy.url}/") as resp:  # forwarded, on the same connection
            assert resp.status < 500
    assert proxy.requests == 2 and proxy.forwarded == 1
    assert recorder.seen == []
