"""What goes on the wire and what comes back, alike on the direct path and botocore's:

- IPv6 endpoints (``http://[::1]:port``): the Host signed is the Host sent;
- response headers decoded as UTF-8 on both paths, and non-ASCII metadata refused
  alike (once, before any request) on both;
- ``copy()`` / ``update_metadata()`` of objects whose stored metadata or
  Content-Disposition another client wrote in UTF-8: what the caller gives is checked,
  what the server holds is kept;
- bad input (control characters in header values, ``extra`` of the wrong name or type)
  refused at once with :class:`aios3.InvalidRequest`, before any request;
- downloads to long file names (the temporary name stays within the filesystem's
  limit) and ``content_disposition()`` of names with no Latin letters;
- checksums of multipart objects written by other clients (boto3): composite ones,
  which moto reports without their ``-N``, are not taken for whole-object ones.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import io
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import pytest
from botocore.auth import S3SigV4Auth, _host_from_url
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from faultproxy import Fault, FaultProxy

import aios3
from aios3._download import partial_path
from aios3._info import ObjectInfo
from aios3._signing import Signer
from aios3.testing import Server

MiB = 1024 * 1024


def _blob(size: int, seed: int = 1) -> bytes:
    block = hashlib.sha256(seed.to_bytes(4, "big")).digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
async def proxy(server: Server) -> AsyncIterator[FaultProxy]:
    """A pass-through proxy, to count the requests a call sends."""
    parts = urlsplit(server.endpoint)
    async with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80) as p:
        yield p


@pytest.fixture(params=[True, False], ids=["direct", "botocore"])
async def client(
    request: pytest.FixtureRequest, server: Server, s3: aios3.S3, proxy: FaultProxy
) -> AsyncIterator[aios3.S3]:
    """A client on ``s3``'s bucket through ``proxy``, on one path or the other."""
    direct: bool = request.param
    config = server.config(
        endpoint=proxy.url, default_bucket=s3.config.default_bucket, direct_requests=direct
    )
    async with aios3.connect(config) as c:
        assert (c._direct is not None) == direct
        yield c


async def _raw_put(server: Server, bucket: str, key: str, body: bytes, **headers: str) -> None:
    """PUT an object as another SDK might: header values sent as raw UTF-8 bytes
    (which botocore refuses to send for metadata), signed with SigV4."""
    url = f"{server.endpoint}/{bucket}/{quote(key, safe='/~')}"
    parts = urlsplit(url)
    sent = {name.lower().replace("_", "-"): value for name, value in headers.items()}
    sent["content-length"] = str(len(body))
    Signer(server.region).sign(
        "PUT",
        parts.netloc,
        parts.path,
        "",
        sent,
        hashlib.sha256(body).hexdigest(),
        access_key=server.access_key_id,
        secret_key=server.secret_access_key,
    )
    async with aiohttp.ClientSession() as http, http.put(url, data=body, headers=sent) as resp:
        assert resp.status == 200, await resp.text()


# -- 8: IPv6 endpoints -------------------------------------------------------------


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://[::1]:8333",
        "http://[::1]",
        "https://[fd00::5]:9000",
        "http://127.0.0.1:8333",
        "https://s3.example.net",
        "https://s3.example.net:443",
    ],
)
async def test_signed_host_is_botocores(endpoint: str) -> None:
    """prepare()'s signature (and so its Host) against botocore's own signer for the
    same URL, which brackets an IPv6 literal as aiohttp's Host header does."""
    config = aios3.Config(
        endpoint=endpoint, access_key_id="AKIDEXAMPLE", secret_access_key="secret", region="r1"
    )
    async with aios3.connect(config) as client:
        direct = client._direct
        assert direct is not None
        target = await direct._target("bucket")
        assert target is not None
        creds = await direct._credentials.get_frozen_credentials()
        op = direct._ops["get_object"]
        request = direct.prepare(op, target, "a/key", {}, creds)
    assert target.host == _host_from_url(request.url)
    headers = request.headers
    signed = {k: v for k, v in headers.items() if k != "authorization"}
    aws = AWSRequest("GET", request.url, headers=signed)
    aws.context["timestamp"] = headers["x-amz-date"]
    auth = S3SigV4Auth(Credentials("AKIDEXAMPLE", "secret"), "s3", "r1")
    canonical = auth.canonical_request(aws)
    signature = auth.signature(auth.string_to_sign(aws, canonical), aws)
    assert headers["authorization"].endswith(f"Signature={signature}")


@pytest.mark.needs("auth")
@pytest.mark.parametrize("direct", [True, False], ids=["direct", "botocore"])
async def test_ipv6_endpoint(server: Server, s3: aios3.S3, tmp_path: Path, direct: bool) -> None:
    """A real server behind ``http://[::1]:port`` (a loopback relay on ::1): signed
    requests are accepted on both paths."""
    if not _ipv6_loopback():
        pytest.skip("this machine has no IPv6 loopback (::1) to listen on")
    parts = urlsplit(server.endpoint)
    async with FaultProxy(parts.hostname or "", parts.port or 80, host="::1") as relay:
        assert relay.url.startswith("http://[::1]:")
        config = server.config(
            endpoint=relay.url, default_bucket=s3.config.default_bucket, direct_requests=direct
        )
        async with aios3.connect(config) as client:
            assert (client._direct is not None) == direct
            info = await client.upload("v6/obj", b"over IPv6")
            assert (await client.head("v6/obj")).etag == info.etag
            assert await client.get_bytes("v6/obj") == b"over IPv6"
            await client.download("v6/obj", tmp_path / "obj")
            await client.delete("v6/obj")
        assert relay.requests >= 5
    assert (tmp_path / "obj").read_bytes() == b"over IPv6"
    assert not await s3.exists("v6/obj")


# -- 9: response headers in UTF-8, alike ------------------------------------------

_DISPOSITION = 'attachment; filename="café 報告.txt"'


async def test_utf8_headers_read_alike(server: Server, s3: aios3.S3, tmp_path: Path) -> None:
    """UTF-8 metadata and Content-Disposition written by another client read back the
    same, as text, through head, get, stream and download, on both paths."""
    bucket = s3.config.default_bucket or ""
    await _raw_put(
        server,
        bucket,
        "u/obj",
        b"body",
        x_amz_meta_name="café ☕",
        content_disposition=_DISPOSITION,
    )
    seen = []
    for direct in (True, False):
        config = server.config(default_bucket=bucket, direct_requests=direct)
        async with aios3.connect(config) as client:
            assert (client._direct is not None) == direct
            infos = [await client.head("u/obj")]
            infos.append((await client.get("u/obj"))[1])
            async with client.stream("u/obj") as body:
                infos.append(body.info)
                assert await body.read() == b"body"
            infos.append(await client.download("u/obj", tmp_path / "obj"))
        for info in infos:
            assert info.metadata == {"name": "café ☕"}
            assert info.content_disposition == _DISPOSITION
        seen.append(infos[0])
    assert seen[0] == seen[1]


@pytest.mark.parametrize(
    "extra",
    [
        {"Metadata": {"name": "café"}},
        {"Metadata": {"naïve": "x"}},
        {"Metadata": {"k": "line\nbreak"}},
    ],
)
async def test_extra_metadata_checked_as_metadata(
    client: aios3.S3, proxy: FaultProxy, extra: dict[str, Any]
) -> None:
    """Metadata passed through ``extra`` is checked like ``metadata=``: refused before
    any request on both paths (the direct path used to send what botocore refuses)."""
    with pytest.raises(aios3.InvalidRequest):
        await client.upload("u/refused", b"x", extra=extra)
    assert proxy.requests == 0


# -- 10: copy and update of objects holding non-ASCII headers -----------------------


async def test_copy_keeps_what_the_source_holds(server: Server, s3: aios3.S3) -> None:
    """copy() and update_metadata() check what the caller gives, not what the server
    holds: a source whose metadata and Content-Disposition are UTF-8 copies as is."""
    bucket = s3.config.default_bucket or ""
    await _raw_put(
        server,
        bucket,
        "c/src",
        b"source",
        x_amz_meta_name="café",
        content_disposition=_DISPOSITION,
        content_type="text/plain",
    )
    info = await s3.copy("c/src", "c/dst")
    head = await s3.head("c/dst")
    assert head.metadata == {"name": "café"} and head.content_disposition == _DISPOSITION
    assert info.metadata == {"name": "café"}
    # A header given replaces that one; the UTF-8 ones kept travel as they are.
    await _raw_put(server, bucket, "c/cd", b"cd", content_disposition=_DISPOSITION)
    await s3.update_metadata("c/cd", {"owner": "ana"}, cache_control="no-cache")
    head = await s3.head("c/cd")
    assert head.metadata == {"owner": "ana"} and head.cache_control == "no-cache"
    assert head.content_disposition == _DISPOSITION
    await s3.copy("c/src", "c/dst2", metadata={"k": "v"})
    head = await s3.head("c/dst2")
    assert head.metadata == {"k": "v"} and head.content_disposition == _DISPOSITION
    # What the caller gives is still checked.
    with pytest.raises(aios3.InvalidRequest, match="ASCII"):
        await s3.copy("c/src", "c/dst3", content_disposition=_DISPOSITION)
    assert not await s3.exists("c/dst3")


async def test_update_cannot_resend_utf8_metadata(server: Server, s3: aios3.S3) -> None:
    """Changing a header re-sends the metadata kept, and botocore sends only ASCII
    metadata: a clear InvalidRequest before the copy, the object left as it was."""
    bucket = s3.config.default_bucket or ""
    await _raw_put(server, bucket, "c/meta", b"meta", x_amz_meta_name="café")
    with pytest.raises(aios3.InvalidRequest, match=r"(?i)ascii"):
        await s3.update_metadata("c/meta", content_type="text/csv")
    head = await s3.head("c/meta")
    assert head.metadata == {"name": "café"} and head.content_type != "text/csv"
    await s3.update_metadata("c/meta", {"name": "cafe"}, content_type="text/csv")
    assert (await s3.head("c/meta")).metadata == {"name": "cafe"}


# -- 11: bad input refused at once -----------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"content_type": "text/plain\x0b"},
        {"cache_control": "\x1b[31mred"},
        {"content_language": "en\x7f"},
        {"content_disposition": "attachment\x00"},
        {"metadata": {"k": "a\x0bb"}},
        {"extra": {"ACL": 5}},
        {"extra": {"ACL": "private\x1b"}},
        {"extra": {"Tagging": b"a=b"}},
        {"extra": {"Metadata": "not a mapping"}},
        {"extra": {"NoSuchParameter": "x"}},
        {"extra": {"Bucket": "other"}},
    ],
    ids=lambda kwargs: repr(kwargs)[1:40],
)
async def test_bad_input_refused_before_any_request(
    client: aios3.S3, proxy: FaultProxy, kwargs: dict[str, Any]
) -> None:
    """A control character in a header value or an ``extra`` of the wrong name or type
    is bad input: InvalidRequest at once, on both paths, for every write, with nothing
    sent (it used to be retried for half a minute and end as a TransferError)."""
    started = time.monotonic()
    with pytest.raises(aios3.InvalidRequest):
        await client.upload("b/small", b"x", **kwargs)
    with pytest.raises(aios3.InvalidRequest):
        await client.upload(
            "b/big",
            _blob(6 * MiB),
            transfer=aios3.TransferConfig(part_size=5 * MiB, multipart_threshold=0),
            **kwargs,
        )
    with pytest.raises(aios3.InvalidRequest):
        client.multipart_upload("b/mp", **kwargs)
    assert time.monotonic() - started < 2
    assert proxy.requests == 0


async def test_good_extra_still_passes(client: aios3.S3, s3: aios3.S3) -> None:
    """What botocore takes still goes through ``extra`` on both paths."""
    await client.upload(
        "b/ok", b"ok", extra={"Metadata": {"Owner": "ana"}, "ContentLanguage": "en"}
    )
    info = await s3.head("b/ok")
    assert info.metadata == {"owner": "ana"} and info.content_language == "en"
    await client.upload("b/typed", b"t", extra={"ContentType": "text/x-custom"})  # no clash
    assert (await s3.head("b/typed")).content_type == "text/x-custom"


# -- 12: long file names, non-Latin names ----------------------------------------------


def _name_max(folder: Path) -> int:
    return int(os.pathconf(folder, "PC_NAME_MAX"))


@pytest.mark.parametrize(
    "name",
    ["a" * 232, "b" * 240, "c" * 255, "é" * 127, "報" * 85],
    ids=["232", "240", "255", "254-utf8", "255-cjk"],
)
async def test_download_to_a_long_name(s3: aios3.S3, tmp_path: Path, name: str) -> None:
    """Names up to the filesystem's limit download (the temporary name beside it is
    cut to fit); one over it is refused before any request, nothing written."""
    if len(os.fsencode(name)) > _name_max(tmp_path):
        pytest.skip(f"{tmp_path}'s filesystem takes names of {_name_max(tmp_path)} bytes")
    await s3.upload("n/obj", b"long name")
    target = tmp_path / name
    await s3.download("n/obj", target)
    assert target.read_bytes() == b"long name"
    assert [p.name for p in tmp_path.iterdir()] == [name]


async def test_download_to_a_name_too_long(s3: aios3.S3, tmp_path: Path) -> None:
    name = "x" * (_name_max(tmp_path) + 1)
    with pytest.raises(aios3.InvalidRequest, match="bytes"):
        await s3.download("n/missing", tmp_path / name)  # refused before the HEAD
    assert list(tmp_path.iterdir()) == []


def test_partial_name_fits(tmp_path: Path) -> None:
    limit = _name_max(tmp_path)
    for name in ("short.txt", "a" * 255, "é" * 127, "報" * 85, "x" * 233):
        partial = partial_path(tmp_path / name)
        assert partial.parent == tmp_path
        assert len(os.fsencode(partial.name)) <= limit
        assert partial.name.startswith("." + name[:50]) and partial.name.endswith(".aios3-partial")
    assert partial_path(tmp_path / "f") != partial_path(tmp_path / "f")
    assert partial_path(tmp_path / "short.txt").name.startswith(".short.txt.")


@pytest.mark.parametrize(
    ("filename", "fallback"),
    [
        ("報告.txt", "download.txt"),
        ("😀.png", "download.png"),
        ("😀", "download"),
        ("報告 2026.pdf", "_ 2026.pdf"),
        ("résumé.pdf", "resume.pdf"),
        ("plain.txt", "plain.txt"),
        ('a"b;c.txt', "a_b_c.txt"),
    ],
)
def test_content_disposition_fallback(filename: str, fallback: str) -> None:
    """An ASCII fallback built from the name (never a bare ".txt"), and the exact name
    in RFC 5987's ``filename*``."""
    value = aios3.content_disposition(filename=filename)
    assert value.startswith(f'attachment; filename="{fallback}"')
    if fallback != filename:
        assert value.endswith(f"; filename*=UTF-8''{quote(filename, safe='')}")
    else:
        assert "filename*" not in value
    assert value.isascii()


# -- 13: checksums of other clients' multipart objects ------------------------------


def _boto3(server: Server) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        verify=server.ca_bundle,
    )


@pytest.mark.parametrize("algorithm", ["SHA256", "CRC32"])
async def test_other_clients_multipart_downloads(
    server: Server, s3: aios3.S3, tmp_path: Path, algorithm: str
) -> None:
    """A boto3 multipart upload with a (composite) checksum, which moto's HEAD reports
    without its ``-N``: download (one GET and ranged) and get_bytes succeed, bytes
    intact, the length checked."""
    from boto3.s3.transfer import TransferConfig

    bucket = s3.config.default_bucket or ""
    data = _blob(11 * MiB + 7, seed=13)
    await asyncio.to_thread(
        _boto3(server).upload_fileobj,
        io.BytesIO(data),
        bucket,
        "m/boto3",
        ExtraArgs={"ChecksumAlgorithm": algorithm},
        Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB),
    )
    head = await s3.head("m/boto3")
    assert head.etag is not None and head.etag.endswith('-3"')
    assert head.full_object_checksum is None
    for name, transfer in [
        ("one-get", aios3.TransferConfig(download_threshold=64 * MiB)),
        ("ranged", aios3.TransferConfig(part_size=5 * MiB, download_threshold=MiB)),
    ]:
        await s3.download("m/boto3", tmp_path / name, transfer=transfer)
        assert (tmp_path / name).read_bytes() == data, name
    assert await s3.get_bytes("m/boto3") == data


async def test_own_sha_multipart_downloads(s3: aios3.S3, tmp_path: Path) -> None:
    """aios3's own SHA256 multipart uploads (composite checksums) download too."""
    data = _blob(11 * MiB, seed=14)
    put = aios3.TransferConfig(
        part_size=5 * MiB, multipart_threshold=5 * MiB, checksum_algorithm="SHA256"
    )
    await s3.upload("m/own", data, transfer=put)
    await s3.download("m/own", tmp_path / "own")
    assert (tmp_path / "own").read_bytes() == data


async def test_wrong_whole_object_checksum_still_raises(
    server: Server, server_kind: str, s3: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A single-part object's whole-object SHA256 is still checked: bytes corrupted on
    the way fail the download, on both download paths, and nothing is left behind."""
    data = _blob(6 * MiB + 3, seed=15)
    bucket = s3.config.default_bucket or ""
    boto3 = _boto3(server)  # which moto keeps the SHA256 of (aios3's own, not)
    await asyncio.to_thread(
        boto3.put_object, Bucket=bucket, Key="m/sha", Body=data, ChecksumAlgorithm="SHA256"
    )
    if (await s3.head("m/sha")).full_object_checksum is None:
        pytest.skip(f"{server_kind}: reports no SHA256 on HEAD of a single-part object")
    config = dataclasses.replace(s3.config, endpoint=proxy.url)
    proxy.add(Fault("corrupt", method="GET", after_bytes=1000, times=-1))
    async with aios3.connect(config) as client:
        for name, transfer in [
            ("one-get", aios3.TransferConfig(download_threshold=64 * MiB, part_retries=0)),
            ("ranged", aios3.TransferConfig(part_size=5 * MiB, download_threshold=MiB)),
        ]:
            with pytest.raises(aios3.IntegrityError, match=r"(?i)checksum"):
                await client.download("m/sha", tmp_path / name, transfer=transfer)
    assert list(tmp_path.iterdir()) == []


async def test_range_failing_its_checksum_is_fetched_whole_again(
    server: Server, server_kind: str, s3: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    """A range whose response carries a checksum (one range covering the whole object)
    and whose bytes fail it once: it is fetched again from its start, not resumed at
    its end (an empty range, which the server refuses), and the download is whole."""
    bucket = s3.config.default_bucket or ""
    data = _blob(3 * MiB, seed=16)
    await asyncio.to_thread(
        _boto3(server).put_object,
        Bucket=bucket,
        Key="m/one-range",
        Body=data,
        ChecksumAlgorithm="CRC32",
    )
    probe = await s3.client.get_object(
        Bucket=bucket, Key="m/one-range", Range=f"bytes=0-{len(data) - 1}", ChecksumMode="ENABLED"
    )
    async with probe["Body"] as body:
        await body.read()
    if not any(h.startswith("x-amz-checksum-") for h in probe["ResponseMetadata"]["HTTPHeaders"]):
        pytest.skip(f"{server_kind}: sends no checksum with a ranged GET")
    config = dataclasses.replace(s3.config, endpoint=proxy.url)
    rule = proxy.add(Fault("corrupt", method="GET", after_bytes=5000, times=1))
    transfer = aios3.TransferConfig(part_size=5 * MiB, download_threshold=MiB, retry_backoff=0)
    async with aios3.connect(config) as client:
        await client.download("m/one-range", tmp_path / "out", transfer=transfer)
    assert rule.fired == 1
    assert (tmp_path / "out").read_bytes() == data


_SHA = base64.b64encode(hashlib.sha256(b"x").digest()).decode()
_CRC = base64.b64encode(b"\x01\x02\x03\x04").decode()


@pytest.mark.parametrize(
    ("etag", "kind", "parts", "checksums", "expected"),
    [
        ('"abc"', None, None, {"SHA256": _SHA}, ("SHA256", _SHA)),
        ('"abc-3"', None, None, {"SHA256": _SHA}, None),  # moto: composite, no -N
        ('"abc-3"', None, None, {"CRC32": _CRC}, None),
        ('"abc"', None, 2, {"SHA256": _SHA}, None),
        ('"abc-3"', "FULL_OBJECT", None, {"CRC32": _CRC}, ("CRC32", _CRC)),
        ('"abc-3"', "COMPOSITE", None, {"SHA256": _SHA}, None),
        ('"abc"', "COMPOSITE", None, {"SHA256": _SHA}, None),
        ('"abc-3"', "FULL_OBJECT", None, {"SHA256": _SHA + "-3"}, None),
        ('"abc"', None, None, {"SHA256": _CRC}, None),  # not a SHA256's size
        ('"abc"', None, None, {"SHA1": "not base64!"}, None),
        ('"abc"', "SOMETHING_NEW", None, {"SHA256": _SHA}, None),
    ],
)
def test_full_object_checksum(
    etag: str,
    kind: str | None,
    parts: int | None,
    checksums: dict[str, str],
    expected: tuple[str, str] | None,
) -> None:
    info = ObjectInfo(
        bucket="b", key="k", etag=etag, checksum_type=kind, parts=parts, checksums=checksums
    )
    assert info.full_object_checksum == expected


@pytest.mark.parametrize("checksums", [None, "when_required"])
async def test_an_upload_naming_no_checksum_goes_as_botocore_sends_it(
    s3: aios3.S3, proxy: FaultProxy, checksums: str | None
) -> None:
    """``checksum_algorithm=None``: each body carries what botocore would put on it
    unasked (a CRC32 of its bytes; nothing where checksums go only when required),
    computed by aios3 and sent on aios3's own path rather than left to botocore's,
    which read every body twice more (2.4 times the CPU of a CRC32 upload). The upload
    declares no algorithm: its Create names none and its object records none."""
    import zlib

    config = dataclasses.replace(s3.config, endpoint=proxy.url, checksum=checksums)
    transfer = aios3.TransferConfig(
        checksum_algorithm=None, part_size=5 * MiB, multipart_threshold=5 * MiB
    )
    small, big = _blob(1000, seed=21), _blob(11 * MiB, seed=22)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), MiB):
            yield big[start : start + MiB]

    async with aios3.connect(config, transfer=transfer) as client:
        assert (await client.upload("n/small", small)).checksums == {}
        stored = await client.upload("n/big", chunks())
    assert stored.parts == 3 and stored.checksums == {}
    bodies = {
        "n/small": small,
        "partNumber=1": big[: 5 * MiB],
        "partNumber=2": big[5 * MiB : 10 * MiB],
        "partNumber=3": big[10 * MiB :],
    }
    sent: dict[str, dict[str, str]] = {}
    for (method, target), headers in zip(proxy.log, proxy.headers, strict=True):
        assert headers.get("user-agent", "").startswith("aios3"), (method, target)
        assert "x-amz-checksum-algorithm" not in headers, (method, target)
        if method == "PUT":
            sent.update({name: headers for name in bodies if name in target})
    assert sorted(sent) == sorted(bodies)
    for name, headers in sent.items():
        crc = base64.b64encode(zlib.crc32(bodies[name]).to_bytes(4, "big")).decode()
        assert headers.get("x-amz-checksum-crc32") == (crc if checksums is None else None)
    assert await s3.get_bytes("n/big") == big
    assert await s3.get_bytes("n/small") == small


async def test_a_checksum_of_the_callers_own_in_extra_goes_alone(
    s3: aios3.S3, proxy: FaultProxy
) -> None:
    """``checksum_algorithm=None`` with a checksum given in ``extra``: that one goes,
    and no CRC32 is added beside it (as botocore adds none where one is given)."""
    import zlib

    data = _blob(1000, seed=23)
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    config = dataclasses.replace(s3.config, endpoint=proxy.url)
    async with aios3.connect(config, transfer=aios3.TransferConfig(checksum_algorithm=None)) as c:
        await c.upload("n/own-sha", data, extra={"ChecksumSHA256": sha})
        await c.upload("n/own-crc", data, extra={"ChecksumCRC32": crc})
    log = zip(proxy.log, proxy.headers, strict=True)
    puts = {t.split("?")[0]: h for (m, t), h in log if m == "PUT"}
    own_sha = puts[f"/{s3.config.default_bucket}/n/own-sha"]
    assert own_sha.get("x-amz-checksum-sha256") == sha
    assert "x-amz-checksum-crc32" not in own_sha
    assert puts[f"/{s3.config.default_bucket}/n/own-crc"].get("x-amz-checksum-crc32") == crc
    assert await s3.get_bytes("n/own-sha") == data
    assert await s3.get_bytes("n/own-crc") == data
