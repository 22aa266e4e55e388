"""Reading: ranged streams, connection release, atomic downloads that leave nothing behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_roundtrip import blob

import aios3
from aios3 import MiB, TransferConfig
from aios3.testing import Server

RANGED = TransferConfig(part_size=5 * MiB, download_threshold=5 * MiB, concurrency=1)


async def test_stream_ranges_and_info(s3: aios3.S3) -> None:
    data = blob(3 * MiB + 5, seed=1)
    await s3.upload("r/obj", data, content_type="application/x-test", metadata={"k": "v"})
    for start, end in [(None, None), (0, 1), (10, 20), (3 * MiB, None), (None, 100), (7, 7)]:
        async with s3.stream("r/obj", start=start, end=end, chunk_size=64 * 1024) as body:
            assert body.info.size == len(data)
            assert body.info.content_type == "application/x-test"
            assert dict(body.info.metadata) == {"k": "v"}
            chunks = [c async for c in body]
        assert all(len(c) <= 64 * 1024 for c in chunks)
        assert b"".join(chunks) == data[start:end], (start, end)
    assert await s3.get_bytes("r/obj", start=100, end=200) == data[100:200]


async def test_bad_ranges_are_refused_before_any_request(s3: aios3.S3) -> None:
    for start, end in [(-1, None), (None, -5)]:  # (10, 5) is empty, as a slice
        with pytest.raises(aios3.InvalidRequest):
            s3.stream("r/none", start=start, end=end)


async def test_missing_key_and_bucket_raise_not_found(s3: aios3.S3, tmp_path: Path) -> None:
    with pytest.raises(aios3.NoSuchKey) as caught:
        await s3.get_bytes("no/such/key")
    assert caught.value.key == "no/such/key" and caught.value.status == 404
    with pytest.raises(aios3.NoSuchBucket):
        await s3.get_bytes("s3://no-such-bucket-here/key")
    with pytest.raises(aios3.NotFound):
        await s3.download("no/such/key", tmp_path / "x")
    assert not list(tmp_path.iterdir())


@pytest.fixture
async def s3_pool_of_one(server: Server, s3: aios3.S3) -> aios3.S3:
    bucket = s3.config.default_bucket
    async with aios3.connect(server.config(default_bucket=bucket, max_pool_connections=1)) as one:
        yield one  # type: ignore[misc]


async def test_leaving_stream_early_releases_the_connection(s3_pool_of_one: aios3.S3) -> None:
    s3 = s3_pool_of_one
    await s3.upload("r/long", blob(4 * MiB))
    for _ in range(3):
        async with s3.stream("r/long", chunk_size=1024) as body:
            async for _chunk in body:
                break
        # with one connection in the pool, this would hang if the body still held it
        assert await asyncio.wait_for(s3.get_bytes("r/long", end=10), 10) == blob(10)


async def test_breaking_a_bare_async_for_releases_the_connection(
    s3_pool_of_one: aios3.S3,
) -> None:
    s3 = s3_pool_of_one
    await s3.upload("r/long", blob(4 * MiB))
    for _ in range(3):
        async for _chunk in s3.stream("r/long", chunk_size=1024):
            break
        assert await asyncio.wait_for(s3.get_bytes("r/long", end=10), 10) == blob(10)


async def test_download_single_and_ranged(s3: aios3.S3, tmp_path: Path) -> None:
    data = blob(12 * MiB + 1, seed=2)
    await s3.upload("d/obj", data, transfer=TransferConfig(part_size=5 * MiB))
    for name, transfer in [("one-get", TransferConfig()), ("ranged", RANGED)]:
        target = tmp_path / name
        info = await s3.download("d/obj", target, transfer=transfer)
        assert target.read_bytes() == data and info.size == len(data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one-get", "ranged"]


async def test_download_failing_halfway_keeps_the_old_file(s3: aios3.S3, tmp_path: Path) -> None:
    """The object changes while a ranged download is under way: the pinned ETag makes the
    next range fail with 412; no partial file remains and the old file is untouched."""
    await s3.upload(
        "d/changing", blob(30 * MiB, seed=3), transfer=TransferConfig(part_size=5 * MiB)
    )
    target = tmp_path / "keep.bin"
    target.write_bytes(b"previous contents")

    async def overwrite_once_started() -> None:
        for _ in range(2000):
            partial = list(tmp_path.glob(".keep.bin.*.aios3-partial"))
            if partial and partial[0].stat().st_size > 0:
                await s3.upload("d/changing", b"new version")
                return
            await asyncio.sleep(0.005)
        raise AssertionError("the download never started writing")

    writer = asyncio.create_task(overwrite_once_started())
    with pytest.raises(aios3.PreconditionFailed):
        await s3.download("d/changing", target, transfer=RANGED)
    await writer
    assert target.read_bytes() == b"previous contents"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.bin"]


async def test_cancelled_download_leaves_nothing(s3: aios3.S3, tmp_path: Path) -> None:
    await s3.upload("d/big", blob(30 * MiB, seed=4), transfer=TransferConfig(part_size=5 * MiB))
    target = tmp_path / "big.bin"
    target.write_bytes(b"old")
    task = asyncio.create_task(s3.download("d/big", target, transfer=RANGED))
    for _ in range(2000):
        if list(tmp_path.glob(".big.bin.*")):
            break
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["big.bin"]


async def test_download_refuses_bad_targets(s3: aios3.S3, tmp_path: Path) -> None:
    await s3.upload("d/x", b"x")
    with pytest.raises(aios3.InvalidRequest, match="directory"):
        await s3.download("d/x", tmp_path)
    with pytest.raises(aios3.InvalidRequest, match="does not exist"):
        await s3.download("d/x", tmp_path / "missing" / "x")


@pytest.mark.parametrize("algorithm", ["SHA256", "SHA1"])
async def test_download_verifies_a_sha_checksum_on_both_paths(
    s3: aios3.S3, tmp_path: Path, algorithm: str
) -> None:
    """An object stored with a whole-object SHA checksum: the one-GET path hashes it as
    it arrives, the ranged path hashes the written file; both must agree with it."""
    data = blob(3 * MiB + 5, seed=9)
    put = TransferConfig(checksum_algorithm=algorithm, multipart_threshold=64 * MiB)
    info = await s3.upload("d/sha", data, transfer=put)
    head = await s3.head("d/sha")
    if head.full_object_checksum is None:
        pytest.skip(f"the server reports no {algorithm} checksum on HEAD")
    assert head.full_object_checksum == (algorithm, info.checksums[algorithm])
    for name, transfer in [
        ("one-get", TransferConfig()),
        ("ranged", TransferConfig(part_size=5 * MiB, download_threshold=MiB)),
    ]:
        await s3.download("d/sha", tmp_path / name, transfer=transfer)
        assert (tmp_path / name).read_bytes() == data
    small = data[: 300 * 1024]  # at most a MiB: one GET read whole, hashed in memory
    info = await s3.upload("d/sha-small", small, transfer=put)
    assert (await s3.head("d/sha-small")).full_object_checksum == (
        algorithm,
        info.checksums[algorithm],
    )
    await s3.download("d/sha-small", tmp_path / "whole")
    assert (tmp_path / "whole").read_bytes() == small
