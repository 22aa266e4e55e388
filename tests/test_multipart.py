"""MultipartUpload: complete on success, abort on any error or cancellation, refuse what
cannot fit, and keep memory bounded."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from conftest import open_uploads

import aios3
from aios3 import GiB, MiB, TransferConfig
from aios3._config import MAX_OBJECT_SIZE, MAX_PART_SIZE, MAX_PARTS
from aios3._multipart import PartPlan
from aios3.testing import Server


class Boom(Exception):
    pass


async def test_write_cuts_parts_and_completes(s3: aios3.S3) -> None:
    chunk = bytes(range(256)) * 4096  # 1 MiB
    async with s3.multipart_upload("mp/ok", part_size=5 * MiB, concurrency=2) as up:
        assert up.upload_id
        for _ in range(12):
            await up.write(chunk)
        await up.write(b"tail")
    assert up.result is not None
    assert up.result.parts == 3 and up.result.size == 12 * MiB + 4
    assert up.result.etag and up.result.etag.endswith('-3"')
    data = await s3.get_bytes("mp/ok")
    assert data == chunk * 12 + b"tail"
    assert not await open_uploads(s3, s3.config.default_bucket or "")


async def test_empty_upload_completes_as_empty_object(s3: aios3.S3) -> None:
    async with s3.multipart_upload("mp/empty") as up:
        pass
    assert up.result is not None and up.result.size == 0
    assert await s3.get_bytes("mp/empty") == b""


async def test_exception_in_block_aborts_and_reraises(s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    with pytest.raises(Boom):
        async with s3.multipart_upload("mp/boom", part_size=5 * MiB) as up:
            await up.write(b"x" * (6 * MiB))  # one part sent, one buffered
            raise Boom
    assert up.upload_id and up.result is None
    assert not await open_uploads(s3, bucket, "mp/boom")
    with pytest.raises(aios3.NoSuchKey):
        await s3.get_bytes("mp/boom")


async def test_cancelled_task_aborts_upload(s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    started = asyncio.Event()

    async def endless() -> None:
        async with s3.multipart_upload("mp/cancel", part_size=5 * MiB, concurrency=2) as up:
            while True:
                await up.write(b"z" * MiB)
                if up.bytes_accepted >= 11 * MiB:
                    started.set()

    task = asyncio.create_task(endless())
    await asyncio.wait_for(started.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await open_uploads(s3, bucket, "mp/cancel")
    with pytest.raises(aios3.NoSuchKey):
        await s3.get_bytes("mp/cancel")


async def test_timeout_around_upload_aborts(s3: aios3.S3) -> None:
    async def slow():  # type: ignore[no-untyped-def]
        while True:
            yield b"s" * MiB
            await asyncio.sleep(0.01)

    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.0):
            await s3.upload("mp/timeout", slow(), transfer=TransferConfig(part_size=5 * MiB))
    assert not await open_uploads(s3, s3.config.default_bucket or "", "mp/timeout")


async def test_bad_chunk_type_aborts_with_clear_error(s3: aios3.S3) -> None:
    async def texty():  # type: ignore[no-untyped-def]
        yield b"a" * (6 * MiB)
        yield "not bytes"

    with pytest.raises(aios3.InvalidRequest, match="gave str"):
        await s3.upload(
            "mp/texty",
            texty(),
            transfer=TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB),
        )
    assert not await open_uploads(s3, s3.config.default_bucket or "", "mp/texty")

    async def nones():  # type: ignore[no-untyped-def]
        yield None

    with pytest.raises(aios3.InvalidRequest, match="NoneType"):
        await s3.upload("mp/none", nones())


async def test_size_beyond_10000_parts_is_refused_before_any_request(s3: aios3.S3) -> None:
    with pytest.raises(aios3.InvalidRequest, match="10000"):
        s3.multipart_upload("mp/huge", part_size=5 * MiB, size=60 * GiB)
    with pytest.raises(aios3.InvalidRequest, match=r"48\.8 TiB"):
        s3.multipart_upload("mp/huge", size=MAX_OBJECT_SIZE + 1)
    with pytest.raises(aios3.InvalidRequest, match="5 MiB to 5 GiB"):
        s3.multipart_upload("mp/tiny", part_size=MiB)
    with pytest.raises(aios3.InvalidRequest, match="5 MiB to 5 GiB"):
        s3.multipart_upload("mp/giant", part_size=6 * GiB)
    assert not await open_uploads(s3, s3.config.default_bucket or "")


def test_part_plan_fits_known_and_grows_for_unknown_sizes() -> None:
    assert PartPlan(part_size=None, default=8 * MiB, size=GiB).size_of(1) == 8 * MiB
    fitted = PartPlan(part_size=None, default=8 * MiB, size=200 * GiB)
    assert fitted.size_of(1) * MAX_PARTS >= 200 * GiB and fitted.size_of(1) % MiB == 0
    top = PartPlan(part_size=None, default=8 * MiB, size=MAX_OBJECT_SIZE)
    assert top.size_of(1) == MAX_PART_SIZE
    grow = PartPlan(part_size=None, default=8 * MiB, size=None)
    sizes = [grow.size_of(n) for n in range(1, MAX_PARTS + 1)]
    assert sizes[0] == 8 * MiB and sizes[99] == 8 * MiB and sizes[100] == 16 * MiB
    assert sizes == sorted(sizes) and max(sizes) == MAX_PART_SIZE
    assert sum(sizes) > 44 * 1024 * GiB  # an unknown-length stream can reach ~44.7 TiB
    with pytest.raises(aios3.InvalidRequest, match="10000-part limit"):
        grow.size_of(MAX_PARTS + 1)


async def test_stream_past_10000_parts_is_refused_before_sending(s3: aios3.S3) -> None:
    """With a fixed part size the 10,001st part is refused and the upload aborted."""
    async with s3.multipart_upload("mp/limit", part_size=5 * MiB) as up:
        up._next_number = MAX_PARTS  # as if 9,999 parts had been sent
        with pytest.raises(aios3.InvalidRequest, match="10000-part limit"):
            await up.write(b"q" * (10 * MiB + 1))
        raise_it = up
    assert raise_it.result is not None  # the block swallowed the error: part 10000 completes
    bucket = s3.config.default_bucket or ""
    assert not await open_uploads(s3, bucket, "mp/limit")


async def test_upload_part_explicit_numbers(s3: aios3.S3) -> None:
    a, b, c = b"A" * (5 * MiB), b"B" * (5 * MiB), b"C" * 10
    async with s3.multipart_upload("mp/explicit") as up:
        await asyncio.gather(up.upload_part(3, c), up.upload_part(1, a), up.upload_part(2, b))
        with pytest.raises(aios3.InvalidRequest, match="already"):
            await up.upload_part(2, b)
        with pytest.raises(aios3.InvalidRequest, match="mixed"):
            await up.write(b"x")
        with pytest.raises(aios3.InvalidRequest, match="1 to 10000"):
            await up.upload_part(0, b"x")
    assert up.result is not None and up.result.parts == 3
    assert await s3.get_bytes("mp/explicit") == a + b + c


async def test_small_middle_part_is_refused_and_aborted(s3: aios3.S3) -> None:
    with pytest.raises(aios3.InvalidRequest, match="under 5 MiB"):
        async with s3.multipart_upload("mp/small-middle") as up:
            await up.upload_part(1, b"tiny")
            await up.upload_part(2, b"end")
    assert not await open_uploads(s3, s3.config.default_bucket or "", "mp/small")


async def test_write_outside_context_is_an_error(s3: aios3.S3) -> None:
    up = s3.multipart_upload("mp/no-context")
    with pytest.raises(RuntimeError, match="async with"):
        await up.write(b"x")


MEMORY_PROBE = """
import asyncio, json, sys, tracemalloc
import aios3

def peak_rss_mib():
    # VmHWM: the peak of this program alone (ru_maxrss also counts the forked parent)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

async def chunks(chunk):
    for _ in range(64):
        yield chunk

async def main(endpoint, bucket, mode, path):
    cfg = aios3.Config(endpoint=endpoint)  # credentials from the AWS_* environment
    transfer = aios3.TransferConfig(part_size=5 << 20, concurrency=2, multipart_threshold=5 << 20)
    async with aios3.connect(cfg, default_bucket=bucket, transfer=transfer) as s3:
        chunk = b"m" * (1 << 20)
        assert s3.client is not None  # built now: its set-up is not the upload's memory
        tracemalloc.start()
        if mode == "write":
            async with s3.multipart_upload("mp/mem", part_size=5 << 20, concurrency=2) as up:
                for _ in range(64):
                    await up.write(chunk)
            size = up.result.size
        elif mode == "file":
            size = (await s3.upload("mp/mem", path)).size
        else:  # an async generator: unknown length, read ahead, then parts
            size = (await s3.upload("mp/mem", chunks(chunk))).size
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(json.dumps({"peak": peak, "size": size, "rss_kib": peak_rss_mib() * 1024}))

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.parametrize("mode", ["write", "file", "stream"])
async def test_memory_stays_bounded_by_parts_in_flight(
    s3: aios3.S3, server: Server, mode: str, tmp_path: Path
) -> None:
    """64 MiB through write() in 1 MiB chunks, from a file (read straight into reused
    part buffers) or from an async generator (read ahead, then parts) holds about
    part_size x concurrency (the part being filled counts against the budget from its
    first byte): measured in a separate client process, apart from the server's own
    memory."""
    import json
    import sys

    path = tmp_path / "64m"
    path.write_bytes(b"f" * (64 * MiB))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        MEMORY_PROBE,
        s3.config.endpoint_url() or "",
        s3.config.default_bucket or "",
        mode,
        str(path),
        stdout=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "AWS_ACCESS_KEY_ID": server.access_key_id,
            "AWS_SECRET_ACCESS_KEY": server.secret_access_key,
        },
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0
    result = json.loads(out)
    part, concurrency = 5 * MiB, 2
    print(
        f"\nclient peak traced memory for a 64 MiB upload ({mode}): "
        f"{result['peak'] / MiB:.1f} MiB, "
        f"peak RSS {result['rss_kib'] / 1024:.0f} MiB"
    )
    assert result["size"] == 64 * MiB
    # the parts (filling + in flight), plus a chunk and transient copies in the HTTP stack
    assert result["peak"] < part * concurrency + 3 * MiB, f"peak {result['peak'] / MiB:.1f} MiB"
