"""Faults injected by a loopback proxy between aios3 and the real server: resets,
truncated and corrupted bodies, 5xx and SlowDown, stalls. Whatever happens, the bytes
stored or written are right, or the call fails with a typed error and leaves nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest
from conftest import open_uploads
from faultproxy import Fault, FaultProxy
from test_roundtrip import blob

import aios3
from aios3 import MiB, TransferConfig
from aios3.testing import Server

FAST = TransferConfig(
    part_size=5 * MiB,
    multipart_threshold=5 * MiB,
    download_threshold=5 * MiB,
    concurrency=2,
    part_retries=2,
    retry_backoff=0.05,
)


@pytest.fixture
async def faulty(server: Server, s3: aios3.S3, proxy: FaultProxy) -> AsyncIterator[aios3.S3]:
    """A client whose every request goes through the proxy (same default bucket)."""
    config = server.config(
        endpoint=proxy.url,
        default_bucket=s3.config.default_bucket,
        max_attempts=2,
        read_timeout=5,
    )
    async with aios3.connect(config, transfer=FAST) as client:
        yield client


async def test_part_hit_by_reset_is_retried(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy
) -> None:
    data = blob(12 * MiB, seed=31)
    rule = proxy.add(
        Fault("reset_request", method="PUT", path_contains="partNumber=2", after_bytes=MiB, times=3)
    )
    info = await faulty.upload("f/reset", data)
    assert rule.fired == 3 and info.parts == 3
    assert await s3.get_bytes("f/reset") == data
    assert not await open_uploads(s3, s3.config.default_bucket or "")


async def test_persistent_part_failure_aborts_everything(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy
) -> None:
    rule = proxy.add(
        Fault(
            "status",
            method="PUT",
            path_contains="partNumber=2",
            status=500,
            code="InternalError",
            times=-1,
        )
    )
    with pytest.raises(aios3.TransferError) as caught:
        await faulty.upload("f/doomed", blob(12 * MiB))
    err = caught.value
    assert err.part_number == 2 and err.upload_id and err.key == "f/doomed" and err.status == 500
    # botocore's 2 tries x aios3's 3 rounds: bounded, then abort
    assert rule.fired == 6
    assert not await open_uploads(s3, s3.config.default_bucket or "")
    assert not await s3.exists("f/doomed")


async def test_slowdown_is_retried_with_backoff_and_bounded(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy
) -> None:
    rule = proxy.add(
        Fault("status", method="PUT", path_contains="f/slow", status=503, code="SlowDown", times=3)
    )
    await faulty.upload("f/slow", b"eventually")
    assert rule.fired == 3 and await s3.get_bytes("f/slow") == b"eventually"
    proxy.clear()
    rule = proxy.add(
        Fault(
            "status", method="PUT", path_contains="f/never", status=503, code="SlowDown", times=-1
        )
    )
    started = time.monotonic()
    with pytest.raises(aios3.ServiceError) as caught:
        await faulty.upload("f/never", b"x")
    assert caught.value.code == "SlowDown" and caught.value.status == 503
    assert rule.fired == 6  # 2 tries per request x 3 rounds, and no more
    assert time.monotonic() - started > 0.05 * (1 + 2) * 0.5  # it did back off


async def test_truncated_stream_resumes_where_it_stopped(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy
) -> None:
    data = blob(3 * MiB, seed=5)
    await s3.upload("f/stream", data)
    rule = proxy.add(Fault("truncate", method="GET", path_contains="f/stream", after_bytes=MiB + 7))
    received = bytearray()
    async with faulty.stream("f/stream") as body:
        async for chunk in body:
            received += chunk
    assert rule.fired == 1 and bytes(received) == data
    gets = [t for m, t in proxy.log if m == "GET" and "f/stream" in t]
    assert len(gets) == 2  # the original and one ranged resume, not a restart of everything


@pytest.mark.parametrize("ranged", [False, True], ids=["one-get", "ranged"])
async def test_truncated_download_is_retried_and_correct(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy, tmp_path: Path, ranged: bool
) -> None:
    data = blob(12 * MiB, seed=6)
    await s3.upload("f/dl", data)
    transfer = FAST if ranged else TransferConfig(download_threshold=64 * MiB, retry_backoff=0.05)
    rule = proxy.add(Fault("truncate", method="GET", path_contains="f/dl", after_bytes=2 * MiB))
    await faulty.download("f/dl", tmp_path / "out", transfer=transfer)
    assert rule.fired == 1 and (tmp_path / "out").read_bytes() == data
    if ranged:  # the broken range resumed where it stopped, not from its start
        asked = proxy.ranges_asked("f/dl")
        starts = {int(r.removeprefix("bytes=").split("-")[0]) for r in asked if r}
        assert len(asked) == 4 and len(starts - {0, 5 * MiB, 10 * MiB}) == 1


async def test_persistent_truncation_never_renames_into_place(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    await s3.upload("f/cut", blob(12 * MiB, seed=7))
    (tmp_path / "out").write_bytes(b"old")
    proxy.add(Fault("truncate", method="GET", path_contains="f/cut", after_bytes=1000, times=-1))
    with pytest.raises(aios3.TransferError):
        await faulty.download("f/cut", tmp_path / "out")
    assert (tmp_path / "out").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("ranged", [False, True], ids=["one-get", "ranged"])
async def test_corrupted_download_is_detected(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy, tmp_path: Path, ranged: bool
) -> None:
    data = blob(12 * MiB, seed=8)
    info = await s3.upload("f/bits", data, transfer=FAST)
    assert info.checksums.get("CRC32")
    transfer = FAST if ranged else TransferConfig(download_threshold=64 * MiB)
    (tmp_path / "out").write_bytes(b"old")
    proxy.add(Fault("corrupt", method="GET", path_contains="f/bits", after_bytes=12345, times=-1))
    with pytest.raises(aios3.IntegrityError, match=r"(?i)checksum"):
        await faulty.download("f/bits", tmp_path / "out", transfer=transfer)
    assert (tmp_path / "out").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


async def test_stalled_server_times_out_and_is_retried(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy
) -> None:
    await s3.upload("f/stall", b"patience")
    rule = proxy.add(Fault("stall", method="GET", path_contains="f/stall", seconds=30))
    started = time.monotonic()
    assert await faulty.get_bytes("f/stall") == b"patience"
    assert rule.fired == 1 and time.monotonic() - started < 20


async def test_cancel_during_complete_leaves_no_upload(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy
) -> None:
    bucket = s3.config.default_bucket or ""
    rule = proxy.add(Fault("stall", method="POST", path_contains="uploadId=", seconds=30))
    task = asyncio.create_task(faulty.upload("f/completing", blob(11 * MiB)))
    for _ in range(2000):
        if rule.fired:
            break
        await asyncio.sleep(0.01)
    assert rule.fired == 1  # Complete is in flight, its answer held back
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    # The server may have completed the object before the abort: then it is whole.
    assert not await open_uploads(s3, bucket, "f/completing")
    if await s3.exists("f/completing"):
        assert await s3.get_bytes("f/completing") == blob(11 * MiB)


async def test_cancel_during_parallel_download_leaves_no_file(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    await s3.upload("f/par", blob(20 * MiB, seed=9), transfer=FAST)
    rule = proxy.add(
        Fault("stall", method="GET", path_contains="f/par", after_bytes=MiB, seconds=30, times=-1)
    )
    task = asyncio.create_task(faulty.download("f/par", tmp_path / "out", transfer=FAST))
    for _ in range(2000):
        if rule.fired >= 2:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.needs("checksum_verification")
async def test_server_refuses_a_wrong_checksum(s3: aios3.S3) -> None:
    """Per-request checksums are verified by the server: a wrong one is refused."""
    bucket = s3.config.default_bucket or ""
    with pytest.raises(aios3.IntegrityError) as caught:
        await s3.call(
            "put_object",
            action="put",
            bucket=bucket,
            key="bad",
            Body=b"hello",
            ChecksumCRC32="AAAAAA==",
        )
    assert caught.value.code == "BadDigest"
    up = await s3.client.create_multipart_upload(
        Bucket=bucket, Key="bad-mp", ChecksumAlgorithm="CRC32"
    )
    with pytest.raises(aios3.IntegrityError):
        await s3.call(
            "upload_part",
            action="part",
            bucket=bucket,
            key="bad-mp",
            UploadId=up["UploadId"],
            PartNumber=1,
            Body=b"x" * 100,
            ChecksumCRC32="AAAAAA==",
        )
    await s3.abort_multipart_uploads("bad-mp")
    assert not await s3.exists("bad")


async def test_cancel_while_create_is_in_flight_aborts_what_it_made(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy
) -> None:
    """CreateMultipartUpload reached the server but its answer is held back: the upload it
    made is still found and aborted after the cancellation."""
    bucket = s3.config.default_bucket or ""
    rule = proxy.add(Fault("stall", method="POST", path_contains="uploads", seconds=3))

    async def start() -> None:
        async with faulty.multipart_upload("f/creating") as up:
            await up.write(b"never sent")

    task = asyncio.create_task(start())
    for _ in range(2000):
        if rule.fired:
            break
        await asyncio.sleep(0.01)
    assert rule.fired == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)
    assert not await open_uploads(s3, bucket, "f/creating")


async def _cancel_once_stalled(call: Coroutine[Any, Any, Any], stall: Fault) -> None:
    """Run ``call`` until ``stall`` holds its answer back, then cancel it; it must end
    cancelled, and promptly."""
    task = asyncio.create_task(call)
    for _ in range(2000):
        if stall.fired:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 30)


async def test_cancel_during_one_get_download_leaves_no_file(
    s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    await s3.upload("f/one", blob(6 * MiB, seed=10))
    (tmp_path / "out").write_bytes(b"old")
    rule = proxy.add(
        Fault("stall", method="GET", path_contains="f/one", after_bytes=2 * MiB, seconds=30)
    )
    one_get = TransferConfig(download_threshold=64 * MiB)
    await _cancel_once_stalled(faulty.download("f/one", tmp_path / "out", transfer=one_get), rule)
    assert (tmp_path / "out").read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


async def test_a_small_download_read_whole_is_retried_checked_and_cancellable(
    server: Server, s3: aios3.S3, faulty: aios3.S3, proxy: FaultProxy, tmp_path: Path
) -> None:
    """An object of at most a MiB is downloaded by one GET read whole: a body cut short
    is asked again (and the file is right), one corrupted fails its checksum, a
    cancellation while it stalls leaves nothing; the old file is kept each time."""
    data = blob(700 * 1024, seed=11)
    info = await s3.upload("f/small", data)
    assert info.checksums.get("CRC32")
    out = tmp_path / "out"
    cut = proxy.add(Fault("truncate", method="GET", path_contains="f/small", after_bytes=300_000))
    await faulty.download("f/small", out)
    gets = [t for m, t in proxy.log if m == "GET" and "f/small" in t]
    assert cut.fired == 1 and len(gets) == 2 and out.read_bytes() == data
    assert proxy.ranges_asked("") == [None, None]  # whole GETs, no ranges
    out.write_bytes(b"old")
    # moto reports no checksum of a single PUT (HEAD or GET): nothing to check against
    if server.name != "moto":
        assert (await s3.head("f/small")).full_object_checksum is not None
        proxy.add(
            Fault("corrupt", method="GET", path_contains="f/small", after_bytes=12345, times=-1)
        )
        with pytest.raises(aios3.IntegrityError, match=r"(?i)checksum"):
            await faulty.download("f/small", out)
        assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out"]
    proxy.clear()
    stall = proxy.add(
        Fault("stall", method="GET", path_contains="f/small", after_bytes=100_000, seconds=30)
    )
    await _cancel_once_stalled(faulty.download("f/small", out), stall)
    assert out.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["out"]
