"""The fault-injection proxy itself, against moto's S3 server and plain aiobotocore."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import botocore.config
import botocore.exceptions
import pytest
from aiobotocore.session import get_session

from aios3.testing import Server, moto_server

try:  # tests/ as a package, or (pytest's default rootdir layout) as a plain directory
    from .faultproxy import Fault, FaultProxy
except ImportError:
    from faultproxy import Fault, FaultProxy  # type: ignore[no-redef]

BUCKET = "faultproxy"


@pytest.fixture(scope="module")
def moto() -> Iterator[Server]:
    with moto_server() as server:
        yield server


@pytest.fixture
async def proxy(moto: Server) -> AsyncIterator[FaultProxy]:
    url = urlsplit(moto.endpoint)
    assert url.hostname is not None and url.port is not None
    async with FaultProxy(url.hostname, url.port) as proxy:
        yield proxy


@asynccontextmanager
async def s3_client(proxy: FaultProxy, server: Server, **config: Any) -> AsyncIterator[Any]:
    options: dict[str, Any] = {
        # One attempt, no retries (in botocore, "max_attempts" counts retries only).
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "s3": {"addressing_style": "path"},
        "connect_timeout": 5,
        "read_timeout": 10,
    }
    options.update(config)
    async with get_session().create_client(
        "s3",
        endpoint_url=proxy.url,
        region_name=server.region,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=botocore.config.Config(**options),
    ) as client:
        with suppress(client.exceptions.BucketAlreadyOwnedByYou):
            await client.create_bucket(Bucket=BUCKET)
        yield client


async def get_bytes(client: Any, key: str) -> bytes:
    response = await client.get_object(Bucket=BUCKET, Key=key)
    async with response["Body"] as body:
        return await body.read()


async def test_pass_through(proxy: FaultProxy, moto: Server) -> None:
    big = bytes(range(256)) * (8 * 1024)  # 2 MiB: botocore sends Expect: 100-continue
    async with s3_client(proxy, moto) as s3:
        await s3.put_object(Bucket=BUCKET, Key="small", Body=b"hello")
        await s3.put_object(Bucket=BUCKET, Key="big", Body=io.BytesIO(big))
        assert await get_bytes(s3, "small") == b"hello"
        assert await get_bytes(s3, "big") == big
        head = await s3.head_object(Bucket=BUCKET, Key="big")
        assert head["ContentLength"] == len(big)
        listed = await s3.list_objects_v2(Bucket=BUCKET, Prefix="small")
        assert [o["Key"] for o in listed["Contents"]] == ["small"]
    assert proxy.fired == 0
    assert proxy.forwarded == proxy.requests >= 6
    assert ("HEAD", f"/{BUCKET}/big") in proxy.log


async def test_chunked_request_body_and_keep_alive(proxy: FaultProxy, moto: Server) -> None:
    async with s3_client(proxy, moto) as s3:
        await s3.put_object(Bucket=BUCKET, Key="before", Body=b"x")

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(5):
            yield bytes([65 + i]) * 10_000

    # aiohttp sends an async-iterator body with Transfer-Encoding: chunked; moto does not
    # check signatures, so an unsigned request is enough.
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as http:
        for key in ("chunked1", "chunked2"):  # the second one reuses the connection
            async with http.put(f"{proxy.url}/{BUCKET}/{key}", data=chunks()) as response:
                assert response.status == 200, await response.text()
    async with s3_client(proxy, moto) as s3:
        expected = b"".join(bytes([65 + i]) * 10_000 for i in range(5))
        assert await get_bytes(s3, "chunked2") == expected


async def test_status_fault_fails_once(proxy: FaultProxy, moto: Server) -> None:
    big = b"z" * (2 * 1024 * 1024)
    async with s3_client(proxy, moto) as s3:
        fault = proxy.add(Fault("status", method="PUT", path_contains="/slow"))
        with pytest.raises(botocore.exceptions.ClientError) as info:
            await s3.put_object(Bucket=BUCKET, Key="slow", Body=io.BytesIO(big))
        assert info.value.response["Error"]["Code"] == "SlowDown"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert fault.fired == 1 and fault.spent
        forwarded = proxy.forwarded
        await s3.put_object(Bucket=BUCKET, Key="slow", Body=io.BytesIO(big))
        assert proxy.forwarded == forwarded + 1
        assert await get_bytes(s3, "slow") == big

        proxy.add(Fault("status", method="HEAD", status=500, code="InternalError", times=2))
        for _ in range(2):
            with pytest.raises(botocore.exceptions.ClientError) as info:
                await s3.head_object(Bucket=BUCKET, Key="slow")
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert (await s3.head_object(Bucket=BUCKET, Key="slow"))["ContentLength"] == len(big)


async def test_truncate_response(proxy: FaultProxy, moto: Server) -> None:
    data = bytes(range(256)) * 400
    async with s3_client(proxy, moto) as s3:
        await s3.put_object(Bucket=BUCKET, Key="trunc", Body=data)
        fault = proxy.add(Fault("truncate", method="GET", path_contains="/trunc", after_bytes=1000))
        response = await s3.get_object(Bucket=BUCKET, Key="trunc")
        assert response["ContentLength"] == len(data)  # the head arrives intact
        # aiobotocore lets aiohttp's error through, not ResponseStreamingError.
        with pytest.raises(aiohttp.ClientPayloadError):
            async with response["Body"] as body:
                await body.read()
        assert fault.fired == 1
        assert await get_bytes(s3, "trunc") == data


async def test_reset_response(proxy: FaultProxy, moto: Server) -> None:
    data = b"r" * 100_000
    async with s3_client(proxy, moto) as s3:
        await s3.put_object(Bucket=BUCKET, Key="reset", Body=data)
        proxy.add(Fault("reset_response", method="GET", after_bytes=10))
        response = await s3.get_object(Bucket=BUCKET, Key="reset")
        # aiobotocore lets aiohttp's error through, not ResponseStreamingError.
        with pytest.raises(aiohttp.ClientPayloadError):
            async with response["Body"] as body:
                await body.read()
        assert await get_bytes(s3, "reset") == data


async def test_corrupt_response(proxy: FaultProxy, moto: Server) -> None:
    data = bytes(range(256)) * 400
    # Skip checksum validation so the corrupted bytes reach the caller.
    async with s3_client(proxy, moto, response_checksum_validation="when_required") as s3:
        await s3.put_object(Bucket=BUCKET, Key="corrupt", Body=data)
        proxy.add(Fault("corrupt", method="GET", path_contains="/corrupt", after_bytes=70_000))
        got = await get_bytes(s3, "corrupt")
        assert len(got) == len(data)
        assert [i for i in range(len(data)) if got[i] != data[i]] == [70_000]
        assert got[70_000] == data[70_000] ^ 0xFF
        assert await get_bytes(s3, "corrupt") == data


async def test_corrupt_response_caught_by_checksum(proxy: FaultProxy, moto: Server) -> None:
    data = b"c" * 50_000
    async with s3_client(proxy, moto) as s3:  # default: CRC32 on put, validated on get
        await s3.put_object(Bucket=BUCKET, Key="crc", Body=data)
        proxy.add(Fault("corrupt", method="GET", after_bytes=123))
        response = await s3.get_object(Bucket=BUCKET, Key="crc")
        with pytest.raises(botocore.exceptions.FlexibleChecksumError):
            async with response["Body"] as body:
                await body.read()


async def test_reset_request(proxy: FaultProxy, moto: Server) -> None:
    data = b"q" * 200_000
    async with s3_client(proxy, moto) as s3:
        # times=2: aiohttp itself retries an idempotent request (PUT too) once when the
        # connection fails, before botocore sees an error.
        fault = proxy.add(Fault("reset_request", method="PUT", after_bytes=50_000, times=2))
        with pytest.raises(botocore.exceptions.HTTPClientError):
            await s3.put_object(Bucket=BUCKET, Key="never", Body=data)
        assert fault.fired == 2
        with pytest.raises(botocore.exceptions.ClientError) as info:
            await s3.head_object(Bucket=BUCKET, Key="never")
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        await s3.put_object(Bucket=BUCKET, Key="never", Body=data)
        assert await get_bytes(s3, "never") == data


async def test_stall_hits_read_timeout(proxy: FaultProxy, moto: Server) -> None:
    async with s3_client(proxy, moto, read_timeout=0.5) as s3:
        await s3.put_object(Bucket=BUCKET, Key="stall", Body=b"s" * 1000)
        proxy.add(Fault("stall", method="GET", seconds=3))
        started = time.monotonic()
        with pytest.raises(botocore.exceptions.ReadTimeoutError):
            await s3.get_object(Bucket=BUCKET, Key="stall")
        assert time.monotonic() - started < 2.5
        assert await get_bytes(s3, "stall") == b"s" * 1000

        proxy.add(Fault("stall", method="GET", seconds=0.3, after_bytes=500))
        started = time.monotonic()
        assert await get_bytes(s3, "stall") == b"s" * 1000  # slow, but within the timeout
        assert time.monotonic() - started >= 0.3


async def test_rules_match_and_clear(proxy: FaultProxy, moto: Server) -> None:
    async with s3_client(proxy, moto) as s3:
        await s3.put_object(Bucket=BUCKET, Key="rules", Body=b"1")
        forever = proxy.add(Fault("status", method="GET", path_contains="nomatch", times=-1))
        always = proxy.add(Fault("status", method="DELETE", status=500, code="X", times=-1))
        assert await get_bytes(s3, "rules") == b"1"
        for _ in range(3):
            with pytest.raises(botocore.exceptions.ClientError):
                await s3.delete_object(Bucket=BUCKET, Key="rules")
        assert (forever.fired, always.fired, proxy.fired) == (0, 3, 3)
        proxy.clear()
        await s3.delete_object(Bucket=BUCKET, Key="rules")


async def test_close_with_stalled_connection(moto: Server) -> None:
    url = urlsplit(moto.endpoint)
    assert url.hostname is not None and url.port is not None
    proxy = FaultProxy(url.hostname, url.port)
    await proxy.start()
    async with s3_client(proxy, moto, read_timeout=30) as s3:
        proxy.add(Fault("stall", method="GET", seconds=60))
        request = asyncio.ensure_future(s3.list_objects_v2(Bucket=BUCKET))
        while proxy.fired == 0:  # noqa: ASYNC110 - the proxy has no event for this
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await proxy.close()
        assert time.monotonic() - started < 1
        # aiohttp retries the GET once, on a new connection, which the closed proxy refuses.
        with pytest.raises(botocore.exceptions.EndpointConnectionError):
            await request
