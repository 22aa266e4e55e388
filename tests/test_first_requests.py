"""A client's first GETs, HEADs, small PUTs and DELETEs go before aiobotocore's client
is built (``aios3._first``), where nothing about the client needs botocore to decide:
they answer what the regular path answers (a 404 too), anything else at the first try is
asked again on the regular path (errors typed as before), and the client is built by
the first call that needs it, or by reading ``S3.client``."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import open_uploads
from faultproxy import Fault, FaultProxy
from test_download_raw import _Canned

import aios3
from aios3 import MiB, TransferConfig
from aios3._core import _run_now
from aios3._direct import DirectPath, _Operation
from aios3._first import FIRST_OPERATIONS, FirstRequests, _load, first_requests
from aios3.testing import Server


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """An environment that lets the first requests go: no AWS_* variable but the
    credentials' and region's, no proxy, a home with no ``.aws``."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name.lower() in ("http_proxy", "all_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    yield tmp_path


@pytest.fixture
async def tables(server: Server) -> None:
    """The operations' tables in the cache: left there by any client built."""
    async with aios3.connect(server.config()) as client:
        assert client.client is not None
    assert _load() is not None


@pytest.fixture
async def objects(server: Server, bucket_name: str) -> AsyncIterator[str]:
    """A bucket holding ``k`` (b"hello", with metadata), made by a built client."""
    async with aios3.connect(server.config(default_bucket=bucket_name)) as client:
        await client.create_bucket(bucket_name)
        await client.upload("k", b"hello", metadata={"owner": "me"}, content_type="text/plain")
        yield bucket_name
        await client.delete_bucket(bucket_name, force=True)


def _unbuilt(client: aios3.S3) -> bool:
    return client._client is None


async def test_first_gets_heads_puts_and_deletes_need_no_aiobotocore_client(
    server: Server, clean_env: Path, tables: None, objects: str
) -> None:
    """Each answers what a built client answers, dict for dict, and the client stays
    unbuilt; the first call that needs it (a list of buckets) builds it."""
    config = server.config(default_bucket=objects)
    async with aios3.connect(config) as built:
        assert built.client is not None
        async with aios3.connect(config) as first:
            assert _unbuilt(first)
            assert await first.get_bytes("k") == await built.get_bytes("k") == b"hello"
            assert await first.head("k") == await built.head("k")
            for method in ("head_object", "get_object"):
                answers = [
                    (await c.fetch(method, action="a", bucket=objects, key="k", whole=True)).read()
                    for c in (first, built)
                ]
                for answer in answers:
                    answer.pop("ResponseMetadata")
                    body = answer.pop("Body", None)
                    assert body is None or await body.read() == b"hello"
                assert answers[0] == answers[1], method
            await first.upload("new", b"x" * 1000, metadata={"a": "b"})
            assert (await built.head("new")).metadata == {"a": "b"}
            assert await built.get_bytes("new") == b"x" * 1000
            await first.delete("new")
            assert not await built.exists("new")
            for name in ("d/1", "d/2", "d/3"):
                await first.upload(name, b"d")
            deleted = await first.delete_many(["d/1", "d/2", "d/3", "d/never"])  # DeleteObjects
            assert (deleted.deleted, deleted.failed) == (4, [])
            assert [await built.exists(n) for n in ("d/1", "d/2", "d/3")] == [False] * 3
            info = await first.download("k", clean_env / "k.out")  # small: one GET, whole
            assert (clean_env / "k.out").read_bytes() == b"hello" and info.size == 5
            assert _unbuilt(first)
            assert [b.name for b in await first.list_buckets()]  # this one needs it
            assert not _unbuilt(first)
            assert first._direct is not None and first._direct._client is first.client


async def test_first_listings_read_what_a_built_client_reads(
    server: Server, clean_env: Path, tables: None, objects: str
) -> None:
    """A ListObjectsV2 page goes first too, read by the kept plan of its XML body:
    keys url-decoded, common prefixes, owners, continuation tokens, page by page."""
    config = server.config(default_bucket=objects)
    odd = ["dir/a b+c%41é.txt", "dir/sub/x", "dir/sub/y", "dir/z", "top"]
    async with aios3.connect(config) as built:
        for key in odd:
            await built.upload(key, b"v")
        async with aios3.connect(config) as first:
            assert _unbuilt(first)
            everything = [o async for o in first.list()]
            assert [o.key for o in everything] == sorted([*odd, "k"])  # type: ignore[union-attr]
            assert everything == [o async for o in built.list()]
            paged = [o async for o in first.list(page_size=2)]  # 3 continuation tokens
            assert paged == everything
            for params in (
                {"Prefix": "dir/", "Delimiter": "/"},
                {"MaxKeys": 2, "FetchOwner": True},
                {"Prefix": "dir/", "StartAfter": "dir/a"},
            ):
                answers = [
                    (
                        await c.fetch("list_objects_v2", action="list", bucket=objects, **params)
                    ).read()
                    for c in (first, built)
                ]
                for answer in answers:
                    answer.pop("ResponseMetadata")
                assert answers[0] == answers[1], params
                assert answers[0]["KeyCount"] >= 1
            assert _unbuilt(first)


async def test_a_404_is_read_as_botocore_reads_it_and_builds_no_client(
    server: Server, clean_env: Path, tables: None, objects: str, proxy: FaultProxy
) -> None:
    """A missing key or bucket, the first thing many a process asks about: the 404 is
    read as botocore's parser reads it (a HEAD's bare status, a GET's or a DELETE's
    <Error>), each request asked once, and the error is the regular path's (its type,
    code, status and message); the client is never built for it."""
    config = server.config(default_bucket=objects, endpoint=proxy.url)
    regular = dataclasses.replace(config, direct_requests=False)

    async def outcomes(c: aios3.S3) -> list[Any]:
        got: list[Any] = [await c.exists("missing"), await c.stat("missing")]
        got.append(await c.bucket_exists("no-such-bucket-aios3"))
        for call in (
            lambda: c.get_bytes("missing"),
            lambda: c.head("missing"),
            lambda: c.head("k", bucket="no-such-bucket-aios3"),
            lambda: c.get_bytes("k", bucket="no-such-bucket-aios3"),
        ):
            with pytest.raises(aios3.NotFound) as error:
                await call()
            e = error.value
            got.append((type(e), e.code, e.status, str(e), e.bucket, e.key))
        return got

    async with aios3.connect(config) as client:
        first = await outcomes(client)
        assert _unbuilt(client)
    asked = list(proxy.log)
    async with aios3.connect(regular) as client:
        assert first == await outcomes(client)
    assert first[:3] == [False, None, False]
    assert [t[0] for t in first[3:]] == [
        aios3.NoSuchKey,
        aios3.NoSuchKey,
        aios3.NoSuchBucket,
        aios3.NoSuchBucket,
    ]
    assert asked == proxy.log[len(asked) :]  # the same requests, each once


async def test_a_404_that_botocore_would_retry_or_a_later_head_bucket_go_its_way(
    server: Server, clean_env: Path, tables: None, objects: str, proxy: FaultProxy
) -> None:
    """botocore's retry handler goes by the code, whatever the status: a 404 SlowDown
    is tried again by the built client (and the object read). A HeadBucket goes direct
    only before the client is built. What a 404 leaves as the error's cause pickles."""
    config = server.config(default_bucket=objects, endpoint=proxy.url)
    rule = proxy.add(Fault("status", method="GET", path_contains="/k", status=404))
    async with aios3.connect(config) as client:
        assert client._direct is not None
        assert client._direct.accepts("head_bucket", {}, key=False)
        assert await client.get_bytes("k") == b"hello"
        assert rule.fired == 1 and not _unbuilt(client)
        assert not client._direct.accepts("head_bucket", {}, key=False)
        assert await client.bucket_exists(objects)
    async with aios3.connect(config) as client:
        with pytest.raises(aios3.NoSuchKey) as missing:
            await client.get_bytes("missing")
        assert _unbuilt(client)
    cause = missing.value.__cause__
    assert cause is not None and type(cause).__name__ == "ErrorAnswer"
    again = pickle.loads(pickle.dumps(cause))
    assert (str(again), again.response) == (str(cause), cause.response)  # type: ignore[attr-defined]


async def test_an_error_answer_other_than_404_is_the_regular_paths_first_attempt(
    server: Server, clean_env: Path, tables: None, objects: str, proxy: FaultProxy
) -> None:
    """A 403 (and any error but a 404) is no error of the first try: the client is
    built and reads it as its own first attempt (not asked again), so the result and
    its type are the regular path's; later requests go the regular way."""
    config = server.config(default_bucket=objects, endpoint=proxy.url)
    proxy.add(Fault("status", method="HEAD", path_contains="/denied", status=403, code="x"))
    async with aios3.connect(config) as client:
        with pytest.raises(aios3.AccessDenied):
            await client.exists("denied")
        assert not _unbuilt(client)
        heads = [target for method, target in proxy.log if method == "HEAD"]
        assert heads.count(f"/{objects}/denied") == 1
    if server.name == "moto":
        return  # moto takes any signature
    async with aios3.connect(dataclasses.replace(config, secret_access_key="wrong")) as client:
        with pytest.raises(aios3.S3Error) as wrong:
            await client.get_bytes("k")
        assert not _unbuilt(client)
    async with aios3.connect(
        dataclasses.replace(config, secret_access_key="wrong", direct_requests=False)
    ) as client:
        with pytest.raises(aios3.S3Error) as regular:
            await client.get_bytes("k")
    assert type(wrong.value) is type(regular.value)


@pytest.mark.parametrize("operation", ["get", "put"])
async def test_a_first_try_answered_503_counts_as_the_first_of_max_attempts(
    server: Server, clean_env: Path, tables: None, objects: str, proxy: FaultProxy, operation: str
) -> None:
    """Answered 503 every time: asked exactly ``max_attempts`` times in all, the first
    try before the client is built among them, and the regular path's error (a get
    asks no more: ``part_retries=0``)."""
    config = dataclasses.replace(
        server.config(default_bucket=objects, endpoint=proxy.url), max_attempts=3
    )
    method = "GET" if operation == "get" else "PUT"
    proxy.add(Fault("status", method=method, path_contains="/k503", times=-1))
    async with aios3.connect(config, transfer=TransferConfig(part_retries=0)) as client:
        assert _unbuilt(client)
        with pytest.raises(aios3.S3Error):
            if operation == "get":
                await client.get_bytes("k503")
            else:
                await client.upload("k503", b"x")
        assert not _unbuilt(client)
    asked = [target for m, target in proxy.log if m == method and "/k503" in target]
    assert len(asked) == 3


async def test_a_first_try_that_cannot_connect_is_the_regular_paths_error(
    clean_env: Path, tables: None
) -> None:
    """Nothing listens: the first try fails, the client is built, and its retries end
    in the EndpointError a built client gives."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    config = aios3.Config(
        endpoint=f"http://127.0.0.1:{port}",
        access_key_id="AKIDEXAMPLE",
        secret_access_key="secret",
        region="us-east-1",
        max_attempts=2,
        connect_timeout=1,
    )
    async with aios3.connect(config) as client:
        assert _unbuilt(client)
        with pytest.raises(aios3.EndpointError):
            await client.get_bytes("s3://bkt/k")
        assert not _unbuilt(client)


async def test_a_whole_gets_broken_body_before_the_client_is_a_body_error(
    clean_env: Path, tables: None
) -> None:
    """A 200 whose body breaks off is a TransferError asked part_retries times, as on
    the built client's direct path (no client is built for it)."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
    canned = _Canned([answer], close=True)
    async with canned as port:
        config = aios3.Config(
            endpoint=f"http://127.0.0.1:{port}",
            access_key_id="AKIDEXAMPLE",
            secret_access_key="secret",
            region="us-east-1",
        )
        async with aios3.connect(config, transfer=TransferConfig(part_retries=1)) as client:
            with pytest.raises(aios3.TransferError, match="broke off"):
                await client.get_bytes("s3://bkt/k")
            assert canned.asked == 2
            assert _unbuilt(client)


async def test_a_first_request_cancelled_leaves_nothing_behind(
    clean_env: Path, tables: None
) -> None:
    """A GET to a server that never answers, cancelled: the task ends cancelled, its
    connection is closed, and the client closes cleanly (no task or warning left)."""

    handlers: list[asyncio.Task[Any]] = []
    stop = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.read(1 << 16)
            await asyncio.wait_for(stop.wait(), 30)
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        config = aios3.Config(
            endpoint=f"http://127.0.0.1:{port}",
            access_key_id="AKIDEXAMPLE",
            secret_access_key="secret",
            region="us-east-1",
        )
        async with aios3.connect(config) as client:
            task = asyncio.ensure_future(client.get_bytes("s3://bkt/k"))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert _unbuilt(client)
            assert client._direct is not None
            assert client._direct._raw.in_use._value == client._pool_size()  # released
    finally:
        server.close()
        stop.set()
        await asyncio.gather(*handlers)
        await server.wait_closed()


async def test_a_first_multipart_upload_needs_no_aiobotocore_client(
    server: Server, clean_env: Path, tables: None, objects: str, proxy: FaultProxy
) -> None:
    """Create, the parts, Complete: all go before the client is built, and the object
    is what a built client stores (its checksum, its metadata, every byte). A part
    answered 500 at its first try builds the client, which asks again; Complete then
    goes the regular way, and no upload is left open."""
    data = bytes(range(256)) * (48 * 1024)  # 12 MiB: three parts of 5, 5 and 2
    transfer = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB)
    config = server.config(default_bucket=objects, endpoint=proxy.url)
    async with aios3.connect(config, transfer=transfer) as first:
        info = await first.upload("mp/first", data, metadata={"a": "b"}, content_type="x/y")
        assert _unbuilt(first)
        assert info.parts == 3
    posts = [target for method, target in proxy.log if method == "POST"]
    assert len(posts) == 2 and posts[0].endswith("?uploads")  # Create, then Complete
    rule = proxy.add(Fault("status", method="PUT", path_contains="partNumber=2", status=500))
    async with aios3.connect(config, transfer=transfer) as first:
        await first.upload("mp/retried", data)
        assert rule.fired == 1 and not _unbuilt(first)
    async with aios3.connect(server.config(default_bucket=objects)) as built:
        for key in ("mp/first", "mp/retried"):
            assert await built.get_bytes(key) == data
        head = await built.head("mp/first")
        assert (head.metadata, head.content_type) == ({"a": "b"}, "x/y")
        assert not await open_uploads(built, objects, "mp/")


async def test_a_first_multipart_upload_cancelled_is_aborted(
    server: Server, clean_env: Path, tables: None, objects: str, proxy: FaultProxy
) -> None:
    """Cancelled while a part stalls, before the client is built: the upload is
    aborted (on the first requests' path too) and nothing is left open or stored."""
    data = bytes(12 * MiB)
    transfer = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB)
    config = server.config(default_bucket=objects, endpoint=proxy.url)
    proxy.add(Fault("stall", method="PUT", path_contains="partNumber=3", seconds=20))
    async with aios3.connect(config, transfer=transfer) as first:
        task = asyncio.ensure_future(first.upload("mp/cancelled", data))
        for _ in range(200):
            if any("partNumber=3" in target for _, target in proxy.log):
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert any(method == "DELETE" and "uploadId=" in t for method, t in proxy.log)
    async with aios3.connect(server.config(default_bucket=objects)) as built:
        assert not await open_uploads(built, objects, "mp/")
        assert not await built.exists("mp/cancelled")


async def test_reading_client_builds_it_there_and_then(
    server: Server, clean_env: Path, tables: None, objects: str
) -> None:
    """``S3.client`` is a live aiobotocore client at once, and the direct path the first
    requests used (its connections) goes on with it."""
    async with aios3.connect(server.config(default_bucket=objects)) as client:
        assert await client.exists("k")
        direct = client._direct
        assert _unbuilt(client) and direct is not None
        raw = direct._raw
        botocore_client = client.client
        assert client.client is botocore_client
        listed = await botocore_client.list_objects_v2(Bucket=objects)
        assert [o["Key"] for o in listed["Contents"]] == ["k"]
        assert client._direct is direct and direct._client is botocore_client
        assert await client.exists("k")
        assert direct._raw is raw  # the same connections, kept alive where the server may
    with pytest.raises(RuntimeError, match="closed"):
        _ = client.client


async def test_concurrent_first_requests_that_fail_build_one_client(
    server: Server, clean_env: Path, tables: None, objects: str, proxy: FaultProxy
) -> None:
    """Eight first HEADs answered 403 at once: one client is built for them all, even
    where building it waits (as it may on another aiobotocore: here a pause first)."""
    proxy.add(Fault("status", method="HEAD", path_contains="/denied-", status=403, times=-1))
    async with aios3.connect(server.config(default_bucket=objects, endpoint=proxy.url)) as client:
        built: list[Any] = []
        build = client._build

        async def counted() -> Any:
            built.append(1)
            await asyncio.sleep(0.01)  # the other tasks run: each would build its own
            return await build()

        client._build = counted  # type: ignore[method-assign]
        found = await asyncio.gather(
            *(client.exists(f"denied-{i}") for i in range(8)), return_exceptions=True
        )
        assert all(isinstance(error, aios3.AccessDenied) for error in found), found
        assert built == [1]


def test_run_now_refuses_a_coroutine_that_waits() -> None:
    async def waits() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="had to wait"):
        _run_now(waits())

    async def ready() -> int:
        return 7

    assert _run_now(ready()) == 7


async def test_the_tables_are_the_models_and_the_buckets_are_where_botocore_puts_them(
    server: Server, clean_env: Path, tables: None
) -> None:
    """What the first requests know of each operation is what the direct path reads
    from botocore's model; each bucket they take is where botocore's ruleset puts it,
    with the same signer."""
    first = first_requests(server.config())
    assert first is not None
    async with aios3.connect(server.config()) as client:
        direct = client._direct
        assert client.client is not None and direct is not None
        for method in FIRST_OPERATIONS:
            kept = _Operation.from_table(first.tables[method], validate=True)
            assert kept == dataclasses.replace(direct._ops[method], model=None), method
        names = ["bkt", "my.bucket.name", "a-b-c", "Upper_Case", "x" * 63, "xn--idn"]
        refused = ["bkt--x-s3", "bkt--xa-s3", "arn:aws:s3:::bkt", "a b", "bkt/", "bkt%2F"]
        for bucket in names + refused:
            mine = DirectPath._first_target(first, bucket)
            if bucket in refused:
                assert mine is None, bucket
                continue
            theirs = await direct._resolve(bucket)
            assert mine is not None and theirs is not None, bucket
            assert (mine.scheme, mine.netloc, mine.host, mine.path) == (
                theirs.scheme,
                theirs.netloc,
                theirs.host,
                theirs.path,
            ), bucket
            assert mine.signer is not None and theirs.signer is not None
            assert mine.signer.region == theirs.signer.region


def _config(**settings: Any) -> aios3.Config:
    base = aios3.Config(
        endpoint="http://127.0.0.1:9000",
        access_key_id="AKIDEXAMPLE",
        secret_access_key="secret",
        region="eu-west-1",
    )
    return dataclasses.replace(base, **settings)


@pytest.mark.parametrize(
    ("settings", "env", "goes"),
    [
        ({}, {}, True),
        ({"anonymous": True, "access_key_id": None, "secret_access_key": None}, {}, True),
        (
            {"access_key_id": None, "secret_access_key": None},
            {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"},
            True,
        ),
        ({}, {"AWS_CA_BUNDLE": "/ca.pem", "AWS_DEFAULT_REGION": "us-west-2"}, True),
        ({"access_key_id": None, "secret_access_key": None}, {}, False),  # the chain's
        ({"endpoint": "https://127.0.0.1:9000"}, {}, False),
        ({"endpoint": "http://127.0.0.1:9000/base"}, {}, False),
        ({"addressing_style": "virtual"}, {}, False),
        ({"endpoint": "http://[::1]:9000"}, {}, False),  # botocore checks these itself
        ({"endpoint": "http://-bad-.example:9000"}, {}, False),
        ({"region": "eu_west"}, {}, False),
        ({"region": "aws-global"}, {}, False),  # botocore signs these for another name
        ({"region": "fips-us-east-1"}, {}, False),
        ({"region": "us-east-1-fips"}, {}, False),
        ({"profile": "dev"}, {}, False),
        ({"direct_requests": False}, {}, False),
        ({}, {"AWS_PROFILE": "dev"}, False),
        ({}, {"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required"}, False),
        ({}, {"HTTP_PROXY": "http://127.0.0.1:3128"}, False),
        ({}, {"all_proxy": "http://127.0.0.1:3128"}, False),
    ],
)
def test_the_first_requests_go_only_where_nothing_needs_botocore(
    settings: dict[str, Any],
    env: dict[str, str],
    goes: bool,
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tables: None,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    first = first_requests(_config(**settings))
    assert (first is not None) == goes
    if first is not None:
        assert isinstance(first, FirstRequests) and first.region == "eu-west-1"
        assert first.netloc == "127.0.0.1:9000"


@pytest.mark.parametrize("where", ["config", "models", "AWS_CONFIG_FILE"])
def test_an_aws_config_or_local_models_keep_botocore(
    where: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch, tables: None
) -> None:
    assert first_requests(_config()) is not None
    if where == "AWS_CONFIG_FILE":
        path = clean_env / "elsewhere"
        path.write_text("[default]\n")
        monkeypatch.setenv("AWS_CONFIG_FILE", str(path))
    else:
        (clean_env / ".aws" / where).mkdir(parents=True)
    assert first_requests(_config()) is None


def test_the_session_token_is_the_one_botocore_takes(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tables: None
) -> None:
    """With both names set, botocore's EnvProvider takes AWS_SECURITY_TOKEN."""
    from botocore.session import Session

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "security-token")
    first = first_requests(_config(access_key_id=None, secret_access_key=None))
    assert first is not None and first.credentials is not None
    theirs = Session().get_credentials()
    assert theirs is not None
    assert first.credentials.token == theirs.token == "security-token"


@pytest.mark.parametrize(
    ("proxies", "goes"),
    [({}, True), ({"https": "http://127.0.0.1:3128"}, True)]
    + [({name: "http://127.0.0.1:3128"}, False) for name in ("http", "all")],
)
def test_a_system_proxy_keeps_botocore_where_urllib_reads_the_system(
    proxies: dict[str, str],
    goes: bool,
    clean_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tables: None,
) -> None:
    """On macOS and Windows urllib (and so botocore) finds proxies in the system's
    settings too: where one is named for http, the client is built."""
    import urllib.request

    from aios3 import _first

    monkeypatch.setattr(_first, "_SYSTEM_PROXY_SETTINGS", True)
    monkeypatch.setattr(urllib.request, "getproxies", lambda: proxies)
    assert (first_requests(_config()) is not None) == goes


def test_the_tables_are_kept_apart_by_what_changes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """awscrt adds response checksum algorithms, and another aios3 may lay the tables
    out otherwise: each has its own entry."""
    import importlib.util

    import aios3 as package
    from aios3._first import _entry

    plain = _entry()
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "awscrt" else real(name, *a),
    )
    with_crt = _entry()
    monkeypatch.setattr(package, "__version__", "0.0.0-other")
    other = _entry()
    assert plain is not None and with_crt is not None and other is not None
    assert len({plain[1], with_crt[1], other[1]}) == 3
    assert len({plain[0], with_crt[0], other[0]}) == 3


async def test_tables_of_another_layout_build_the_client(
    server: Server, clean_env: Path, tables: None, objects: str
) -> None:
    """An entry that does not fit (left by another aios3 under the same key) is no
    error: open() builds the client, which leaves the tables right for the next."""
    from aios3._first import _entry
    from aios3._model_cache import write_entry

    good = _load()
    where = _entry()
    assert good is not None and where is not None
    try:
        for broken in (
            {m: {**t, "added_later": 1} for m, t in good.items()},
            {m: {k: v for k, v in t.items() if k != "mode_member"} for m, t in good.items()},
        ):
            write_entry(where[0].parent, where[0], where[1], broken)
            assert _load() == broken
            async with aios3.connect(server.config(default_bucket=objects)) as client:
                assert not _unbuilt(client)
                assert await client.get_bytes("k") == b"hello"
            assert _load() == good
    finally:  # whatever happened, the next tests find the tables right
        write_entry(where[0].parent, where[0], where[1], good)


def test_without_the_tables_the_client_is_built(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIOS3_CACHE_DIR", str(tmp_path / "empty"))
    assert first_requests(_config()) is None
    monkeypatch.setenv("AIOS3_CACHE_DIR", "")
    assert first_requests(_config()) is None


async def test_a_fresh_process_gets_puts_and_deletes_without_importing_the_http_stack(
    server: Server, clean_env: Path, tables: None, objects: str
) -> None:
    """What the start-up target rests on: a program whose requests all succeed at the
    first try, a multipart upload's included, imports neither aiohttp, nor aiobotocore,
    nor botocore's client."""
    import subprocess
    import sys

    program = f"""
import asyncio, sys, aios3
async def main():
    async with aios3.connect(aios3.Config(endpoint={server.endpoint!r},
            access_key_id={server.access_key_id!r},
            secret_access_key={server.secret_access_key!r}, region={server.region!r},
            default_bucket={objects!r})) as s3:
        assert await s3.get_bytes("k") == b"hello"
        await s3.upload("fresh", b"fresh bytes")
        assert (await s3.head("fresh")).size == 11
        assert [o.key async for o in s3.list()] == ["fresh", "k"]
        await s3.download("fresh", {str(clean_env / "fresh.out")!r})
        await s3.delete("fresh")
        parts = aios3.TransferConfig(part_size=5 * 2**20, multipart_threshold=5 * 2**20)
        info = await s3.upload("fresh-big", bytes(12 * 2**20), transfer=parts)
        assert info.parts == 3 and (await s3.head("fresh-big")).size == 12 * 2**20
        await s3.delete("fresh-big")
asyncio.run(main())
loaded = [m for m in ("aiohttp", "aiobotocore", "botocore.client") if m in sys.modules]
assert not loaded, loaded
"""
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", program],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


async def test_credentials_from_the_environment_are_kept_out_of_logs_before_the_client(
    server: Server, clean_env: Path, tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first requests sign with the environment's secret: it is registered for
    redaction as botocore's credentials are, while the client is open, and only then."""
    from aios3 import _redact

    secret, token = "first-requests-secret-0123456789", "first-requests-token-0123456789"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFIRST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    config = aios3.Config(endpoint=server.endpoint, region=server.region)
    async with aios3.connect(config) as client:
        assert _unbuilt(client) and client._direct is not None
        assert {secret, token} <= set(_redact._literals())
        assert secret not in repr(client._direct._credentials)
        assert _redact.redact(f"signed with {secret}") == f"signed with {_redact.REDACTED}"
    assert not {secret, token} & set(_redact._literals())


_ERROR_200 = (
    b"<?xml version='1.0' encoding='UTF-8'?>\n"
    b"<Error><Code>InternalError</Code><Message>We encountered an internal error</Message></Error>"
)


@pytest.mark.parametrize("operation", ["list", "delete"])
async def test_a_200_with_an_error_body_is_an_error_on_every_path(
    operation: str, clean_env: Path, tables: None
) -> None:
    """S3 may answer 200 with an <Error> body: botocore takes it for a 500 (retried,
    then raised), so a listing is never read as an empty page, nor a delete as done.
    Before the client is built, once built, and on botocore's own path alike."""
    from test_raw_requests import _answer, _to_canned

    answer = _answer("200 OK", f"Content-Length: {len(_ERROR_200)}", body=_ERROR_200)
    canned = _Canned([answer])
    raised: dict[str, type[BaseException]] = {}
    async with canned as port:
        for how in ("first", "built", "botocore"):
            config = _to_canned(port, max_attempts=2, direct_requests=how != "botocore")
            canned.asked = 0
            async with aios3.connect(config, transfer=TransferConfig(part_retries=0)) as client:
                assert _unbuilt(client) == (how != "botocore")
                if how == "built":
                    assert client.client is not None
                with pytest.raises(aios3.S3Error) as error:
                    if operation == "list":
                        [o async for o in client.list("s3://bkt/")]
                    else:
                        await client.delete("s3://bkt/k")
                raised[how] = type(error.value)
                assert "InternalError" in str(error.value), how
                assert canned.asked == 2, how  # max_attempts, as a 500
    assert raised["first"] is raised["built"] is raised["botocore"]


async def _complete_on_every_path(body: bytes) -> dict[str, tuple[Any, int, bool]]:
    """A CompleteMultipartUpload that a canned server answers 200 with ``body``, sent
    before the client is built, once built, and on botocore's own path: what each
    returned (or raised), how many times it was asked, whether the client stayed
    unbuilt."""
    from test_raw_requests import _answer, _to_canned

    canned = _Canned([_answer("200 OK", f"Content-Length: {len(body)}", body=body)])
    parts = {"Parts": [{"ETag": '"e"', "PartNumber": 1}]}
    outcomes: dict[str, tuple[Any, int, bool]] = {}
    async with canned as port:
        for how in ("first", "built", "botocore"):
            config = _to_canned(port, max_attempts=2, direct_requests=how != "botocore")
            canned.asked = 0
            async with aios3.connect(config) as client:
                if how == "built":
                    assert client.client is not None
                try:
                    out: Any = await client.call(
                        "complete_multipart_upload",
                        action="complete multipart upload",
                        bucket="bkt",
                        key="k",
                        UploadId="u",
                        MultipartUpload=parts,
                    )
                except aios3.S3Error as error:
                    out = error
                outcomes[how] = (out, canned.asked, _unbuilt(client))
    return outcomes


@pytest.mark.parametrize(
    "body",
    [b"  \n  ", b"<CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>k", b"Done"],
    ids=["spaces", "cut", "text"],
)
async def test_a_complete_answered_200_with_a_body_that_does_not_parse_is_asked_again(
    body: bytes, clean_env: Path, tables: None
) -> None:
    """S3 answers a slow CompleteMultipartUpload with spaces, then its XML: a 200 whose
    body stops short, or is not XML at all, is what botocore takes for a 500 (asked
    again, then raised), before the client is built, once built, and on botocore's own
    path alike; never an upload taken for complete."""
    outcomes = await _complete_on_every_path(body)
    for how, (out, asked, _) in outcomes.items():
        assert isinstance(out, aios3.S3Error) and asked == 2, how  # max_attempts, as a 500
    assert len({type(out) for out, _, _ in outcomes.values()}) == 1


async def test_a_complete_answered_slowly_is_read_on_every_path(
    clean_env: Path, tables: None
) -> None:
    """The answer of a slow Complete as S3 sends it (its declaration, spaces while it
    works, then the result): read once, the same on every path."""
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n' + b" " * 5000 + b"\n"
        b"<CompleteMultipartUploadResult><Bucket>bkt</Bucket><Key>k</Key>"
        b"<ETag>&quot;abc-2&quot;</ETag></CompleteMultipartUploadResult>"
    )
    for how, (out, asked, unbuilt) in (await _complete_on_every_path(body)).items():
        assert (out["ETag"], out["Key"], asked) == ('"abc-2"', "k", 1), how
        assert unbuilt == (how == "first"), how


def test_tables_from_another_model_are_neither_kept_nor_used(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tables: None
) -> None:
    """A client built on a model of its own (AWS_DATA_PATH, ~/.aws/models) leaves no
    tables for the clients to come; tables that name another operation or method than
    the installed model's are refused, and open() builds the client."""
    from aios3._first import _entry, keep
    from aios3._model_cache import write_entry

    good = _load()
    where = _entry()
    assert good is not None and where is not None
    odd = {**good, "get_object": {**good["get_object"], "method": "DELETE"}}
    monkeypatch.setenv("AWS_DATA_PATH", str(clean_env / "models"))
    keep(odd)
    assert _load() == good  # not kept
    monkeypatch.delenv("AWS_DATA_PATH")
    keep(odd)
    try:
        assert _load() == odd  # kept (the same installation's, as far as keep knows)
        first = first_requests(_config())
        assert first is not None
        with pytest.raises(ValueError, match="another model"):
            DirectPath.before_client(first, sign_payload=None, raw=None)  # type: ignore[arg-type]
    finally:
        write_entry(where[0].parent, where[0], where[1], good)


def test_a_signed_requests_repr_shows_no_signature_or_token() -> None:
    """A first try travels in NeedsClient (and in exception chains): its request's
    headers, with the signature and any session token, stay out of reprs."""
    from aios3._direct import NeedsClient, Tried, _Request

    headers = {"authorization": "AWS4-HMAC-SHA256 Signature=abc", "x-amz-security-token": "tok"}
    request = _Request("GET", "http://127.0.0.1:1/b/k", headers, None, False, "127.0.0.1:1")
    text = repr(NeedsClient(Tried(request, OSError("refused"))).tried)
    assert "http://127.0.0.1:1/b/k" in text
    assert "Signature" not in text and "tok" not in text
