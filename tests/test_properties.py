"""Property-based round trips: object sizes, part sizes and write() chunkings around
part boundaries, each stored and read back byte for byte (hypothesis)."""

from __future__ import annotations

import asyncio
import itertools
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_roundtrip import blob

import aios3
from aios3 import MiB, TransferConfig
from aios3.testing import Server

PART_SIZES = (5 * MiB, 6 * MiB)


@st.composite
def sizes_near_boundaries(draw: st.DrawFn) -> tuple[int, int]:
    part = draw(st.sampled_from(PART_SIZES))
    parts = draw(st.integers(0, 3))
    delta = draw(st.integers(-3, 3) | st.integers(-100_000, 100_000))
    return part, max(0, parts * part + delta)


SETTINGS = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


@SETTINGS
@given(
    plan=sizes_near_boundaries(),
    chunking=st.lists(st.integers(1, 3 * MiB) | st.integers(1, 70_000), min_size=1, max_size=6),
)
def test_write_chunkings_round_trip(
    server: Server, bucket_name: str, plan: tuple[int, int], chunking: list[int]
) -> None:
    part, size = plan
    data = blob(size, seed=size)

    async def check() -> None:
        async with aios3.connect(server.config(default_bucket=bucket_name)) as s3:
            await s3.create_bucket(bucket_name, exist_ok=True)
            key = f"prop/{uuid.uuid4().hex}"
            async with s3.multipart_upload(key, part_size=part, concurrency=3) as up:
                pos = 0
                for step in itertools.cycle(chunking):
                    if pos >= size:
                        break
                    await up.write(data[pos : pos + step])
                    pos += step
            assert up.result is not None
            assert up.result.size == size
            assert up.result.parts == max(1, -(-size // part))
            assert await s3.get_bytes(key) == data
            assert not [u async for u in s3.list_multipart_uploads(key)]

    run(check())


@SETTINGS
@given(plan=sizes_near_boundaries(), step=st.integers(1, 2 * MiB))
def test_upload_and_download_round_trip(
    server: Server, bucket_name: str, plan: tuple[int, int], step: int, tmp_path_factory: object
) -> None:
    part, size = plan
    data = blob(size, seed=size + 1)
    transfer = TransferConfig(part_size=part, multipart_threshold=part, download_threshold=part)

    async def chunks() -> object:
        for i in range(0, size, step):
            yield data[i : i + step]

    async def check() -> None:
        async with aios3.connect(
            server.config(default_bucket=bucket_name), transfer=transfer
        ) as s3:
            await s3.create_bucket(bucket_name, exist_ok=True)
            key = f"prop/{uuid.uuid4().hex}"
            info = await s3.upload(key, chunks())
            assert info.size == size
            target = tmp_path_factory.mktemp("dl") / "out"  # type: ignore[attr-defined]
            got = await s3.download(key, target)
            assert target.read_bytes() == data and got.size == size
            async with s3.stream(key, start=size // 3, end=size - size // 5) as body:
                assert b"".join([c async for c in body]) == data[size // 3 : size - size // 5]

    run(check())


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=70_000),
    seed=st.integers(0, 2**32 - 1),
    cut=st.integers(0, 70_000),
    kind=st.sampled_from([bytes, bytearray, memoryview]),
)
def test_crc32_and_its_combination_equal_zlib(data: bytes, seed: int, cut: int, kind: type) -> None:
    """The CRC32 aios3 computes (zlib-ng's where installed) equals the system zlib's,
    for any seed, any buffer type, chained over pieces and combined from pieces."""
    import zlib

    from aios3._checksum import crc32, crc32_combine

    cut = min(cut, len(data))
    head, tail = data[:cut], data[cut:]
    assert crc32(kind(data), seed) == zlib.crc32(data, seed)
    assert crc32(kind(tail), crc32(kind(head))) == zlib.crc32(data)
    assert crc32_combine(zlib.crc32(head), zlib.crc32(tail), len(tail)) == zlib.crc32(data)


def test_fast_crc32_in_use() -> None:
    """Installed from pyproject.toml on CPython, aios3 hashes with zlib-ng (a broken
    import would silently cost ~0.3 s of CPU per GiB moved)."""
    import platform

    from aios3._checksum import crc32

    if platform.python_implementation() == "CPython":
        assert crc32.__module__.startswith("zlib_ng"), crc32.__module__
