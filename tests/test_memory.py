"""One budget of part-buffer bytes for all the uploads of a client
(``TransferConfig.max_memory``): concurrent uploads share it, one alone may use it all,
many starting at once never wait on each other, and every byte goes back to it whatever
happens (success, failure, cancellation)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import open_uploads
from test_roundtrip import blob

import aios3
from aios3 import MiB, TransferConfig
from aios3.testing import Server


def tight(max_memory: int, concurrency: int = 4) -> TransferConfig:
    return TransferConfig(
        part_size=5 * MiB,
        multipart_threshold=5 * MiB,
        concurrency=concurrency,
        max_memory=max_memory,
    )


async def chunks(size: int, seed: int) -> AsyncIterator[bytes]:
    data = blob(size, seed=seed)
    for start in range(0, size, MiB):
        yield data[start : start + MiB]


async def test_concurrent_uploads_share_the_pool(
    server: Server, bucket_name: str, tmp_path: Path
) -> None:
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=tight(10 * MiB)) as s3:
        await s3.create_bucket(bucket_name)
        datas = [blob(20 * MiB + i, seed=i) for i in range(6)]
        for i, d in enumerate(datas):
            (tmp_path / str(i)).write_bytes(d)
        # files are read straight into part buffers, which the pool counts
        await asyncio.gather(*(s3.upload(f"m/{i}", tmp_path / str(i)) for i in range(6)))
        # alone, each would hold concurrency x part = 20 MiB: 120 MiB for six; together
        # they stay within the pool plus one part each (the first is never refused)
        assert 10 * MiB <= s3.memory.peak <= 10 * MiB + 6 * 5 * MiB
        assert s3.memory.in_use == 0
        for i, d in enumerate(datas):
            assert await s3.get_bytes(f"m/{i}") == d
        await s3.delete_bucket(bucket_name, force=True)


async def test_one_upload_alone_uses_the_whole_pool(
    server: Server, bucket_name: str, tmp_path: Path
) -> None:
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=tight(40 * MiB, concurrency=8)) as s3:
        await s3.create_bucket(bucket_name)
        (tmp_path / "alone").write_bytes(blob(45 * MiB))
        await s3.upload("m/alone", tmp_path / "alone")
        assert 20 * MiB <= s3.memory.peak <= 40 * MiB + 5 * MiB
        assert s3.memory.in_use == 0
        await s3.delete_bucket(bucket_name, force=True)


async def test_many_streams_at_once_never_deadlock(server: Server, bucket_name: str) -> None:
    """Twelve streams of unknown length, each with a read-ahead, in a pool of one part."""
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=tight(5 * MiB)) as s3:
        await s3.create_bucket(bucket_name)
        uploads = [s3.upload(f"m/s{i}", chunks(11 * MiB, seed=i)) for i in range(12)]
        results = await asyncio.wait_for(asyncio.gather(*uploads), timeout=240)
        assert [r.size for r in results] == [11 * MiB] * 12
        assert s3.memory.peak >= 5 * MiB
        assert s3.memory.in_use == 0
        assert await s3.get_bytes("m/s3") == blob(11 * MiB, seed=3)
        await s3.delete_bucket(bucket_name, force=True)


async def test_failed_and_cancelled_uploads_give_their_bytes_back(
    server: Server, bucket_name: str
) -> None:
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=tight(10 * MiB)) as s3:
        await s3.create_bucket(bucket_name)

        class Boom(Exception):
            pass

        with pytest.raises(Boom):
            async with s3.multipart_upload("m/failed") as up:
                await up.write(blob(12 * MiB))
                raise Boom
        assert s3.memory.in_use == 0

        gate = asyncio.Event()

        async def slow() -> AsyncIterator[bytes]:
            yield blob(7 * MiB)
            gate.set()
            await asyncio.sleep(60)
            yield b"never"

        task = asyncio.create_task(s3.upload("m/cancelled", slow()))
        await asyncio.wait_for(gate.wait(), 30)
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert s3.memory.in_use == 0
        assert await open_uploads(s3, bucket_name) == []
        await s3.delete_bucket(bucket_name, force=True)


def test_max_memory_below_a_part_is_refused() -> None:
    with pytest.raises(aios3.ConfigError, match="max_memory"):
        TransferConfig(max_memory=MiB)
