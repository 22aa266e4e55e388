"""Reliability without a fault proxy: shutdown with transfers in flight, bad input
(one typed error, nothing left behind), credentials that never leak, and load through
a pool smaller than the demand."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import new_bucket_name, open_uploads
from test_roundtrip import blob

import aios3
from aios3 import MiB, TransferConfig
from aios3.testing import Server

SMALL = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB, download_threshold=5 * MiB)


async def test_leaving_the_client_with_transfers_in_flight(
    server: Server, s3: aios3.S3, tmp_path: Path
) -> None:
    bucket = s3.config.default_bucket or ""
    await s3.upload("src/big", blob(20 * MiB, seed=8), transfer=SMALL)
    started = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"e" * MiB
            started.set()
            await asyncio.sleep(0.01)

    async with aios3.connect(server.config(default_bucket=bucket), transfer=SMALL) as client:
        up_task = asyncio.create_task(client.upload("inflight/stream", endless()))

        async def writer() -> None:
            async with client.multipart_upload("inflight/mp", part_size=5 * MiB) as up:
                while True:
                    await up.write(b"w" * MiB)

        mp_task = asyncio.create_task(writer())
        dl_task = asyncio.create_task(
            client.download(
                "src/big",
                tmp_path / "big",
                transfer=TransferConfig(
                    part_size=5 * MiB, concurrency=1, download_threshold=5 * MiB
                ),
            )
        )
        await asyncio.wait_for(started.wait(), 30)
        for _ in range(500):
            if len(await open_uploads(s3, bucket, "inflight/")) == 2:
                break
            await asyncio.sleep(0.01)
    # The client is closed: each transfer either finished whole or failed, and nothing
    # is left behind: no multipart upload, no partial file.
    outcomes = await asyncio.gather(up_task, mp_task, dl_task, return_exceptions=True)
    for outcome in outcomes[:2]:  # the endless ones cannot have finished
        assert isinstance(outcome, aios3.S3Error | RuntimeError), outcome
    assert not await open_uploads(s3, bucket, "inflight/")
    assert not await s3.exists("inflight/stream") and not await s3.exists("inflight/mp")
    assert not [p for p in tmp_path.iterdir() if "aios3-partial" in p.name]
    if isinstance(outcomes[2], aios3.ObjectInfo):
        assert (tmp_path / "big").read_bytes() == blob(20 * MiB, seed=8)
    else:
        assert not (tmp_path / "big").exists()


# -- bad input: one clear, typed error before any bytes move ----------------------------


async def test_bad_local_paths(s3: aios3.S3, tmp_path: Path) -> None:
    with pytest.raises(aios3.InvalidRequest, match="no such file"):
        await s3.upload("k", tmp_path / "missing.bin")
    with pytest.raises(aios3.InvalidRequest, match="directory"):
        await s3.upload("k", tmp_path)
    sock_path = tmp_path / "socket"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))  # a path no one, not even root, can read as a file
        with pytest.raises(aios3.InvalidRequest, match="cannot open"):
            await s3.upload("k", sock_path)
    with pytest.raises(aios3.InvalidRequest, match="cannot upload a int"):
        await s3.upload("k", 12345)
    with (
        pytest.raises(aios3.InvalidRequest, match="text mode"),
        open(tmp_path / "t.txt", "w") as text,
    ):
        await s3.upload("k", text)  # type: ignore[arg-type]
    assert not await s3.exists("k")
    assert not await open_uploads(s3, s3.config.default_bucket or "")


async def test_bad_arguments_are_refused_before_any_request(s3: aios3.S3) -> None:
    cases = [
        lambda: s3.stream("k", start=-1),
        lambda: s3.multipart_upload("k", part_size=MiB),
        lambda: s3.multipart_upload("k", part_size=6 * 1024 * MiB),
        lambda: s3.multipart_upload("k", part_size=5 * MiB, size=10_001 * 5 * MiB),
        lambda: s3.name("k", bucket="Bad_Name"),
        lambda: s3.name("k" * 1025),
        lambda: s3.name(""),
    ]
    for make in cases:
        with pytest.raises(aios3.InvalidRequest):
            make()
    with pytest.raises(aios3.InvalidRequest):
        await s3.presign("k", expires=604801)
    with pytest.raises(aios3.InvalidRequest):
        await s3.upload("k", b"x", metadata={"bad key!": "v"})
    with pytest.raises(aios3.InvalidRequest):
        await s3.upload("k", b"x", content_type="text/plain\r\nX-Injected: 1")
    assert [o async for o in s3.list()] == []


@pytest.mark.needs("auth")
async def test_wrong_credentials_never_leak(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "wr0ng-s3cret-DO-NOT-LEAK"
    caplog.set_level(logging.DEBUG)
    async with aios3.connect(
        server.config(access_key_id="AKWRONG", secret_access_key=secret, max_attempts=1)
    ) as bad:
        with pytest.raises(aios3.AccessDenied) as caught:
            await bad.upload("s3://any-bucket/k", b"x")
        text = str(caught.value) + repr(caught.value) + repr(bad) + repr(bad.config)
        assert secret not in text
        assert "credentials" in str(caught.value)
    assert secret not in caplog.text


async def test_https_trusts_only_the_servers_ca(server_kind: str, server: Server) -> None:
    """``seaweedfs_server(https=True)``: a CA and a leaf it signs (not one self-signed
    certificate, which strict verifiers such as rustls refuse as the leaf); clients
    trusting ``Server.ca_bundle`` get through, clients trusting nothing else do not."""
    if server_kind != "seaweedfs":
        pytest.skip("only seaweedfs_server() serves https")
    from cryptography import x509

    from aios3.testing import seaweedfs_server

    with seaweedfs_server(https=True) as tls_server:
        assert tls_server.endpoint.startswith("https://") and tls_server.ca_bundle
        ca = x509.load_pem_x509_certificate(Path(tls_server.ca_bundle).read_bytes())
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        port = int(tls_server.endpoint.rsplit(":", 1)[1])
        leaf_pem = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", port))
        leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
        assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        assert leaf.issuer == ca.subject != leaf.subject

        bucket = new_bucket_name()
        data = blob(6 * MiB)
        parts = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB)
        for direct in (False, True):
            config = tls_server.config(default_bucket=bucket, direct_requests=direct)
            async with aios3.connect(config) as s3:
                if not direct:
                    await s3.create_bucket(bucket)
                await s3.upload("k", b"over tls")
                assert await s3.get_bytes("k") == b"over tls"
                # TLS + a CRC32 on every body: parts go UNSIGNED-PAYLOAD, not SHA-256
                # hashed, on botocore's path and on the direct path alike
                sent = await _part_payload_hashes(s3, "parts", data, parts)
                assert sent == ["UNSIGNED-PAYLOAD"] * 2, direct
                assert await s3.get_bytes("parts") == data
                # a file's parts are read into buffers: aiohttp's TLS sends no span
                assert not await s3._sends_span(
                    "upload_part", bucket=bucket, UploadId="u", PartNumber=1, ContentLength=1
                )
                # an https endpoint: the connector verifies with the context built
                # from the configured CA bundle (an http one goes without: below)
                tls = _connector_tls(s3)
                assert tls.verify_mode == ssl.CERT_REQUIRED and tls.check_hostname
                assert tls.cert_store_stats()["x509_ca"] >= 1
        async with aios3.connect(
            tls_server.config(ca_bundle=None, max_attempts=1, default_bucket=bucket)
        ) as untrusting:
            with pytest.raises(aios3.EndpointError, match="SSL"):
                await untrusting.get_bytes("k")
        # A client of an http:// endpoint builds no TLS context, even with a CA bundle
        # configured: an https:// URL that still reaches its pool (botocore's rules make
        # one for an Outposts access point) fails its handshake, here against a server
        # whose CA that very bundle holds; it never goes unverified or trusts other CAs.
        async with aios3.connect(server.config(ca_bundle=tls_server.ca_bundle)) as plain:
            assert plain.client is not None  # built, so that its HEAD makes the pool:
            assert not await plain.bucket_exists(new_bucket_name())
            pool = next(iter(plain._client._endpoint.http_session._sessions.values()))
            with pytest.raises(aiohttp.ClientSSLError, match="CERTIFICATE_VERIFY_FAILED"):
                async with pool.get(tls_server.endpoint + "/"):
                    pass


def _connector_tls(s3: aios3.S3) -> Any:
    """The ``ssl`` the client's aiohttp connector was made with."""
    (pool,) = s3._client._endpoint.http_session._sessions.values()
    return pool.connector._ssl


@pytest.mark.parametrize("direct", [True, False])
async def test_an_http_endpoint_loads_no_ca_bundle(
    server: Server, bucket_name: str, direct: bool
) -> None:
    """An ``http://`` endpoint: its connector goes without the context aiobotocore would
    build (a CA bundle loaded: ~22 ms of CPU on every process's first request), on the
    direct path and botocore's alike. In its place is one that verifies and trusts no
    CA at all (an https URL through it fails: the https test shows it)."""
    config = server.config(default_bucket=bucket_name, direct_requests=direct)
    async with aios3.connect(config) as s3:
        await s3.create_bucket(bucket_name)
        await s3.upload("k", b"plain")
        assert await s3.get_bytes("k") == b"plain"
        tls = _connector_tls(s3)
        assert isinstance(tls, ssl.SSLContext) and tls.verify_mode == ssl.CERT_REQUIRED
        assert tls.check_hostname and tls.cert_store_stats()["x509_ca"] == 0
        await s3.delete_bucket(bucket_name, force=True)


async def _part_payload_hashes(
    s3: aios3.S3, key: str, data: bytes, transfer: TransferConfig
) -> list[str]:
    """Upload ``data`` and return each UploadPart's x-amz-content-sha256: seen as botocore
    sends it, or, on the direct path, as aios3 signs it (its own prepare(), wrapped)."""
    sent: list[str] = []
    direct = s3._direct
    if direct is None:

        def seen(request: Any, **_: Any) -> None:
            value = request.headers["X-Amz-Content-SHA256"]
            sent.append(value.decode() if isinstance(value, bytes) else value)

        s3.client.meta.events.register("before-send.s3.UploadPart", seen)
    else:
        prepare = direct.prepare

        def spy(*args: Any) -> Any:
            request = prepare(*args)
            if "partNumber=" in request.url:  # an UploadPart (not Create or Complete)
                sent.append(request.headers["x-amz-content-sha256"])
            return request

        direct.prepare = spy  # type: ignore[method-assign]
    await s3.upload(key, data, transfer=transfer)
    return sent


async def test_unreachable_endpoint_fails_in_bounded_time() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        started = time.monotonic()
        async with aios3.connect(
            endpoint=f"http://127.0.0.1:{port}",
            access_key_id="a",
            secret_access_key="b",
            connect_timeout=2,
            max_attempts=2,
            transfer=TransferConfig(part_retries=1, retry_backoff=0.05),
        ) as s3:
            with pytest.raises(aios3.EndpointError):
                await s3.upload("s3://some-bucket/k", b"x")
            with pytest.raises(aios3.EndpointError):
                await s3.get_bytes("s3://some-bucket/k")
        assert time.monotonic() - started < 30


@pytest.mark.parametrize("call", ["upload", "get_bytes", "head", "list_buckets"])
async def test_an_unreachable_endpoint_fails_within_the_connect_timeout(call: str) -> None:
    """With the default retries (botocore's 5 attempts, aios3's part retries on top) a
    refused port took 40 s to fail an upload; now every call gives up within
    connect_timeout, both request paths alike."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        async with aios3.connect(
            endpoint=f"http://127.0.0.1:{port}",
            access_key_id="a",
            secret_access_key="b",
            connect_timeout=2,
            default_bucket="some-bucket",
        ) as s3:
            started = time.monotonic()
            with pytest.raises(aios3.EndpointError):
                if call == "upload":
                    await s3.upload("k", b"x")
                elif call == "list_buckets":
                    await s3.list_buckets()
                else:
                    await getattr(s3, call)("k")
            assert time.monotonic() - started < 2 + 1.5


async def test_a_connect_timeout_is_not_tried_again_and_again() -> None:
    """A listener whose backlog is full lets SYNs go unanswered: each attempt waits the
    whole connect_timeout, so one attempt is all the budget allows."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        try:
            for _ in range(4):  # fill the accept queue (never accepted)
                filler = socket.socket()
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
                fillers.append(filler)
            async with aios3.connect(
                endpoint=f"http://127.0.0.1:{port}",
                access_key_id="a",
                secret_access_key="b",
                connect_timeout=1,
                read_timeout=1,
                default_bucket="some-bucket",
            ) as s3:
                started = time.monotonic()
                with pytest.raises(aios3.EndpointError):
                    await s3.get_bytes("k")
                assert time.monotonic() - started < 1 + 1.5
        finally:
            for filler in fillers:
                filler.close()


# -- load --------------------------------------------------------------------------------

LOAD_PROBE = """
import asyncio, hashlib, json, os, sys, time
import aios3

def peak_rss_mib():
    # VmHWM: the peak of this program alone (ru_maxrss also counts the forked parent)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

BLOCK = os.urandom(1 << 20)

async def stream(n_mib, digest):
    for i in range(n_mib):
        piece = BLOCK[i:] + BLOCK[:i]
        digest.update(piece)
        yield piece

async def streamed_sha256(s3, key):
    digest = hashlib.sha256()
    async with s3.stream(key) as body:
        async for chunk in body:
            digest.update(chunk)
    return digest.digest()

async def main(endpoint, bucket):
    cfg = aios3.Config(endpoint=endpoint, max_pool_connections=16)
    transfer = aios3.TransferConfig(part_size=5 << 20, concurrency=4)
    async with aios3.connect(cfg, default_bucket=bucket, transfer=transfer) as s3:
        started = time.monotonic()
        bodies = {f"load/{i:04d}": os.urandom(1000 + i) for i in range(1000)}
        sent = {f"load/big-{i}": hashlib.sha256() for i in range(4)}
        results = await asyncio.gather(
            *(s3.upload(k, v) for k, v in bodies.items()),
            *(s3.upload(k, stream(24, d)) for k, d in sent.items()),
        )
        assert [r.parts for r in results[-4:]] == [5] * 4  # four real multipart uploads
        got = await asyncio.gather(*(s3.get_bytes(k) for k in bodies))
        assert got == list(bodies.values())
        back = await asyncio.gather(*(streamed_sha256(s3, k) for k in sent))
        assert back == [d.digest() for d in sent.values()]
        print(json.dumps({
            "seconds": time.monotonic() - started,
            "rss_mib": peak_rss_mib(),
        }))

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_load_through_a_small_pool(server: Server, s3: aios3.S3) -> None:
    """1,000 small uploads and downloads and 4 multipart uploads of unknown length at
    once, through a pool of 16 connections: no error, no deadlock, memory bounded."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": server.secret_access_key,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LOAD_PROBE,
        server.endpoint,
        s3.config.default_bucket or "",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 280)
    assert proc.returncode == 0, err.decode()[-3000:]
    result = json.loads(out)
    print(
        f"\n{server.name}: 1,000 small + 4 x 24 MiB streams up and down in {result['seconds']:.1f} s, "
        f"client peak RSS {result['rss_mib']:.0f} MiB"
    )
    # Four uploads hold at most (concurrency + 1) parts of 5 MiB each: 100 MiB on top of
    # the interpreter's ~60 MiB, whatever the streams' length.
    assert result["rss_mib"] < 250
    assert not await open_uploads(s3, s3.config.default_bucket or "")
