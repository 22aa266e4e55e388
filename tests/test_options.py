"""Request options that follow an operation to every request it makes (SSE-C, requester
pays, expected bucket owner) and those written once with an object (ACL, tags, SSE-S3,
SSE-KMS, object lock), against the real servers. A loopback proxy records each request's
headers, which proves what every request carried where a server does not enforce it
(SeaweedFS accepts a part sent without the SSE-C key; moto enforces no SSE-C at all)."""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import open_uploads
from faultproxy import FaultProxy
from test_roundtrip import blob

import aios3
from aios3 import MiB, SSECustomerKey, TransferConfig
from aios3.testing import Server

SSE_KEY = "x-amz-server-side-encryption-customer-key"
SOURCE_KEY = "x-amz-copy-source-server-side-encryption-customer-key"
SMALL = TransferConfig(
    part_size=5 * MiB,
    multipart_threshold=5 * MiB,
    download_threshold=5 * MiB,
    copy_threshold=5 * MiB,
    copy_part_size=5 * MiB,
)


@pytest.fixture
async def watched(server: Server, proxy: FaultProxy, bucket_name: str) -> AsyncIterator[aios3.S3]:
    """A client whose requests go through the recording proxy, on a new bucket."""
    config = server.config(endpoint=proxy.url, default_bucket=bucket_name)
    async with aios3.connect(config, transfer=SMALL) as s3:
        await s3.create_bucket(bucket_name)
        yield s3
        await s3.delete_bucket(bucket_name, force=True)


def requests_for(proxy: FaultProxy, fragment: str) -> list[tuple[str, str, dict[str, str]]]:
    return [
        (method, target, headers)
        for (method, target), headers in zip(proxy.log, proxy.headers, strict=True)
        if fragment in target
    ]


def carried(headers: dict[str, str], key: SSECustomerKey, name: str = SSE_KEY) -> bool:
    expected = key.params()["SSECustomerKey"]
    return headers.get(name) == expected and headers.get(name + "-md5") is not None


# -- checked before any request ----------------------------------------------------------


async def test_bad_options_are_refused_before_any_request(
    watched: aios3.S3, proxy: FaultProxy
) -> None:
    key = SSECustomerKey(os.urandom(32))
    before = proxy.requests
    bad: list[tuple[str, object]] = [
        ("16 bytes", lambda: SSECustomerKey(os.urandom(16))),
        ("str", lambda: SSECustomerKey("k" * 32)),  # type: ignore[arg-type]
    ]
    for _, make in bad:
        with pytest.raises(aios3.InvalidRequest, match="32 bytes"):
            make()  # type: ignore[operator]
    calls = [
        watched.upload("k", b"x", sse_c=key, sse="AES256"),
        watched.upload("k", b"x", sse_c=key, sse_kms_key_id="alias/k"),
        watched.upload("k", b"x", sse="aws:none"),  # type: ignore[typeddict-item]
        watched.upload("k", b"x", acl="everyone"),  # type: ignore[typeddict-item]
        watched.upload("k", b"x", tags={f"k{i}": "v" for i in range(11)}),
        watched.upload("k", b"x", tags={"k": "a&b"}),
        watched.upload("k", b"x", tags={"aws:mine": "v"}),
        watched.upload("k", b"x", tags={"k" * 129: "v"}),
        watched.upload("k", b"x", bucket_key=True),
        watched.upload("k", b"x", expected_bucket_owner="me"),
        watched.upload("k", b"x", request_payer="someone"),  # type: ignore[typeddict-item]
        watched.upload("k", b"x", sse_c=b"raw key"),  # type: ignore[typeddict-item]
        watched.upload("k", b"x", colour="blue"),  # type: ignore[call-arg]
        watched.get_bytes("k", acl="public-read"),  # type: ignore[call-arg]
        watched.put_tags("k", {"k": "v" * 257}),
        watched.upload("k", b"x", extra={"ACL": "private"}, acl="public-read"),
    ]
    for call in calls:
        with pytest.raises(aios3.InvalidRequest):
            await call
    with pytest.raises(aios3.InvalidRequest, match="mode and a retain_until"):
        aios3.ObjectLock(mode="GOVERNANCE")
    with pytest.raises(aios3.ConfigError, match="12-digit"):
        aios3.Config(expected_bucket_owner="12")
    assert proxy.requests == before  # not one request went out


def test_a_customer_key_never_shows() -> None:
    raw = os.urandom(32)
    key = SSECustomerKey(raw)
    shown = key.params()["SSECustomerKey"]
    assert shown not in repr(key) and raw.hex() not in repr(key)
    assert repr(key) == "SSECustomerKey(<hidden>)"
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(key)
    assert key == SSECustomerKey(raw) and key != SSECustomerKey(os.urandom(32))


# -- SSE-C on every request ---------------------------------------------------------------


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "botocore"])
async def test_sse_c_reaches_every_request(
    server: Server, watched: aios3.S3, proxy: FaultProxy, tmp_path: Path, direct: bool
) -> None:
    """On the direct path and on botocore's alike."""
    config = dataclasses.replace(watched.config, direct_requests=direct)
    async with aios3.connect(config, transfer=SMALL) as s3:
        await _sse_c_everywhere(server, s3, proxy, tmp_path)


async def _sse_c_everywhere(
    server: Server, watched: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    key = SSECustomerKey(os.urandom(32))
    small, big = b"secret", blob(12 * MiB, seed=21)
    info = await watched.upload("c/small", small, sse_c=key)
    assert info.encryption in ("SSE-C", None)
    await watched.upload("c/big", big, sse_c=key)  # Create, 3 parts, Complete
    if server.name != "moto":  # moto does not say so on HEAD
        assert (await watched.head("c/big", sse_c=key)).encryption == "SSE-C"
    assert await watched.get_bytes("c/small", sse_c=key) == small
    assert await watched.get_bytes("c/big", sse_c=key, start=MiB, end=MiB + 10) == big[MiB:][:10]
    chunks = []
    async with watched.stream("c/big", sse_c=key, start=6 * MiB) as body:
        async for chunk in body:
            chunks.append(chunk)
    assert b"".join(chunks) == big[6 * MiB :]
    await watched.download("c/big", tmp_path / "big", sse_c=key)  # HEAD + ranged GETs
    assert (tmp_path / "big").read_bytes() == big
    assert await watched.exists("c/big", sse_c=key)
    sent = requests_for(proxy, "/c/")
    assert {m for m, _, _ in sent} == {"PUT", "POST", "HEAD", "GET"}
    for method, target, headers in sent:  # put, create, parts, complete, heads, gets
        assert carried(headers, key), f"{method} {target} went without the key"
    parts = [t for m, t, _ in requests_for(proxy, "/c/big") if "partNumber=" in t]
    assert len(parts) == 3
    ranged = [h for m, t, h in requests_for(proxy, "/c/big") if m == "GET" and "range" in h]
    assert len(ranged) >= 4


async def test_sse_c_copy_and_update_metadata(watched: aios3.S3, proxy: FaultProxy) -> None:
    old, new = SSECustomerKey(os.urandom(32)), SSECustomerKey(os.urandom(32))
    await watched.upload("c/tiny", b"tiny", sse_c=old)
    await watched.copy("c/tiny", "c/tiny2", source_sse_c=old, sse_c=new)  # one CopyObject
    assert await watched.get_bytes("c/tiny2", sse_c=new) == b"tiny"
    copy = [h for m, t, h in requests_for(proxy, "/c/tiny2") if "x-amz-copy-source" in h]
    assert len(copy) == 1 and carried(copy[0], new) and carried(copy[0], old, SOURCE_KEY)
    source_heads = [h for m, t, h in requests_for(proxy, "/c/tiny") if m == "HEAD"]
    assert source_heads and all(carried(h, old) for h in source_heads)
    await watched.update_metadata("c/tiny2", {"v": "2"}, sse_c=new)
    info = await watched.head("c/tiny2", sse_c=new)
    assert info.metadata == {"v": "2"}
    assert await watched.get_bytes("c/tiny2", sse_c=new) == b"tiny"


async def test_sse_c_multipart_copy(server: Server, watched: aios3.S3, proxy: FaultProxy) -> None:
    if server.name == "seaweedfs":
        pytest.skip("seaweedfs: UploadPartCopy with SSE-C headers answers NotImplemented")
    old, new = SSECustomerKey(os.urandom(32)), SSECustomerKey(os.urandom(32))
    data = blob(11 * MiB, seed=4)
    await watched.upload("c/src", data, sse_c=old)
    await watched.copy("c/src", "c/dst", source_sse_c=old, sse_c=new)  # UploadPartCopy parts
    assert await watched.get_bytes("c/dst", sse_c=new) == data
    parts = [h for m, t, h in requests_for(proxy, "/c/dst") if "x-amz-copy-source" in h]
    assert len(parts) == 3
    assert all(carried(h, new) and carried(h, old, SOURCE_KEY) for h in parts)
    others = [h for m, t, h in requests_for(proxy, "/c/dst") if "x-amz-copy-source" not in h]
    assert others and all(carried(h, new) for h in others if h)  # create, complete, get


async def test_sse_c_enforced_by_the_server(server: Server, watched: aios3.S3) -> None:
    if server.name == "moto":
        pytest.skip("moto: moto stores SSE-C objects but never asks for the key")
    key = SSECustomerKey(os.urandom(32))
    await watched.upload("c/locked", b"locked", sse_c=key)
    shown = key.params()["SSECustomerKey"]
    for attempt in (
        watched.get_bytes("c/locked"),
        watched.get_bytes("c/locked", sse_c=SSECustomerKey(os.urandom(32))),
        watched.head("c/locked"),
    ):
        with pytest.raises(aios3.S3Error) as caught:
            await attempt
        assert shown not in str(caught.value)
    with pytest.raises(aios3.S3Error, match=r"sse_c|customer key|SSE-C"):
        await watched.head("c/locked")
    assert await open_uploads(watched, watched.config.default_bucket or "") == []


async def test_sse_c_key_stays_out_of_debug_logs(
    watched: aios3.S3, caplog: pytest.LogCaptureFixture
) -> None:
    key = SSECustomerKey(os.urandom(32))
    watched_config = watched.config
    async with aios3.connect(watched_config, direct_requests=False, transfer=SMALL) as s3:
        with caplog.at_level(logging.DEBUG):
            await s3.upload("c/logged", b"x" * 10, sse_c=key)
            await s3.get_bytes("c/logged", sse_c=key)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "SSECustomerKey" in text or SSE_KEY in text.lower()  # botocore did log them
    assert key.params()["SSECustomerKey"] not in text


async def test_resume_carries_the_key(watched: aios3.S3, proxy: FaultProxy) -> None:
    key = SSECustomerKey(os.urandom(32))
    bucket = watched.config.default_bucket or ""
    data = blob(11 * MiB, seed=8)
    resp = await watched.client.create_multipart_upload(
        Bucket=bucket, Key="c/resume", **key.params()
    )
    upload_id = resp["UploadId"]
    await watched.resume_upload("c/resume", upload_id, data, sse_c=key)
    assert await watched.get_bytes("c/resume", sse_c=key) == data
    for method, target, headers in requests_for(proxy, "uploadId="):
        if method in ("PUT", "POST", "GET"):  # parts, complete, list parts
            assert carried(headers, key), f"{method} {target}"


# -- written once, with the object -------------------------------------------------------


async def test_tags_on_write_and_the_tag_calls(watched: aios3.S3) -> None:
    await watched.upload("t/a", b"a", tags={"env": "prod", "team": "data eng"})
    assert await watched.get_tags("t/a") == {"env": "prod", "team": "data eng"}
    await watched.upload("t/big", blob(6 * MiB), tags={"size": "big"})  # multipart
    assert await watched.get_tags("t/big") == {"size": "big"}
    await watched.copy("t/a", "t/b")  # tags copied with the object
    assert await watched.get_tags("t/b") == {"env": "prod", "team": "data eng"}
    await watched.copy("t/a", "t/c", tags={"copied": "yes"})  # replaced
    assert await watched.get_tags("t/c") == {"copied": "yes"}
    await watched.put_tags("t/a", {"x": "1"})
    assert await watched.get_tags("t/a") == {"x": "1"}
    await watched.delete_tags("t/a")
    assert await watched.get_tags("t/a") == {}


async def test_canned_acl_public_read(server: Server, watched: aios3.S3, proxy: FaultProxy) -> None:
    await watched.upload("p/public", b"for all", acl="public-read")
    await watched.upload("p/private", b"mine")
    sent = [h for m, t, h in requests_for(proxy, "/p/public") if m == "PUT"]
    assert sent and all(h.get("x-amz-acl") == "public-read" for h in sent)
    if server.name == "seaweedfs":
        pytest.skip("seaweedfs: object ACLs are not honoured for anonymous reads")
    config = server.config(anonymous=True, default_bucket=watched.config.default_bucket)
    async with aios3.connect(config) as anonymous:
        assert await anonymous.get_bytes("p/public") == b"for all"
        with pytest.raises(aios3.AccessDenied):
            await anonymous.get_bytes("p/private")


async def test_sse_s3_and_kms(server: Server, watched: aios3.S3, proxy: FaultProxy) -> None:
    info = await watched.upload("s/aes", b"aes", sse="AES256")
    assert (await watched.head("s/aes")).encryption == "AES256"
    assert info.encryption in ("AES256", None)
    await watched.upload("s/aes-big", blob(6 * MiB), sse="AES256")
    assert (await watched.head("s/aes-big")).encryption == "AES256"
    if server.name == "seaweedfs":
        pytest.skip("seaweedfs: SSE-KMS needs a KMS it is not configured with (InternalError)")
    context = {"app": "aios3"}
    await watched.upload("s/kms", b"kms", sse_kms_key_id="alias/aios3", sse_kms_context=context)
    head = await watched.head("s/kms")
    assert head.encryption == "aws:kms" and head.kms_key_id
    sent = next(h for m, t, h in requests_for(proxy, "/s/kms") if m == "PUT")
    assert sent["x-amz-server-side-encryption"] == "aws:kms"
    assert "x-amz-server-side-encryption-context" in sent


async def test_object_lock_params_are_sent(
    server: Server, proxy: FaultProxy, bucket_name: str
) -> None:
    until = datetime.now(UTC) + timedelta(days=1)
    lock = aios3.ObjectLock(mode="GOVERNANCE", retain_until=until, legal_hold=True)
    config = server.config(endpoint=proxy.url, default_bucket=bucket_name)
    # S3 wants an integrity header with a lock (moto: Content-MD5 itself)
    async with aios3.connect(config, transfer=TransferConfig(checksum_algorithm="MD5")) as s3:
        await s3.client.create_bucket(Bucket=bucket_name, ObjectLockEnabledForBucket=True)
        try:
            await s3.upload("l/held", b"held", object_lock=lock)
        except aios3.S3Error as err:
            pytest.skip(f"{server.name}: object lock refused: {err.code}")
        sent = next(h for m, t, h in requests_for(proxy, "/l/held") if m == "PUT")
        assert sent["x-amz-object-lock-mode"] == "GOVERNANCE"
        assert sent["x-amz-object-lock-legal-hold"] == "ON"
        assert sent["x-amz-object-lock-retain-until-date"].startswith(str(until.year))
        stored = await s3.client.head_object(Bucket=bucket_name, Key="l/held")
        assert stored["ObjectLockMode"] == "GOVERNANCE"
        assert stored["ObjectLockLegalHoldStatus"] == "ON"
        await s3.client.put_object_legal_hold(
            Bucket=bucket_name, Key="l/held", LegalHold={"Status": "OFF"}
        )
        versions = await s3.client.list_object_versions(Bucket=bucket_name)
        for v in versions.get("Versions", []):
            await s3.client.delete_object(
                Bucket=bucket_name,
                Key=v["Key"],
                VersionId=v["VersionId"],
                BypassGovernanceRetention=True,
            )
        await s3.delete_bucket(bucket_name, force=True)


# -- requester pays, expected bucket owner --------------------------------------------------


async def test_payer_and_owner_on_every_request(
    server: Server, proxy: FaultProxy, bucket_name: str, tmp_path: Path
) -> None:
    owner = "123456789012"
    config = server.config(endpoint=proxy.url, default_bucket=bucket_name, request_payer=True)
    async with aios3.connect(config, transfer=SMALL) as s3:
        await s3.create_bucket(bucket_name)
        start = len(proxy.log)
        mine = {"expected_bucket_owner": owner}
        await s3.upload("o/big", blob(6 * MiB), **mine)
        await s3.upload("o/small", b"s", **mine)
        await s3.head("o/big", **mine)
        await s3.get_bytes("o/small", **mine)
        await s3.download("o/big", tmp_path / "big", **mine)
        [_ async for _ in s3.list("o/", **mine)]
        await s3.get_tags("o/small", **mine)
        await s3.copy("o/small", "o/copy", **mine)
        await s3.delete("o/copy", **mine)
        await s3.delete_many(["o/small"], **mine)
        await s3.delete_prefix("o", **mine)
        checked = list(zip(proxy.log[start:], proxy.headers[start:], strict=True))
        assert len(checked) >= 14
        for (method, target), headers in checked:
            assert headers.get("x-amz-request-payer") == "requester", f"{method} {target}"
            if method == "HEAD" and target.endswith("/o/small"):
                # the copy's source: the expected owner is the destination's
                assert "x-amz-expected-bucket-owner" not in headers
                continue
            assert headers.get("x-amz-expected-bucket-owner") == owner, f"{method} {target}"
        await s3.delete_bucket(bucket_name, force=True)


async def test_folder_calls_pass_the_options_to_every_file(
    watched: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    key = SSECustomerKey(os.urandom(32))
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_bytes(b"a" * 10)
    (src / "sub" / "b").write_bytes(blob(6 * MiB, seed=1))
    result = await watched.upload_dir(src, "enc", sse_c=key, tags={"set": "enc"})
    assert result.ok and result.copied == 2
    assert await watched.get_tags("enc/sub/b") == {"set": "enc"}
    back = await watched.download_dir("enc", tmp_path / "back", sse_c=key)
    assert (
        back.ok
        and (tmp_path / "back" / "sub" / "b").read_bytes() == (src / "sub" / "b").read_bytes()
    )
    again = await watched.sync(
        f"s3://{watched.config.default_bucket}/enc", tmp_path / "two", sse_c=key
    )
    assert again.ok and again.copied == 2
    for method, target, headers in requests_for(proxy, "/enc/"):
        if "list-type" in target or "tagging" in target:
            continue  # a listing, and GetObjectTagging: no SSE-C there
        assert carried(headers, key), f"{method} {target}"
    with pytest.raises(aios3.InvalidRequest):
        await watched.download_dir("enc", tmp_path / "x", acl="private")  # type: ignore[call-arg]
    new = SSECustomerKey(os.urandom(32))  # a folder copy re-keys every object
    copied = await watched.copy_prefix(  # CopyObject each (SeaweedFS: no SSE-C part copies)
        "enc", "rekeyed", source_sse_c=key, sse_c=new, transfer=TransferConfig()
    )
    assert copied.ok and copied.copied == 2
    assert await watched.get_bytes("rekeyed/a", sse_c=new) == b"a" * 10


async def test_a_call_declines_the_clients_requester_pays(
    server: Server, proxy: FaultProxy, bucket_name: str
) -> None:
    config = server.config(endpoint=proxy.url, default_bucket=bucket_name, request_payer=True)
    async with aios3.connect(config) as s3:
        await s3.create_bucket(bucket_name)
        await s3.upload("d/x", b"x")
        await s3.get_bytes("d/x", request_payer=False)
        put, get = (h for m, t, h in requests_for(proxy, "/d/x"))
        assert put.get("x-amz-request-payer") == "requester"
        assert "x-amz-request-payer" not in get
        await s3.delete_bucket(bucket_name, force=True)


async def test_folder_calls_list_and_delete_with_payer_and_owner(
    server: Server, proxy: FaultProxy, bucket_name: str, tmp_path: Path
) -> None:
    """A sync with delete checks the owner on its listing and its DeleteObjects too."""
    owner = "123456789012"
    config = server.config(endpoint=proxy.url, default_bucket=bucket_name)
    async with aios3.connect(config) as s3:
        await s3.create_bucket(bucket_name)
        await s3.upload("f/old", b"gone soon")
        src = tmp_path / "src"
        src.mkdir()
        (src / "new").write_bytes(b"new")
        start = len(proxy.log)
        mine = {"expected_bucket_owner": owner, "request_payer": True}
        seen: list[aios3.TreeItem] = []
        result = await s3.sync(
            src, f"s3://{bucket_name}/f", delete=True, on_item=seen.append, **mine
        )
        deleted = [i.source for i in seen if i.action == "delete"]
        assert deleted == [f"s3://{bucket_name}/f/old"] and result.deleted == 1
        sent = list(zip(proxy.log[start:], proxy.headers[start:], strict=True))
        kinds = {
            ("list" if "list-type" in t else "delete" if "delete" in t else m) for (m, t), _ in sent
        }
        assert {"list", "delete", "PUT"} <= kinds
        for (method, target), headers in sent:
            assert headers.get("x-amz-expected-bucket-owner") == owner, f"{method} {target}"
            assert headers.get("x-amz-request-payer") == "requester", f"{method} {target}"
        with pytest.raises(aios3.InvalidRequest, match="do not apply"):
            await s3.sync(f"s3://{bucket_name}/f", tmp_path / "back", acl="public-read")
        await s3.delete_bucket(bucket_name, force=True)


def test_request_options_are_not_pickled() -> None:
    from aios3._options import request_options

    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(request_options(sse_c=SSECustomerKey(os.urandom(32))))
