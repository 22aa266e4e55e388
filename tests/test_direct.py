"""The direct path (PutObject, GetObject, HeadObject, DeleteObject signed by aios3 and
sent straight through the client's HTTP session) against botocore's own path: the same
signature, the same request on the wire, the same answers, errors and retries."""

from __future__ import annotations

import base64
import os
import threading
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from conftest import collections_heard
from faultproxy import Fault, FaultProxy

import aios3
from aios3._body import Body
from aios3._signing import EMPTY_SHA256, UNSIGNED_PAYLOAD, Signer
from aios3.testing import Server

# Headers botocore adds for telemetry or after signing; the direct path leaves them out
# or writes its own (the signature, its date and the user agent are compared apart).
_NOT_COMPARED = {
    "authorization",
    "x-amz-date",
    "user-agent",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
    "accept-encoding",
}


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def _signed_headers(authorization: str) -> str:
    return authorization.split("SignedHeaders=")[1].split(",")[0]


@pytest.mark.parametrize(
    ("method", "url", "headers", "payload", "token"),
    [
        ("GET", "http://127.0.0.1:8333/b/k", {}, EMPTY_SHA256, None),
        (
            "PUT",
            "http://127.0.0.1:8333/bucket/a/b%20c%2B%C3%BC~x",
            {
                "content-type": "text/plain",
                "content-length": "5",
                "x-amz-meta-owner": "  two   spaces ",
                "x-amz-checksum-crc32": "NhCmhg==",
                "if-none-match": "*",
            },
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "session-token/with+chars=",
        ),
        (
            "HEAD",
            "https://bucket.s3.eu-west-1.amazonaws.com/photos/2026/x.jpg?versionId=3%2Fv~1",
            {"range": "bytes=0-9", "x-amz-checksum-mode": "ENABLED"},
            EMPTY_SHA256,
            None,
        ),
        (
            "PUT",
            "https://s3.example.net/b//leading/slash",
            {"content-length": "0", "x-amz-checksum-crc32": "AAAAAA=="},
            UNSIGNED_PAYLOAD,
            None,
        ),
    ],
)
def test_signature_matches_botocore(
    method: str, url: str, headers: dict[str, str], payload: str, token: str | None
) -> None:
    region = "eu-west-1" if "eu-west-1" in url else "us-east-1"
    now = datetime(2026, 11, 21, 23, 59, 59, tzinfo=UTC)
    parts = urlsplit(url)
    ours = dict(headers)
    Signer(region).sign(
        method,
        parts.netloc,
        parts.path,
        parts.query,
        ours,
        payload,
        access_key="AKIDEXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token=token,
        now=now,
    )
    assert ours["x-amz-date"] == "20261121T235959Z"
    assert ours["x-amz-content-sha256"] == payload
    request = AWSRequest(
        method, url, headers={k: v for k, v in ours.items() if k != "authorization"}
    )
    request.context["timestamp"] = ours["x-amz-date"]
    auth = S3SigV4Auth(
        Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token), "s3", region
    )
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    assert ours["authorization"].endswith(f"Signature={signature}")
    assert _signed_headers(ours["authorization"]) == auth.signed_headers(
        auth.headers_to_sign(request)
    )
    assert f"Credential=AKIDEXAMPLE/20261121/{region}/s3/aws4_request" in ours["authorization"]


@pytest.fixture
async def via_botocore(server: Server, s3: aios3.S3) -> AsyncIterator[aios3.S3]:
    """A client on the same bucket that sends every request through botocore."""
    config = server.config(default_bucket=s3.config.default_bucket, direct_requests=False)
    async with aios3.connect(config) as client:
        assert client._direct is None
        yield client


def _record(client: aios3.S3) -> list[Any]:
    seen: list[Any] = []
    client.client.meta.events.register("before-send.s3", lambda request, **_: seen.append(request))
    return seen


def _cases(key: str, upload_id: str) -> list[tuple[str, dict[str, Any]]]:
    data = b"hello direct"
    part = bytes(range(256)) * 64
    return [
        (
            "upload_part",
            {
                "Body": Body(part),
                "ContentLength": len(part),
                "ChecksumCRC32": _crc32(part),
                "UploadId": upload_id,
                "PartNumber": 1,
            },
        ),
        (
            "put_object",
            {
                "Body": Body(data),
                "ContentLength": len(data),
                "ChecksumCRC32": _crc32(data),
                "ContentType": "text/plain; charset=utf-8",
                "ContentDisposition": 'attachment; filename="a b.txt"',
                "CacheControl": "max-age=60",
                "Metadata": {"Owner": "ana", "trace": "  x  y "},
            },
        ),
        ("head_object", {"ChecksumMode": "ENABLED"}),
        ("get_object", {}),
        ("get_object", {"Range": "bytes=1-4", "VersionId": "null"}),
        ("delete_object", {}),
    ]


async def test_requests_match_botocore(s3: aios3.S3, via_botocore: aios3.S3) -> None:
    """What goes on the wire: method, URL and every header botocore signs."""
    bucket = s3.config.default_bucket or ""
    key = "dir/a b+c~ü.txt"
    prepare = await _preparer(s3)
    upload_id = await _create_upload(via_botocore, key)
    seen = _record(via_botocore)
    for method, params in _cases(key, upload_id):
        await via_botocore.call(method, action="test", bucket=bucket, key=key, **dict(params))
        _same_request(prepare(method, key, params), seen.pop(), method)
    await _abort_upload(via_botocore, key, upload_id)


async def _preparer(s3: aios3.S3) -> Any:
    """``prepare(method, key, params)``: the request the direct path of ``s3`` sends."""
    direct = s3._direct
    assert direct is not None
    target = await direct._target(s3.config.default_bucket or "")
    assert target is not None
    credentials = await direct._credentials.get_frozen_credentials()

    def prepare(method: str, key: str, params: dict[str, Any]) -> Any:
        return direct.prepare(direct._ops[method], target, key, dict(params), credentials)

    return prepare


async def test_multipart_requests_match_botocore(s3: aios3.S3, via_botocore: aios3.S3) -> None:
    """Create (with what an upload is written with), Complete (its XML body, byte for
    byte) and Abort: the same method, URL, headers and body as botocore's."""
    bucket = s3.config.default_bucket or ""
    key = "mp/a b+c~ü.txt"
    prepare = await _preparer(s3)
    seen = _record(via_botocore)
    part = b"p" * 1000
    create = {
        "ContentType": "text/plain",
        "ContentDisposition": 'attachment; filename="x.txt"',
        "Metadata": {"Owner": "ana"},
        "ChecksumAlgorithm": "CRC32",
    }
    cases: list[tuple[str, dict[str, Any]]] = [("create_multipart_upload", create)]
    upload_id = ""
    for method in ("create_multipart_upload", "upload_part", "complete_multipart_upload"):
        if method == "create_multipart_upload":
            params = create
        elif method == "upload_part":
            params = {
                "Body": Body(part),
                "ContentLength": len(part),
                "ChecksumCRC32": _crc32(part),
                "UploadId": upload_id,
                "PartNumber": 1,
            }
        else:
            etag = cases[-1][1]["ETag"]
            parts = [{"ETag": etag, "ChecksumCRC32": _crc32(part), "PartNumber": 1}]
            params = {"UploadId": upload_id, "MultipartUpload": {"Parts": parts}}
        resp = await via_botocore.call(method, action="test", bucket=bucket, key=key, **params)
        upload_id = resp.get("UploadId", upload_id)
        cases.append((method, {**params, "ETag": resp.get("ETag")}))
        _same_request(prepare(method, key, params), seen.pop(), method)
    other = await _create_upload(via_botocore, key)
    seen.clear()
    params = {"UploadId": other}
    await via_botocore.call("abort_multipart_upload", action="t", bucket=bucket, key=key, **params)
    _same_request(prepare("abort_multipart_upload", key, params), seen.pop(), "abort")
    assert await s3.get_bytes(key) == part


def _same_request(ours: Any, theirs: Any, method: str) -> None:
    """The direct path's request is botocore's: method, URL, signed headers, an XML
    body."""
    assert ours.method == theirs.method and ours.url == theirs.url, method
    their_headers = {
        k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in theirs.headers.items()
    }
    if ours.body is None:  # (botocore's, on a DELETE or POST; aiohttp's, on the wire)
        their_headers.pop("content-length", None)
    assert {k: v for k, v in ours.headers.items() if k not in _NOT_COMPARED} == {
        k: v for k, v in their_headers.items() if k not in _NOT_COMPARED
    }, method
    assert _signed_headers(ours.headers["authorization"]) == _signed_headers(
        their_headers["authorization"]
    ), method
    if method in ("complete_multipart_upload", "delete_objects"):  # the XML botocore writes
        assert isinstance(ours.body, bytes) and ours.body == theirs.body, method


async def test_delete_objects_matches_botocore(s3: aios3.S3, via_botocore: aios3.S3) -> None:
    """DeleteObjects: the same request as botocore's (its XML body byte for byte, the
    CRC32 header botocore adds unasked), the same answer, and the direct path taken;
    a batch with a field the plan does not write (a timestamp) is botocore's."""
    bucket = s3.config.default_bucket or ""
    prepare = await _preparer(s3)
    seen = _record(via_botocore)
    keys = ["do/a b+c~ü.txt", "do/x&y<z>'\"", "do/plain"]
    batches: list[dict[str, Any]] = [
        {"Objects": [{"Key": k} for k in keys], "Quiet": False},
        {"Objects": [{"Key": keys[0]}], "Quiet": True},
        {"Objects": [{"Key": keys[1]}, {"Key": "do/never-there"}]},
    ]
    for delete in batches:
        for key in keys:
            await s3.upload(key, b"x")
        await via_botocore.call("delete_objects", action="test", bucket=bucket, Delete=delete)
        _same_request(
            prepare("delete_objects", None, {"Delete": delete}), seen.pop(), "delete_objects"
        )
    answers = []
    direct_sent = _record(s3)
    for client in (s3, via_botocore):
        for key in keys:
            await client.upload(key, b"x")
        resp = await client.call("delete_objects", action="t", bucket=bucket, Delete=batches[0])
        resp.pop("ResponseMetadata")
        resp["Deleted"].sort(key=lambda d: d["Key"])
        answers.append(resp)
    assert direct_sent == []  # the direct path answered: botocore sent nothing
    assert answers[0] == answers[1]
    assert sorted(d["Key"] for d in answers[0]["Deleted"]) == sorted(keys)
    assert [await s3.exists(key) for key in keys] == [False] * len(keys)
    direct = s3._direct
    assert direct is not None
    dated = {"Objects": [{"Key": keys[0], "LastModifiedTime": datetime(2026, 1, 1, tzinfo=UTC)}]}
    for botocores in (  # what botocore writes otherwise, or refuses
        dated,
        {"Objects": [{"Key": keys[0], "VersionId": ""}]},  # <VersionId />
        {"Objects": [{"Key": ""}]},
        {"Objects": [{}]},
        {"Objects": []},
        {"Quiet": True},
        {"Objects": [{"Key": keys[0]}], "Quiet": "true"},
    ):
        assert not direct.accepts("delete_objects", {"Delete": botocores}, key=False), botocores


def test_a_batch_delete_goes_direct_only_where_botocore_adds_a_crc32(s3: aios3.S3) -> None:
    """botocore 1.36 and later add a CRC32 header to DeleteObjects unasked, whatever
    the checksum setting, as the direct path does; an earlier one (Content-MD5, a
    config without the setting) leaves the batch to botocore."""
    from types import SimpleNamespace

    from aios3._direct import _adds_crc32

    model = s3.client.meta.service_model.operation_model("DeleteObjects")
    assert _adds_crc32(s3.client, model)
    older = SimpleNamespace(meta=SimpleNamespace(config=SimpleNamespace()))
    assert not _adds_crc32(older, model)


async def test_a_batch_deletes_answer_that_does_not_parse_is_asked_again(
    server: Server, s3: aios3.S3, proxy: FaultProxy
) -> None:
    """A DeleteObjects 200 whose XML breaks (a byte flipped on the way) is a 500 on
    the direct path, as botocore takes it: the batch is sent again, not failed."""
    keys = [f"bd/{n}" for n in range(5)]
    for key in keys:
        await s3.upload(key, b"x")
    config = server.config(endpoint=proxy.url, default_bucket=s3.config.default_bucket)
    async with aios3.connect(config) as client:
        assert client._direct is not None
        rule = proxy.add(Fault("corrupt", method="POST", path_contains="?delete", after_bytes=60))
        result = await client.delete_many(keys)
        assert rule.fired == 1
        assert (result.deleted, result.failed) == (5, [])
    assert [await s3.exists(key) for key in keys] == [False] * 5


async def test_multipart_answers_match_botocore(s3: aios3.S3, via_botocore: aios3.S3) -> None:
    """Create, Complete and Abort answer the same dicts on both paths (but for the
    upload's id), and the direct path really was taken."""
    bucket = s3.config.default_bucket or ""
    direct_sent = _record(s3)
    part = b"q" * 1000
    answers: list[dict[str, Any]] = []
    for client in (s3, via_botocore):
        key = f"mp/answers-{len(answers)}"
        created = await client.call(
            "create_multipart_upload", action="t", bucket=bucket, key=key, ChecksumAlgorithm="CRC32"
        )
        upload_id = created["UploadId"]
        sent = await client.call(
            "upload_part",
            action="t",
            bucket=bucket,
            key=key,
            Body=Body(part),
            ContentLength=len(part),
            ChecksumCRC32=_crc32(part),
            UploadId=upload_id,
            PartNumber=1,
        )
        parts = [{"ETag": sent["ETag"], "ChecksumCRC32": _crc32(part), "PartNumber": 1}]
        done = await client.call(
            "complete_multipart_upload",
            action="t",
            bucket=bucket,
            key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
        other = await _create_upload(client, key)
        aborted = await client.call(
            "abort_multipart_upload", action="t", bucket=bucket, key=key, UploadId=other
        )
        out = {"create": _comparable(created), "complete": _comparable(done)}
        out["abort"] = _comparable(aborted)
        out["create"].pop("UploadId")
        for name in ("Key", "Location"):
            out["create"].pop(name, None)
            out["complete"].pop(name, None)
        answers.append(out)
    assert answers[0] == answers[1]
    assert direct_sent == []
    assert await s3.get_bytes("mp/answers-0") == await s3.get_bytes("mp/answers-1") == part


async def _create_upload(client: aios3.S3, key: str) -> str:
    resp = await client.call(
        "create_multipart_upload",
        action="test",
        bucket=client.config.default_bucket or "",
        key=key,
        ChecksumAlgorithm="CRC32",
    )
    upload_id: str = resp["UploadId"]
    return upload_id


async def _abort_upload(client: aios3.S3, key: str, upload_id: str) -> None:
    bucket = client.config.default_bucket or ""
    await client.call(
        "abort_multipart_upload", action="test", bucket=bucket, key=key, UploadId=upload_id
    )


def _comparable(resp: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in resp.items() if k not in ("ResponseMetadata", "Body")}
    out["HTTPStatusCode"] = resp["ResponseMetadata"]["HTTPStatusCode"]
    return out


async def test_answers_match_botocore(s3: aios3.S3, via_botocore: aios3.S3) -> None:
    """The same response dicts (bodies read), and the direct path really was taken."""
    bucket = s3.config.default_bucket or ""
    key = "answers/x.txt"
    upload_id = await _create_upload(s3, key)
    direct_sent = _record(s3)
    for method, params in _cases(key, upload_id):
        answers = []
        for client in (s3, via_botocore):
            resp = await client.call(method, action="test", bucket=bucket, key=key, **dict(params))
            body = resp.get("Body")
            out = _comparable(resp)
            if body is not None:
                out["Body"] = await body.read()
                body.close()
            answers.append(out)
        ours, theirs = answers
        if method == "delete_object":
            theirs = ours  # the second delete of a missing key: compared below
        assert ours == theirs, method
    assert direct_sent == []  # nothing of the above went through botocore
    await _abort_upload(s3, key, upload_id)
    assert (await s3.head(key) if await s3.exists(key) else None) is None
    await via_botocore.upload("answers/y", b"y" * 100, metadata={"k": "v"})
    assert await s3.head("answers/y") == await via_botocore.head("answers/y")
    assert await s3.get("answers/y", start=10, end=20) == await via_botocore.get(
        "answers/y", start=10, end=20
    )


async def _error(coro: Any) -> tuple[type[BaseException], str | None, int | None]:
    with pytest.raises(aios3.S3Error) as caught:
        await coro
    return type(caught.value), caught.value.code, caught.value.status


async def test_errors_match_botocore(s3: aios3.S3, via_botocore: aios3.S3) -> None:
    await s3.upload("e/there", b"here")
    missing_bucket = "no-such-bucket-" + (s3.config.default_bucket or "")[-12:]
    for client_pair_case in (
        lambda c: c.get_bytes("e/missing"),
        lambda c: c.head("e/missing"),
        lambda c: c.get_bytes("x", bucket=missing_bucket),
        lambda c: c.head("x", bucket=missing_bucket),
        lambda c: c.upload("e/there", b"again", if_none_match="*"),
    ):
        ours = await _error(client_pair_case(s3))
        theirs = await _error(client_pair_case(via_botocore))
        assert ours == theirs
    assert (await _error(s3.get_bytes("e/missing")))[0] is aios3.NoSuchKey
    await s3.delete("e/missing")  # deleting a missing key succeeds on both
    await via_botocore.delete("e/missing")


@pytest.mark.needs("checksum_verification")
async def test_wrong_checksum_refused_on_both_paths(s3: aios3.S3, via_botocore: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    for client in (s3, via_botocore):
        with pytest.raises(aios3.IntegrityError):
            await client.call(
                "put_object",
                action="upload",
                bucket=bucket,
                key="bad",
                Body=Body(b"abc"),
                ContentLength=3,
                ChecksumCRC32=_crc32(b"abd"),
            )
    assert not await s3.exists("bad")


@pytest.mark.needs("auth")
async def test_bad_credentials_refused_on_both_paths(server: Server, s3: aios3.S3) -> None:
    wrong = []
    for direct in (True, False):
        config = server.config(
            default_bucket=s3.config.default_bucket,
            secret_access_key="not-the-secret",
            direct_requests=direct,
        )
        async with aios3.connect(config) as client:
            wrong.append(await _error(client.get_bytes("anything")))
    assert wrong[0] == wrong[1] and wrong[0][0] is aios3.AccessDenied


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "botocore"])
async def test_retries_match_botocore(
    server: Server, s3: aios3.S3, proxy: FaultProxy, direct: bool
) -> None:
    """botocore's standard retries on both paths: a 503 retried, a persistent 500 tried
    exactly max_attempts times, a corrupted body refused by the checksum."""
    await s3.upload("r/obj", b"retry me" * 100)
    config = server.config(
        endpoint=proxy.url,
        default_bucket=s3.config.default_bucket,
        max_attempts=3,
        direct_requests=direct,
    )
    transfer = aios3.TransferConfig(part_retries=0)
    async with aios3.connect(config, transfer=transfer) as client:
        assert (client._direct is not None) == direct
        rule = proxy.add(Fault("status", method="HEAD", status=503, code="SlowDown", times=2))
        assert (await client.head("r/obj")).size == 800
        assert rule.fired == 2
        proxy.clear()
        rule = proxy.add(Fault("status", method="GET", status=500, code="InternalError", times=-1))
        err = await _error(client.get_bytes("r/obj"))
        assert err == (aios3.ServiceError, "InternalError", 500)
        assert rule.fired == 3
        proxy.clear()
        if (await s3.head("r/obj")).checksums:  # moto keeps no checksum to check against
            rule = proxy.add(Fault("corrupt", method="GET", after_bytes=5, times=1))
            with pytest.raises(aios3.IntegrityError):
                await client.get_bytes("r/obj")
            assert rule.fired == 1
        proxy.clear()
        rule = proxy.add(Fault("status", method="PUT", status=503, code="SlowDown", times=1))
        await client.upload("r/put", b"after one 503")
        rule2 = proxy.add(Fault("status", method="DELETE", status=500, times=1))
        await client.delete("r/put")
        assert rule.fired == 1 and rule2.fired == 1
        proxy.clear()
        # UploadPart: a 503 retried by the client's retry handler (part_retries=0), and
        # a persistent 500 that ends the upload (aborted) after exactly max_attempts tries.
        data = bytes(range(256)) * (24 * 1024)  # 6 MiB: two parts of 5 MiB and 1 MiB
        parts = aios3.TransferConfig(
            part_size=5 * 1024 * 1024, multipart_threshold=0, part_retries=0
        )
        rule = proxy.add(Fault("status", method="PUT", path_contains="partNumber=2", times=1))
        await client.upload("r/parts", data, transfer=parts)
        assert rule.fired == 1
        assert await s3.get_bytes("r/parts") == data
        rule = proxy.add(
            Fault("status", method="PUT", path_contains="partNumber=1", status=500, times=-1)
        )
        with pytest.raises(aios3.TransferError) as caught:
            await client.upload("r/failed", data, transfer=parts)
        assert caught.value.part_number == 1 and caught.value.status == 500
        assert rule.fired == 3
    assert not await s3.exists("r/put")
    assert not await s3.exists("r/failed")
    assert [u async for u in s3.list_multipart_uploads("r/")] == []


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "botocore"])
async def test_a_listing_page_that_does_not_parse_is_asked_for_again(
    server: Server, s3: aios3.S3, proxy: FaultProxy, direct: bool
) -> None:
    """A listing's 200 whose XML breaks (a byte flipped on the way): botocore's path
    takes it for a 500 and asks again; so does the direct path, under the transfer
    retry policy, and a page that never reads is a TransferError after its tries."""
    keys = [f"lp/{n:02d}" for n in range(12)]
    for key in keys:
        await s3.upload(key, b"")
    config = server.config(
        endpoint=proxy.url, default_bucket=s3.config.default_bucket, direct_requests=direct
    )
    transfer = aios3.TransferConfig(part_retries=2, retry_backoff=0)
    async with aios3.connect(config, transfer=transfer) as client:
        assert (client._direct is not None) == direct
        rule = proxy.add(
            Fault("corrupt", method="GET", path_contains="list-type=2", after_bytes=300)
        )
        assert [o.key async for o in client.list("lp/")] == keys
        assert rule.fired == 1
        for ahead in (True, False):  # a page after the first, asked for ahead or not
            rule = proxy.add(
                Fault("corrupt", method="GET", path_contains="continuation-token", after_bytes=300)
            )
            listed = [o.key async for o in client.list("lp/", page_size=5, read_ahead=ahead)]
            assert listed == keys
            assert rule.fired == 1
        if direct:  # (botocore's path tries max_attempts times, with its own backoff)
            rule = proxy.add(
                Fault(
                    "corrupt", method="GET", path_contains="list-type=2", after_bytes=300, times=-1
                )
            )
            with pytest.raises(aios3.TransferError) as caught:
                _ = [o async for o in client.list("lp/")]
            assert rule.fired == 3
            assert "3 tries" in "".join(getattr(caught.value, "__notes__", []))


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "botocore"])
async def test_signed_bodies_carry_the_digest_of_their_bytes(
    server: Server, s3: aios3.S3, proxy: FaultProxy, direct: bool, tmp_path: Path
) -> None:
    """Every body signed by its SHA-256 carries the digest of the bytes sent (AWS refuses
    a mismatch; the test servers do not check, the proxy does). aios3 hashes a part in
    the same pass as its checksum and hands the digest to the request: parts whose
    buffers are refilled for later parts, a part retried after a 503 (hashed once, sent
    twice), a pipe whose parts arrive in short reads (each part digested across several
    reads), one PutObject large enough to be hashed in a worker thread and one small,
    and SHA256 checksums (one hash serves the checksum and the signature); the proxy
    checks each body's checksum header too. (With
    direct_requests=False botocore hashes every body itself: the same check, its path.)"""
    mib = 1024 * 1024
    data = os.urandom(5 * 5 * mib + 123)  # 6 parts of 5 MiB, 2 buffers: refilled
    path = tmp_path / "parts.bin"
    path.write_bytes(data)
    config = server.config(
        endpoint=proxy.url, default_bucket=s3.config.default_bucket, direct_requests=direct
    )
    parts = aios3.TransferConfig(part_size=5 * mib, concurrency=2, multipart_threshold=0)
    async with aios3.connect(config, transfer=parts) as client:
        rule = proxy.add(
            Fault("status", method="PUT", path_contains="partNumber=3", status=503, times=1)
        )
        await client.upload("digest/parts", path)
        assert rule.fired == 1
        await client.upload("digest/one", data[: 3 * mib], transfer=aios3.TransferConfig())
        r, w = os.pipe()

        def feed() -> None:
            with open(w, "wb") as out:
                for start in range(0, len(data), 100_000):
                    out.write(data[start : start + 100_000])

        writer = threading.Thread(target=feed)
        writer.start()
        try:
            with open(r, "rb", buffering=0) as pipe:  # unbuffered: short reads
                await client.upload("digest/pipe", pipe)
        finally:
            writer.join()
        await client.upload("digest/small", data[:1000], transfer=aios3.TransferConfig())
        sha = aios3.TransferConfig(
            part_size=5 * mib, multipart_threshold=6 * mib, checksum_algorithm="SHA256"
        )
        await client.upload("digest/sha-parts", data[: 11 * mib], transfer=sha)
        await client.upload("digest/sha-one", data[: 2 * mib], transfer=sha)
    bodies = [
        ok for method, target, ok in proxy.payloads if method == "PUT" and "/digest/" in target
    ]
    assert len(bodies) == 18 and all(bodies), proxy.payloads
    assert await s3.get_bytes("digest/parts") == data
    assert await s3.get_bytes("digest/pipe") == data
    assert await s3.get_bytes("digest/one") == data[: 3 * mib]
    assert await s3.get_bytes("digest/small") == data[:1000]
    assert await s3.get_bytes("digest/sha-parts") == data[: 11 * mib]


async def test_region_redirect_left_to_botocore(
    server: Server, s3: aios3.S3, proxy: FaultProxy
) -> None:
    """A bucket that answers 301 naming its region (it lives in another one) is handed
    to botocore, whose region redirector knows what to do; later requests for it skip
    the direct path. (A 3xx naming no region is an error: test_security_redirect.py.)"""
    bucket = s3.config.default_bucket or ""
    await s3.upload("moved/obj", b"in another region")
    config = server.config(endpoint=proxy.url, default_bucket=bucket)
    async with aios3.connect(config) as client:
        direct = client._direct
        assert direct is not None
        assert await client.get_bytes("moved/obj") == b"in another region"  # direct
        assert direct._targets[bucket] is not None
        rule = proxy.add(
            Fault(
                "redirect",
                method="HEAD",
                status=301,
                code="PermanentRedirect",
                location="http://elsewhere.invalid",
                region=server.region,
            )
        )
        via_botocore = _record(client)
        assert (await client.head("moved/obj")).size == 17
        assert rule.fired == 1
        assert len(via_botocore) == 1  # the direct try got the 301; botocore asked again
        assert direct._targets[bucket] is None
        assert await client.get_bytes("moved/obj") == b"in another region"
        assert len(via_botocore) == 2


_LISTED_KEYS = ("l/a b+c", "l/ü/x", "l/sub/1", "l/sub/2", "l/%41&<>", "l/z", "m")


async def test_listings_match_botocore(s3: aios3.S3, via_botocore: aios3.S3) -> None:
    """ListObjectsV2, ListObjectVersions and ListParts: the same request on the wire
    (``encoding-type=url`` asked for unless given), the same answers (keys decoded as
    botocore decodes them), and none of them sent through botocore."""
    bucket = s3.config.default_bucket or ""
    for key in _LISTED_KEYS:
        await s3.upload(key, key.encode())
    upload_id = await _create_upload(s3, "l/open")
    await s3.call(
        "upload_part",
        action="test",
        bucket=bucket,
        key="l/open",
        Body=b"p" * 10,
        UploadId=upload_id,
        PartNumber=1,
        ChecksumCRC32=_crc32(b"p" * 10),
    )
    first = await via_botocore.call(
        "list_objects_v2", action="test", bucket=bucket, Prefix="l/", MaxKeys=2
    )
    token = first["NextContinuationToken"]
    cases: list[tuple[str, str | None, dict[str, Any]]] = [
        ("list_objects_v2", None, {"Prefix": "l/"}),
        ("list_objects_v2", None, {"Prefix": "l/", "Delimiter": "/"}),
        ("list_objects_v2", None, {"Prefix": "l/", "MaxKeys": 2}),
        ("list_objects_v2", None, {"Prefix": "l/", "MaxKeys": 2, "ContinuationToken": token}),
        ("list_objects_v2", None, {"StartAfter": "l/a b+c", "FetchOwner": True}),
        ("list_objects_v2", None, {"Prefix": "l/", "EncodingType": "url"}),
        ("list_objects_v2", None, {"Prefix": "nothing-here/"}),
        ("list_object_versions", None, {"Prefix": "l/", "Delimiter": "/"}),
        ("list_object_versions", None, {"Prefix": "l/", "MaxKeys": 3}),
        ("list_parts", "l/open", {"UploadId": upload_id}),
    ]
    direct = s3._direct
    assert direct is not None
    target = await direct._target(bucket)
    assert target is not None
    credentials = await direct._credentials.get_frozen_credentials()
    direct_sent = _record(s3)
    botocore_sent = _record(via_botocore)
    for method, key, params in cases:
        ours = await s3.call(method, action="test", bucket=bucket, key=key, **dict(params))
        theirs = await via_botocore.call(
            method, action="test", bucket=bucket, key=key, **dict(params)
        )
        assert _comparable(ours) == _comparable(theirs), (method, params)
        wire = dict(params)
        if method != "list_parts" and "EncodingType" not in params:
            wire["EncodingType"] = "url"
        request = direct.prepare(direct._ops[method], target, key, wire, credentials)
        sent = botocore_sent.pop()
        assert request.url == sent.url, (method, params)
        sent_headers = {
            k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in sent.headers.items()
        }
        assert {k: v for k, v in request.headers.items() if k not in _NOT_COMPARED} == {
            k: v for k, v in sent_headers.items() if k not in _NOT_COMPARED
        }, (method, params)
    assert direct_sent == []
    listed = [i.key async for i in s3.list("l/")]
    assert listed == sorted(k for k in _LISTED_KEYS if k.startswith("l/"))
    # a missing bucket: the same error on both paths
    missing = "no-such-bucket-" + bucket[-12:]
    ours_error = await _error(s3.call("list_objects_v2", action="list", bucket=missing))
    theirs_error = await _error(via_botocore.call("list_objects_v2", action="list", bucket=missing))
    assert ours_error == theirs_error and ours_error[0] is aios3.NoSuchBucket
    assert direct_sent == []
    await _abort_upload(s3, "l/open", upload_id)


async def test_a_listing_page_sets_off_no_garbage_collection(s3: aios3.S3) -> None:
    """A 1,000-key page is ~7,000 elements the cyclic collector tracks: reading one
    sets off no collection (they promoted the live tree and brought a full collection
    of the process every ~12 pages), and leaves the collector as it found it, after a
    body that is not XML too. The page is the server's own answer, its entries repeated."""
    import gc

    from aios3._xml import parse_xml

    bucket = s3.config.default_bucket or ""
    for i in range(3):
        await s3.upload(f"gc/{i}", b"x")
    answer = await s3.fetch("list_objects_v2", action="list", bucket=bucket, Prefix="gc/")
    body = answer.content
    assert body is not None and body.count(b"<Contents>") == 3
    head, _, rest = body.partition(b"<Contents>")
    entry = b"<Contents>" + rest[: rest.index(b"</Contents>") + len(b"</Contents>")]
    page = head + entry * 1000 + rest[rest.index(b"</Contents>") + len(b"</Contents>") :]
    direct = s3._direct
    assert direct is not None
    plan = direct._ops["list_objects_v2"].body
    assert plan is not None
    with collections_heard() as collections:
        try:
            out = parse_xml(page, plan)
            # a collection may be due the moment the collector is back, never with the
            # page's ~7,000 elements alive
            assert all(alive < 100 for alive in collections), collections
            assert len(out["Contents"]) == 1002 and gc.isenabled()
            with pytest.raises(Exception, match="invalid XML"):
                parse_xml(page[:-40], plan)
            assert gc.isenabled()
            gc.disable()  # a program that turned the collector off finds it off still
            parse_xml(page, plan)
            assert not gc.isenabled()
            gc.enable()
            # parses in several threads at once share one pause: the last one out ends it
            import threading

            from aios3 import _xml

            with _xml.collector_paused():
                assert not gc.isenabled()
                worker = threading.Thread(target=parse_xml, args=(page, plan))
                worker.start()
                worker.join()
                assert not gc.isenabled()  # the thread's parse ended, this one goes on
            assert gc.isenabled()
        finally:
            gc.enable()
    await s3.delete_prefix("gc/")
