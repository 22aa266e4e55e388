"""FileWriter, the thread that writes a download's pieces: order, CRCs, back-pressure,
errors. Real files (and /dev/full for a disk that is full); no S3 involved."""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import os
import random
import threading
import zlib
from pathlib import Path

import pytest

from aios3._writer import FileWriter


async def test_pieces_of_many_slots_land_at_their_offsets(tmp_path: Path) -> None:
    rng = random.Random(7)
    slot_size, slots = 300_000, 4
    data = rng.randbytes(slot_size * slots)
    # Each slot's pieces in order, the slots interleaved at random: how ranges arrive.
    queues = [
        [(o, data[o : o + n]) for o, n in _cuts(rng, s * slot_size, slot_size)]
        for s in range(slots)
    ]
    path = tmp_path / "out"
    with open(path, "wb") as f:
        os.ftruncate(f.fileno(), len(data))
        # A limit below one piece: every put waits for the thread to catch up.
        async with FileWriter(f.fileno(), slots=slots, limit=1, within=30) as writer:
            while any(queues):
                slot = rng.choice([i for i, q in enumerate(queues) if q])
                offset, piece = queues[slot].pop(0)
                await writer.put(slot, [piece[:10], piece[10:]], offset)
    assert path.read_bytes() == data
    assert writer.crcs == [
        zlib.crc32(data[s * slot_size : (s + 1) * slot_size]) for s in range(slots)
    ]


async def test_a_failed_write_is_raised_and_nothing_more_is_written() -> None:
    fd = os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    try:
        with pytest.raises(OSError) as caught:
            async with FileWriter(fd, slots=1, limit=1 << 20, within=30) as writer:
                for i in range(100):
                    await writer.put(0, [b"x" * 1000], i * 1000)
                    await asyncio.sleep(0.001)
        assert caught.value.errno == errno.ENOSPC
    finally:
        os.close(fd)


async def test_leaving_on_an_error_finishes_the_write_under_way_only(tmp_path: Path) -> None:
    entered, gate = threading.Event(), threading.Event()

    def observe(chunks: list[bytes]) -> None:  # holds the thread inside the first piece
        entered.set()
        gate.wait(10)

    path = tmp_path / "out"
    piece = b"y" * 65536
    with open(path, "wb") as f, pytest.raises(RuntimeError, match="stop"):
        writer = FileWriter(f.fileno(), slots=1, limit=1 << 30, within=30, observe=observe)
        async with writer:
            for i in range(10):
                await writer.put(0, [piece], i * len(piece))
            for _ in range(1000):
                if entered.is_set():
                    break
                await asyncio.sleep(0.005)
            asyncio.get_running_loop().call_later(0.2, gate.set)
            raise RuntimeError("stop")
    assert gate.is_set()  # leaving waited for the thread, released 0.2 s later
    assert path.read_bytes() == piece  # that piece was written; the nine queued were not


def _cuts(rng: random.Random, start: int, size: int) -> list[tuple[int, int]]:
    out, pos = [], start
    while pos < start + size:
        n = min(rng.randint(20, 70_000), start + size - pos)
        out.append((pos, n))
        pos += n
    return out


async def test_the_writer_holds_no_thread_of_the_default_executor(tmp_path: Path) -> None:
    """A long download must not take a worker that getaddrinfo or to_thread elsewhere
    needs: with a one-thread default executor, to_thread still runs while it writes."""
    loop = asyncio.get_running_loop()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(executor)
    try:
        with open(tmp_path / "out", "wb") as f:
            async with FileWriter(f.fileno(), slots=1, limit=1 << 20, within=30) as writer:
                await writer.put(0, [b"z" * 1000], 0)
                assert await asyncio.wait_for(asyncio.to_thread(int, "7"), 5) == 7
        assert (tmp_path / "out").read_bytes() == b"z" * 1000
    finally:
        executor.shutdown(wait=True)
