"""One budget of part-buffer bytes for all the uploads of a client
(``TransferConfig.max_memory``): concurrent uploads share it, one alone may use it all,
many starting at once never wait on each other, and every byte goes back to it whatever
happens (success, failure, cancellation)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

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


async def test_concurrent_uploads_share_the_pool(server: Server, bucket_name: str) -> None:
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=tight(10 * MiB)) as s3:
        await s3.create_bucket(bucket_name)
        datas = [blob(20 * MiB + i, seed=i) for i in range(6)]
        # in-memory files are read straight into part buffers, which the pool counts
        # (a file on disk goes up as spans of itself and holds none: test_file_spans)
        await asyncio.gather(*(s3.upload(f"m/{i}", io.BytesIO(d)) for i, d in enumerate(datas)))
        # alone, each would hold concurrency x part = 20 MiB: 120 MiB for six; together
        # they stay within the pool plus one part each (the first is never refused)
        assert 10 * MiB <= s3.memory.peak <= 10 * MiB + 6 * 5 * MiB
        assert s3.memory.in_use == 0
        for i, d in enumerate(datas):
            assert await s3.get_bytes(f"m/{i}") == d
        await s3.delete_bucket(bucket_name, force=True)


async def test_one_upload_alone_uses_the_whole_pool(server: Server, bucket_name: str) -> None:
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=tight(40 * MiB, concurrency=8)) as s3:
        await s3.create_bucket(bucket_name)
        await s3.upload("m/alone", io.BytesIO(blob(45 * MiB)))
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


async def test_idle_uploads_shed_their_spares_for_one_that_waits(
    server: Server, bucket_name: str
) -> None:
    """Two open uploads sit idle holding acknowledged buffers; a third, which must wait
    for room after its first part, gets it: idle spares are shed, not waited for."""
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=tight(10 * MiB)) as s3:
        await s3.create_bucket(bucket_name)
        async with s3.multipart_upload("m/a") as a, s3.multipart_upload("m/b") as b:
            for up in (a, b):
                await up.write(blob(10 * MiB))  # two parts each, then idle
            await asyncio.sleep(0.5)  # their parts are acknowledged (kept or given back)
            third = await asyncio.wait_for(s3.upload("m/c", chunks(16 * MiB, seed=9)), 60)
            assert third.size == 16 * MiB
        assert s3.memory.in_use == 0
        await s3.delete_bucket(bucket_name, force=True)


async def test_the_count_follows_every_buffer(server: Server, bucket_name: str) -> None:
    """A buffer kept as a spare and filled again before its task's callback ran stays
    counted: the pool never says less than the buffers alive."""
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=tight(40 * MiB)) as s3:
        await s3.create_bucket(bucket_name)
        piece = blob(MiB)
        async with s3.multipart_upload("m/count") as up:
            for _ in range(30 * 5):
                await up.write(piece)
                await asyncio.sleep(0)
                # a part task done, its callbacks still to run, holds no buffer of its
                # own: it kept its buffer as a spare, or the callback gives it back
                sending = sum(not task.done() for task in up._tasks)
                alive = len(up._spare) + (up._buffer is not None) + sending
                assert up._pooled >= min(alive, 8) * 5 * MiB - 5 * MiB
                assert s3.memory.in_use == up._pooled
        assert s3.memory.in_use == 0 and up.result is not None and up.result.parts == 30
        await s3.delete_bucket(bucket_name, force=True)


async def test_closing_the_client_while_completing_never_stores_a_hole(
    server: Server, bucket_name: str, proxy: object
) -> None:
    from faultproxy import Fault, FaultProxy

    assert isinstance(proxy, FaultProxy)
    config = server.config(endpoint=proxy.url, default_bucket=bucket_name)
    async with aios3.connect(server.config(default_bucket=bucket_name)) as admin:
        await admin.create_bucket(bucket_name)
        proxy.add(Fault("stall", method="PUT", path_contains="partNumber=2", seconds=3))
        s3 = aios3.connect(config, transfer=tight(40 * MiB))
        await s3.open()

        async def upload() -> None:
            async with s3.multipart_upload("m/hole") as up:
                await up.write(blob(15 * MiB))

        task = asyncio.create_task(upload())
        await asyncio.sleep(1.0)  # parts 1 and 3 done, part 2 stalled, exit waiting
        await s3.close()
        with pytest.raises(aios3.TransferError):
            await task
        assert not await admin.exists("m/hole")
        assert await open_uploads(admin, bucket_name) == []
        await admin.delete_bucket(bucket_name, force=True)


async def test_a_source_that_fails_mid_part_gives_its_share_of_a_shared_budget_back(
    server: Server, bucket_name: str
) -> None:
    """A file whose read fails while a part is being filled, in a directory call's
    shared budget: the part it was filling gives its slot and bytes back (the budget
    is whole again), or every later file of the call would wait for them for ever."""
    from aios3._aio import Budget, tree_budget

    class Failing(io.RawIOBase):  # a pipe-like file: unknown length, read into parts
        # (a read-ahead of 5 MiB and a bit, then parts: it fails while part 2 fills)
        def __init__(self) -> None:
            self.given = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            if self.given >= 7 * MiB:
                raise OSError(5, "Input/output error")
            n = min(len(buffer), MiB)
            buffer[:n] = b"x" * n
            self.given += n
            return n

    shared = Budget(2, 10 * MiB)
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=tight(10 * MiB)) as s3:
        await s3.create_bucket(bucket_name)
        token = tree_budget.set(shared)
        try:
            with pytest.raises((OSError, aios3.S3Error)):
                await s3.upload("m/failing", Failing())
        finally:
            tree_budget.reset(token)
        assert (shared._slots, shared._bytes) == (2, 10 * MiB)
        assert s3.memory.in_use == 0
        assert await open_uploads(s3, bucket_name) == []
        await s3.delete_bucket(bucket_name, force=True)
