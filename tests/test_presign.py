"""Browser uploads: presigned POST forms posted as multipart/form-data, and a multipart
upload whose parts a plain HTTP client PUTs to presigned URLs, against both servers."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import aiohttp
import pytest
from conftest import open_uploads

import aios3
from aios3 import ConfigError, IntegrityError, InvalidRequest, MiB


async def post_form(
    post: aios3.PresignedPost,
    data: bytes,
    *,
    filename: str = "photo.png",
    content_type: str = "image/png",
    replace: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Post the form as a browser does: every field, then the file last."""
    form = aiohttp.FormData()
    for name, value in {**post.fields, **(replace or {})}.items():
        form.add_field(name, value)
    form.add_field("file", data, filename=filename, content_type=content_type)
    async with aiohttp.ClientSession() as http, http.post(post.url, data=form) as resp:
        return resp.status, await resp.text()


# -- presigned POST ---------------------------------------------------------------------


async def test_post_under_a_prefix_stores_the_file_with_its_fields(s3: aios3.S3) -> None:
    post = await s3.presign_post(
        "users/7/",
        content_length_range=(1, 1024),
        content_type_prefix="image/",
        content_disposition="inline",
        metadata={"user-id": "7"},
        expires=timedelta(minutes=10),
    )
    assert post.key == "users/7/${filename}" and post.bucket == s3.config.default_bucket
    assert "signature" not in repr(post).lower() and "policy" not in repr(post)
    assert post.fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"  # SigV4, not botocore's V2
    status, text = await post_form(
        post, b"\x89PNG small", replace={"Content-Type": "image/png"}, filename="me.png"
    )
    assert status == 204, text
    info = await s3.head("users/7/me.png")
    assert info.size == 10 and info.content_type == "image/png"
    assert info.content_disposition == "inline" and info.metadata["user-id"] == "7"
    assert await s3.get_bytes("users/7/me.png") == b"\x89PNG small"


async def test_post_to_an_exact_key_with_a_status(s3: aios3.S3) -> None:
    post = await s3.presign_post("avatars/8", content_type="image/gif", success_action_status=201)
    status, text = await post_form(post, b"GIF89a", content_type="image/gif")
    assert status == 201, text
    info = await s3.head("avatars/8")
    assert info.content_type == "image/gif" and info.size == 6


@pytest.mark.needs("post_policy")
async def test_post_refuses_a_file_over_the_size_range(s3: aios3.S3) -> None:
    post = await s3.presign_post("up/", content_length_range=(1, 1000))
    status, text = await post_form(post, b"x" * 1001, filename="big.bin")
    assert status == 400 and "EntityTooLarge" in text
    assert not await s3.exists("up/big.bin")
    status, text = await post_form(post, b"x" * 1000, filename="fits.bin")
    assert status == 204, text
    assert (await s3.head("up/fits.bin")).size == 1000


@pytest.mark.needs("post_policy")
async def test_post_refuses_another_type_or_a_key_outside_the_prefix(s3: aios3.S3) -> None:
    post = await s3.presign_post("up/", content_type_prefix="image/")
    status, _ = await post_form(post, b"text", replace={"Content-Type": "text/html"})
    assert status == 403
    status, _ = await post_form(
        post, b"\x89PNG", replace={"Content-Type": "image/png", "key": "elsewhere/x.png"}
    )
    assert status == 403
    assert [o async for o in s3.list("")] == []


@pytest.mark.needs("auth")
async def test_post_with_a_tampered_policy_is_refused(s3: aios3.S3) -> None:
    post = await s3.presign_post("up/", content_length_range=(1, 10))
    other = await s3.presign_post("up/", content_length_range=(1, 10_000))
    status, _ = await post_form(post, b"x" * 100, replace={"policy": other.fields["policy"]})
    assert status == 403
    assert [o async for o in s3.list("")] == []


async def test_post_arguments_are_checked_before_signing() -> None:
    s3 = aios3.connect(
        endpoint="http://127.0.0.1:9",
        access_key_id="AK",
        secret_access_key="SK",
        default_bucket="bucket",
    )  # never opened: every mistake below is caught before the client is needed
    bad: list[dict[str, object]] = [
        {"expires": 0},
        {"expires": timedelta(days=8)},
        {"content_length_range": (10, 1)},
        {"content_length_range": (-1, 1)},
        {"content_length_range": (0, 6 * 1024**3)},
        {"content_length_range": 5},
        {"content_type": "image/png", "content_type_prefix": "image/"},
        {"content_type": "bad\ntype"},
        {"acl": "everyone"},
        {"success_action_status": 302},
        {"metadata": {"bad key": "v"}},
        {"fields": {"policy": "x"}},
        {"fields": {"Content-Type": "a"}, "content_type": "b"},
        {"conditions": [["matches", "$key", "x"]]},
        {"conditions": [["starts-with", "key", "x"]]},
        {"conditions": [{"a": "1", "b": "2"}]},
    ]
    for kwargs in bad:
        with pytest.raises(InvalidRequest):
            await s3.presign_post("k", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="filename"):
        await s3.presign_post("up/${filename}.png")
    anonymous = aios3.connect(endpoint="http://127.0.0.1:9", anonymous=True, default_bucket="bkt")
    with pytest.raises(ConfigError, match="credentials"):
        await anonymous.presign_post("k")
    with pytest.raises(ConfigError, match="credentials"):
        await anonymous.presign_upload_part("k", "upload", 1)


# -- presigned multipart parts -----------------------------------------------------------


async def put_part(http: aiohttp.ClientSession, url: str, data: bytes) -> tuple[int, str]:
    # A browser's fetch(url, {method: "PUT", body: blob}) sends the blob's type.
    body = io.BytesIO(data)  # aiohttp warns of big bytes bodies, not of files
    async with http.put(url, data=body, headers={"Content-Type": "video/mp4"}) as resp:
        return resp.status, resp.headers.get("ETag", "")


async def test_browser_multipart_upload_end_to_end(s3: aios3.S3) -> None:
    size = 11 * MiB + 12345
    data = bytes(range(256)) * (size // 256) + b"!" * (size % 256)
    upload = await s3.presign_multipart(
        "videos/talk.mp4", size=size, part_size=5 * MiB, metadata={"owner": "7"}
    )
    assert [(p.number, p.start, p.end) for p in upload.parts] == [
        (1, 0, 5 * MiB),
        (2, 5 * MiB, 10 * MiB),
        (3, 10 * MiB, size),
    ]
    assert upload.part_size == 5 * MiB and upload.parts[2].size == MiB + 12345
    assert "X-Amz-Signature" not in repr(upload)
    assert all("X-Amz-Algorithm=AWS4-HMAC-SHA256" in p.url for p in upload.parts)
    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(
            *(put_part(http, p.url, data[p.start : p.end]) for p in upload.parts)
        )
    assert [status for status, _ in answers] == [200, 200, 200]
    etags = {p.number: etag for p, (_, etag) in zip(upload.parts, answers, strict=True)}
    info = await s3.complete_upload(upload.key, upload.upload_id, size=size, etags=etags)
    assert info.size == size and info.content_type == "video/mp4"  # guessed from the key
    assert info.metadata["owner"] == "7"
    assert await s3.get_bytes("videos/talk.mp4") == data
    assert await open_uploads(s3, upload.bucket) == []


async def test_complete_finds_the_parts_and_refuses_a_gap(s3: aios3.S3) -> None:
    size = 6 * MiB
    data = b"a" * (5 * MiB) + b"b" * MiB
    upload = await s3.presign_multipart("gap.bin", size=size, part_size=5 * MiB)
    async with aiohttp.ClientSession() as http:
        status, _ = await put_part(http, upload.parts[1].url, data[5 * MiB :])
        assert status == 200
        with pytest.raises(IntegrityError, match=r"parts \[1\] are missing"):
            await s3.complete_upload("gap.bin", upload.upload_id, size=size)
        assert len(await open_uploads(s3, upload.bucket)) == 1  # left open to finish
        # The page asks for a fresh URL for the missing part (a retry), then finishes.
        url = await s3.presign_upload_part("gap.bin", upload.upload_id, 1, expires=60)
        status, _ = await put_part(http, url, data[: 5 * MiB])
        assert status == 200
    with pytest.raises(IntegrityError, match="not 7340032"):
        await s3.complete_upload("gap.bin", upload.upload_id, size=7 * MiB)
    info = await s3.complete_upload("gap.bin", upload.upload_id)  # parts from ListParts
    assert info.size == size and await s3.get_bytes("gap.bin") == data
    assert await open_uploads(s3, upload.bucket) == []


async def test_abort_upload_leaves_nothing(s3: aios3.S3) -> None:
    upload = await s3.presign_multipart("gone.bin", size=100)
    assert len(upload.parts) == 1 and upload.parts[0].size == 100
    async with aiohttp.ClientSession() as http:
        assert (await put_part(http, upload.parts[0].url, b"x" * 100))[0] == 200
    await s3.abort_upload("gone.bin", upload.upload_id)
    await s3.abort_upload("gone.bin", upload.upload_id)  # already gone: fine
    assert await open_uploads(s3, upload.bucket) == []
    assert not await s3.exists("gone.bin")


@pytest.mark.needs("auth")
async def test_a_part_url_is_bound_to_its_part(s3: aios3.S3) -> None:
    upload = await s3.presign_multipart("bound.bin", size=10 * MiB, part_size=5 * MiB)
    forged = upload.parts[0].url.replace("partNumber=1", "partNumber=2")
    async with aiohttp.ClientSession() as http:
        assert (await put_part(http, forged, b"x" * 10))[0] == 403
    await s3.abort_upload("bound.bin", upload.upload_id)


async def test_multipart_arguments_are_checked_before_any_request() -> None:
    s3 = aios3.connect(
        endpoint="http://127.0.0.1:9",
        access_key_id="AK",
        secret_access_key="SK",
        default_bucket="bucket",
    )
    for kwargs in ({"size": 0}, {"size": 10, "part_size": MiB}, {"size": 10, "expires": -1}):
        with pytest.raises(InvalidRequest):
            await s3.presign_multipart("k", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="10000"):
        await s3.presign_multipart("k", size=60 * 1024**3, part_size=5 * MiB)
    for number in (0, 10_001, True):
        with pytest.raises(InvalidRequest, match="part_number"):
            await s3.presign_upload_part("k", "upload", number)
    with pytest.raises(InvalidRequest, match="upload_id"):
        await s3.presign_upload_part("k", "", 1)
