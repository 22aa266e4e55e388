"""Bucket operations: create (with region), exists, list, delete (force), versioning,
and finding and aborting orphaned multipart uploads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import new_bucket_name, open_uploads

import aios3
from aios3.testing import Server


async def test_create_exists_list_delete(server: Server) -> None:
    name = new_bucket_name()
    async with aios3.connect(server.config()) as s3:
        assert not await s3.bucket_exists(name)
        await s3.create_bucket(name)
        assert await s3.bucket_exists(name)
        assert name in [b.name for b in await s3.list_buckets()]
        await s3.create_bucket(name, exist_ok=True)
        await s3.delete_bucket(name)
        assert not await s3.bucket_exists(name)
        with pytest.raises(aios3.InvalidRequest):
            await s3.create_bucket("Not_Valid")
        with pytest.raises(aios3.NoSuchBucket):
            await s3.delete_bucket(name)


@pytest.mark.needs("bucket_location")
async def test_create_bucket_outside_us_east_1_sends_location(server: Server) -> None:
    name = new_bucket_name()
    async with aios3.connect(server.config(region="eu-west-3")) as s3:
        await s3.create_bucket(name)
        location = await s3.client.get_bucket_location(Bucket=name)
        assert location["LocationConstraint"] == "eu-west-3"
        # Outside us-east-1 S3 refuses to re-create a bucket you own (us-east-1 says 200).
        with pytest.raises(aios3.Conflict):
            await s3.create_bucket(name)
        await s3.create_bucket(name, exist_ok=True)
        await s3.delete_bucket(name)


@pytest.mark.needs("bucket_not_empty")
async def test_delete_non_empty_bucket_needs_force(s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    await s3.upload("k", b"v")
    with pytest.raises(aios3.Conflict):
        await s3.delete_bucket(bucket)
    assert await s3.bucket_exists(bucket)


async def test_force_delete_versioned_bucket_with_open_upload(s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    await s3.set_versioning(bucket, True)
    assert await s3.get_versioning(bucket) == "Enabled"
    for i in range(3):
        await s3.upload("doc", f"v{i}".encode())
    await s3.delete("doc")  # a delete marker on top
    await s3.upload("other", b"x")
    orphan = await s3.client.create_multipart_upload(Bucket=bucket, Key="orphan")
    assert len(await open_uploads(s3, bucket)) == 1
    versions = [v async for v in s3.list_versions()]
    assert sum(v.is_delete_marker for v in versions) == 1 and len(versions) == 5
    await s3.delete_bucket(bucket, force=True)
    assert not await s3.bucket_exists(bucket)
    assert orphan["UploadId"]


async def test_versions_can_be_read_back(s3: aios3.S3, tmp_path: Path) -> None:
    bucket = s3.config.default_bucket or ""
    await s3.set_versioning(bucket, True)
    first = await s3.upload("v/key", b"first")
    second = await s3.upload("v/key", b"second")
    assert first.version_id and second.version_id and first.version_id != second.version_id
    versions = [v async for v in s3.list_versions("v/")]
    assert {v.version_id for v in versions} == {first.version_id, second.version_id}
    assert [v.is_latest for v in versions if v.version_id == second.version_id] == [True]
    assert await s3.get_bytes("v/key", version_id=first.version_id) == b"first"
    assert await s3.get_bytes("v/key") == b"second"
    info = await s3.download("v/key", tmp_path / "old", version_id=first.version_id)
    assert (tmp_path / "old").read_bytes() == b"first" and info.version_id == first.version_id
    assert (await s3.head("v/key", version_id=first.version_id)).size == 5
    await s3.set_versioning(bucket, False)
    assert await s3.get_versioning(bucket) == "Suspended"


async def test_find_and_abort_orphaned_uploads(s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    for key in ("tmp/a", "tmp/b", "keep/c"):
        await s3.client.create_multipart_upload(Bucket=bucket, Key=key)
    listed = [u async for u in s3.list_multipart_uploads("tmp/")]
    assert sorted(u.key for u in listed) == ["tmp/a", "tmp/b"] and all(u.upload_id for u in listed)
    assert await s3.abort_multipart_uploads("tmp/") == 2
    assert [u.key async for u in s3.list_multipart_uploads()] == ["keep/c"]
    assert await s3.abort_multipart_uploads() == 1
    assert not await open_uploads(s3, bucket)


@pytest.mark.needs("upload_initiated")
async def test_abort_only_uploads_older_than(s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    await s3.client.create_multipart_upload(Bucket=bucket, Key="fresh")
    assert await s3.abort_multipart_uploads(older_than=timedelta(hours=1)) == 0
    assert await s3.abort_multipart_uploads(older_than=timedelta(0)) == 1
    assert not await open_uploads(s3, bucket)
