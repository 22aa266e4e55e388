"""Round trips: every size class and every kind of source, compared byte for byte."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiofiles
import pytest

import aios3
from aios3 import MiB, TransferConfig

SMALL = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB, download_threshold=5 * MiB)
PART = 5 * MiB


def blob(n: int, seed: int = 0) -> bytes:
    """Deterministic incompressible bytes (fast: repeated SHA-256 blocks)."""
    block = b"".join(hashlib.sha256(f"{seed}-{i}".encode()).digest() for i in range(2048))
    return (block * (n // len(block) + 1))[:n]


@pytest.mark.parametrize(
    "size",
    [0, 1, PART - 1, PART, PART + 1, 2 * PART - 1, 2 * PART, 2 * PART + 1],
    ids=lambda n: f"{n}B",
)
async def test_sizes_round_trip(s3: aios3.S3, tmp_path: Path, size: int) -> None:
    data = blob(size, seed=size)
    info = await s3.upload(f"sizes/{size}", data, transfer=SMALL)
    assert info.size == size
    expected_parts = None if size <= PART else -(-size // PART)
    assert info.parts == expected_parts
    assert await s3.get_bytes(f"sizes/{size}") == data
    target = tmp_path / "out.bin"
    got = await s3.download(f"sizes/{size}", target, transfer=SMALL)
    assert target.read_bytes() == data
    assert got.size == size and got.etag == info.etag


async def test_fifty_mib_multipart_round_trip(s3: aios3.S3, tmp_path: Path) -> None:
    data = blob(50 * MiB + 12345, seed=50)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    info = await s3.upload("big/object.bin", src, transfer=SMALL)
    assert info.parts == 11 and info.size == len(data)
    assert info.checksum_type == "FULL_OBJECT" and "CRC32" in info.checksums
    out = tmp_path / "back.bin"
    got = await s3.download("big/object.bin", out, transfer=SMALL)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert got.checksums.get("CRC32") == info.checksums["CRC32"]
    assert not list(tmp_path.glob(".*aios3-partial"))


async def test_sources_of_every_kind(s3: aios3.S3, tmp_path: Path) -> None:
    data = blob(12 * MiB + 7, seed=7)
    path = tmp_path / "src.bin"
    path.write_bytes(data)

    async def agen() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 777_777):
            yield data[i : i + 777_777]

    def gen() -> object:
        for i in range(0, len(data), 1_000_003):
            yield data[i : i + 1_000_003]

    async with aiofiles.open(path, "rb") as afile:
        with open(path, "rb") as pfile:
            sources = {
                "bytes": data,
                "bytearray": bytearray(data),
                "memoryview": memoryview(data),
                "str-path": str(path),
                "pathlib": path,
                "file": pfile,
                "bytesio": io.BytesIO(data),
                "aiofiles": afile,
                "async-gen": agen(),
                "gen": gen(),
            }
            for name, source in sources.items():
                info = await s3.upload(f"src/{name}", source, transfer=SMALL)
                assert info.size == len(data), name
                assert await s3.get_bytes(f"src/{name}") == data, name


async def test_subprocess_stdout_streams_in(s3: aios3.S3, tmp_path: Path) -> None:
    """A pipe of unknown length, the way `pg_dump | ...` feeds a backup."""
    data = blob(11 * MiB, seed=11)
    path = tmp_path / "dump.bin"
    path.write_bytes(data)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        f"import shutil,sys; shutil.copyfileobj(open({str(path)!r},'rb'), sys.stdout.buffer)",
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    info = await s3.upload("dumps/db.dump", proc.stdout, transfer=SMALL)
    assert await proc.wait() == 0
    assert info.size == len(data) and info.parts == 3
    assert await s3.get_bytes("dumps/db.dump") == data


@pytest.mark.parametrize("buffering", [0, -1], ids=["raw", "buffered"])
async def test_a_pipe_given_as_a_file_object(s3: aios3.S3, buffering: int) -> None:
    """A blocking pipe as a file object (``Popen().stdout``, ``os.fdopen``) is read in a
    worker thread straight into the part buffers; a raw one returns what the pipe holds
    (short reads), a buffered one fills what it is asked."""
    data = blob(13 * MiB + 5, seed=13)
    r, w = os.pipe()

    def feed() -> None:
        with open(w, "wb", buffering=0) as f:
            for i in range(0, len(data), 100_000):
                f.write(data[i : i + 100_000])

    with open(r, "rb", buffering=buffering) as f:
        info, _ = await asyncio.gather(
            s3.upload(f"pipes/{buffering}", f, transfer=SMALL), asyncio.to_thread(feed)
        )
    assert info.size == len(data) and info.parts == 3
    assert await s3.get_bytes(f"pipes/{buffering}") == data


async def test_a_non_blocking_file_is_refused_not_cut_short(s3: aios3.S3) -> None:
    """A non-blocking file that has nothing ready answers readinto() with None. That is
    not the end of the data: the upload fails rather than storing the first bytes."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.write(w, b"x" * 1000)  # some data, then nothing ready: the writer stays open
    try:
        with (
            open(r, "rb", buffering=0) as f,
            pytest.raises(aios3.InvalidRequest, match="non-block"),
        ):
            await s3.upload("pipes/non-blocking", f)
    finally:
        os.close(w)
    assert not await s3.exists("pipes/non-blocking")


async def test_short_stream_goes_in_one_put(s3: aios3.S3) -> None:
    async def agen() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b""
        yield b"world"

    info = await s3.upload("short", agen())
    assert info.parts is None and info.size == 11
    assert await s3.get_bytes("short") == b"hello world"


@pytest.mark.parametrize("total", [3 * MiB, 21 * MiB], ids=["one-put", "multipart"])
async def test_a_source_that_refills_one_buffer(s3: aios3.S3, total: int) -> None:
    """A generator that yields the same bytearray, refilled each time (as a socket
    reader with one buffer does): what was yielded is what is stored."""
    buf = bytearray(MiB)
    expected = bytearray()

    async def refilled() -> AsyncIterator[bytearray]:
        for n in range(total // MiB):
            buf[:] = blob(MiB, seed=n)
            expected.extend(buf)
            yield buf

    await s3.upload("refilled", refilled(), transfer=TransferConfig(part_size=5 * MiB))
    assert await s3.get_bytes("refilled") == expected


async def test_headers_and_metadata_round_trip(s3: aios3.S3) -> None:
    disposition = aios3.content_disposition(filename="Photo été.png")
    for size, name in ((10, "small"), (6 * MiB, "multi")):
        info = await s3.upload(
            f"users/42/{name}",
            blob(size),
            content_type="image/png",
            content_disposition=disposition,
            cache_control="max-age=60",
            metadata={"Owner": "42", "origin": "upload-form"},
            transfer=SMALL,
        )
        assert info.content_type == "image/png"
        _, got = await s3.get(f"users/42/{name}")
        assert got.content_type == "image/png"
        assert got.content_disposition == disposition
        assert got.cache_control == "max-age=60"
        assert dict(got.metadata) == {"owner": "42", "origin": "upload-form"}
        assert got.size == size and got.etag == info.etag


async def test_content_type_is_guessed(s3: aios3.S3, tmp_path: Path) -> None:
    await s3.upload("page.html", b"<p>hi</p>")
    path = tmp_path / "notes.json"
    path.write_text("{}")
    await s3.upload("no-extension", path)
    assert (await s3.get("page.html"))[1].content_type == "text/html"
    assert (await s3.get("no-extension"))[1].content_type == "application/json"


async def test_declared_size_is_checked(s3: aios3.S3) -> None:
    async def agen() -> AsyncIterator[bytes]:
        yield b"x" * 100

    with pytest.raises(aios3.InvalidRequest, match="ended after 100 bytes"):
        await s3.upload("sized", agen(), size=101)
    with pytest.raises(aios3.InvalidRequest, match="contradicts"):
        await s3.upload("sized", b"abc", size=4)


async def test_upload_to_urls_and_s3names(s3: aios3.S3, server: object) -> None:
    bucket = s3.config.default_bucket
    await s3.upload(f"s3://{bucket}/via-url", b"1")
    await s3.upload(aios3.S3Name("via-name", bucket), b"2")
    assert await s3.get_bytes("via-url") == b"1"
    assert await s3.get_bytes(f"s3://{bucket}/via-name") == b"2"


def test_blob_is_deterministic() -> None:
    assert blob(1000, 3) == blob(1000, 3) != blob(1000, 4)
    assert len(set(blob(64 * 1024))) > 200
    assert os.urandom(1)  # the helper does not need it; real randomness is available
