"""A stream's ``bytes`` chunks go up as they are: ``write()`` (and an upload from an
iterable of chunks) holds a chunk that nobody can change as a piece of its part
instead of copying it into a part buffer. What must still hold: every byte arrives in
order across part boundaries, whatever mix of chunk types and sizes; a chunk that its
caller can change (a bytearray) is copied, so changing it after ``write()`` changes
nothing; a held part goes through every path a part can take (aios3's connections,
aiohttp, botocore's path, a retry after a reset) and its memory goes back to the
client's pool."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncIterator, Iterable, Iterator

from faultproxy import Fault, FaultProxy
from test_roundtrip import blob

import aios3
from aios3 import MiB, TransferConfig
from aios3.testing import Server

_PARTS = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB, concurrency=2)


async def _held_by_aios3(s3: aios3.S3, key: str, chunks: Iterable[bytes | bytearray]) -> int:
    """The bytes that aios3's own code had allocated and still held halfway through
    writing ``chunks`` (made beforehand) with ``write()``: parts in flight and the
    part being filled. (Only aios3's: moto's server may run in this process.)"""
    tracemalloc.start()
    try:
        async with s3.multipart_upload(key, part_size=5 * MiB, concurrency=2) as up:
            for turn, chunk in enumerate(chunks):
                await up.write(chunk)
                if turn == 7:  # part 1 sent or on its way, part 2 being filled
                    snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ours = snapshot.filter_traces([tracemalloc.Filter(True, "*/aios3/*")])
    return sum(stat.size for stat in ours.statistics("filename"))


async def test_bytes_chunks_are_held_and_bytearrays_copied(s3: aios3.S3) -> None:
    """16 MiB in 1 MiB ``bytes`` chunks allocate no part buffer (aios3 holds less than
    a chunk's worth halfway through); the same chunks as bytearrays, each changed after
    its ``write()``, are copied into part buffers (two of 5 MiB), and go up as they
    were when written."""
    data = blob(16 * MiB, seed=1)
    held = [data[i : i + MiB] for i in range(0, len(data), MiB)]
    ours = await _held_by_aios3(s3, "held/bytes", held)
    assert ours < MiB, f"{ours / MiB:.1f} MiB: the chunks were copied"
    assert await s3.get_bytes("held/bytes") == data

    def changing() -> Iterator[bytearray]:  # one buffer, refilled once written
        reused = bytearray(MiB)
        for start in range(0, len(data), MiB):
            reused[:] = data[start : start + MiB]
            yield reused

    ours = await _held_by_aios3(s3, "held/bytearrays", changing())
    assert ours >= 10 * MiB  # part buffers: copied
    assert await s3.get_bytes("held/bytearrays") == data


async def test_a_mix_of_chunks_across_part_boundaries_arrives_in_order(
    server: Server, bucket_name: str
) -> None:
    """Held and copied chunks, long and short, views of bytes and bytearrays (some
    not contiguous: every other byte), one chunk longer than a part: the object is
    the chunks joined, and its parts are 5 MiB each but the last."""
    data = blob(23 * MiB + 12345, seed=2)
    sizes = [MiB, 3000, 700 * 1024, 200 * 1024, 5 * MiB + 17, 64 * 1024, 128 * 1024, 1]
    sizes += [300 * 1024, 256 * 1024]
    kinds = ["bytes", "bytes", "view", "bytearray", "bytes", "bytes", "bytes", "bytearray"]
    kinds += ["strided bytes", "strided bytearray"]
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=_PARTS) as s3:
        await s3.create_bucket(bucket_name)
        try:
            async with s3.multipart_upload("held/mix", part_size=5 * MiB) as up:
                at, turn = 0, 0
                while at < len(data):
                    size, kind = sizes[turn % len(sizes)], kinds[turn % len(kinds)]
                    piece = data[at : at + size]
                    if kind.startswith("strided"):  # every other byte of twice as many
                        doubled = bytearray(2 * len(piece))
                        doubled[::2] = piece
                        source = bytes(doubled) if kind == "strided bytes" else doubled
                        await up.write(memoryview(source)[::2])
                    elif kind == "view":
                        await up.write(memoryview(piece))
                    elif kind == "bytearray":
                        await up.write(bytearray(piece))
                    else:
                        await up.write(piece)
                    at, turn = at + len(piece), turn + 1
            assert up.result is not None and up.result.parts == 5
            assert await s3.get_bytes("held/mix") == data
            assert s3.memory.in_use == 0  # every held part gave its share back
        finally:
            await s3.delete_bucket(bucket_name, force=True)


async def _stream(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), MiB):
        yield data[start : start + MiB]
        await asyncio.sleep(0)


async def test_held_parts_go_through_aiohttp_and_botocore_too(
    server: Server, bucket_name: str
) -> None:
    """One connection of aios3's own for four parts at once sends the others through
    aiohttp; with ``direct_requests=False`` botocore's path sends them all. Every
    byte arrives either way, at the first try (no retry could hide a failed send)."""
    data = blob(31 * MiB, seed=3)
    once = TransferConfig(
        part_size=5 * MiB, multipart_threshold=5 * MiB, concurrency=4, part_retries=0
    )
    for options in ({"max_pool_connections": 1}, {"direct_requests": False}):
        config = server.config(default_bucket=bucket_name, max_attempts=1, **options)
        async with aios3.connect(config, transfer=once) as s3:
            await s3.create_bucket(bucket_name)
            try:
                assert (await s3.upload("held/paths", _stream(data))).parts == 7
                if "max_pool_connections" in options:
                    direct = s3._direct
                    assert direct is not None and direct._session is not None  # aiohttp
                assert await s3.get_bytes("held/paths") == data
            finally:
                await s3.delete_bucket(bucket_name, force=True)


async def test_a_held_part_reset_midway_is_sent_again_whole(
    server: Server, s3: aios3.S3, proxy: FaultProxy
) -> None:
    """The proxy resets the connection 2 MiB into part 2: it goes again, from the
    same chunks, and the object is whole."""
    data = blob(12 * MiB, seed=4)
    config = server.config(endpoint=proxy.url, default_bucket=s3.config.default_bucket)
    async with aios3.connect(config, transfer=_PARTS) as client:
        rule = proxy.add(
            Fault("reset_request", method="PUT", path_contains="partNumber=2", after_bytes=2 * MiB)
        )
        assert (await client.upload("held/reset", _stream(data))).parts == 3
        assert rule.fired == 1
    assert await s3.get_bytes("held/reset") == data


async def test_the_end_of_a_huge_write_is_copied_not_held(s3: aios3.S3) -> None:
    """A held piece keeps its whole bytes object alive: the 1 MiB left of an 11 MiB
    write(), which waits in the part being filled, is a copy, so the caller's 11 MiB
    are let go when write() returns; a whole chunk is held."""
    import sys

    big = blob(11 * MiB, seed=5)
    chunk = blob(MiB, seed=6)
    alone, chunk_alone = sys.getrefcount(big), sys.getrefcount(chunk)
    async with s3.multipart_upload("held/huge", part_size=5 * MiB) as up:
        await up.write(big)
        assert sys.getrefcount(big) == alone  # nothing of aios3's refers to it
        await up.write(chunk)
        assert sys.getrefcount(chunk) == chunk_alone + 1  # held by the part being filled
    assert await s3.get_bytes("held/huge") == big + chunk
