"""A file uploaded over plain http goes up as spans of itself: each part is digested by
reading it a piece at a time and sent by the kernel (``os.sendfile``) from the page
cache, so no part is ever held in memory. What a user relies on still holds: every
byte arrives, a file that changes size under the upload is an error and leaves no
upload behind, a cancel aborts it, and no descriptor outlives it."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from conftest import open_uploads
from faultproxy import Fault, FaultProxy

import aios3
from aios3 import MiB, Progress, TransferConfig
from aios3.testing import Server

_PARTS = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB, concurrency=3)


def _fds_on(path: Path) -> list[str]:
    """This process's descriptors open on ``path`` (the source and its spans)."""
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # (the listing's own descriptor, gone)
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                fds.append(fd)
    return fds


def _file(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "source.bin"
    block = os.urandom(MiB)
    with path.open("wb") as f:
        for _ in range(size // MiB):
            f.write(block)
        f.write(block[: size % MiB])
    return path


pytestmark = pytest.mark.skipif(
    not os.path.isdir("/proc/self/fd") or not hasattr(os, "sendfile"),
    reason="needs os.sendfile and /proc/self/fd",
)


@pytest.mark.parametrize("given", ["path", "open file"])
async def test_a_file_goes_up_from_the_page_cache_not_from_memory(
    server: Server, s3: aios3.S3, tmp_path: Path, given: str
) -> None:
    """A 21 MiB file in 5 MiB parts, named by its path or given open (from where it
    was read up to): every byte arrives, yet no part buffer is ever taken from the
    client's memory pool (the old way took three of 5 MiB), aiohttp is never asked,
    and no descriptor is left open; an open file is left at its end, as a read to the
    end leaves it. With the server in another process, the upload allocates under
    1 MiB in all."""
    path = _file(tmp_path, 21 * MiB + 12345)
    await s3.upload("warm/up", b"x")  # the client's first requests, out of the count
    skip = 1000 if given == "open file" else 0
    with path.open("rb") as f:
        f.read(skip)
        tracemalloc.start()
        try:
            info = await s3.upload("spans/file", f if skip else path, transfer=_PARTS)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert f.tell() == (path.stat().st_size if skip else 0)
    assert info.parts == 5 and info.size == path.stat().st_size - skip
    assert s3.memory.peak == 0
    if server.name == "seaweedfs":  # (moto's server runs in this process)
        assert peak < MiB
    direct = s3._direct
    assert direct is not None and direct._session is None
    await asyncio.sleep(0)  # the part tasks' callbacks (which close the spans) have run
    assert _fds_on(path) == []
    assert await s3.get_bytes("spans/file") == path.read_bytes()[skip:]


async def test_a_wrapped_file_is_read_not_spanned(
    server: Server, s3: aios3.S3, tmp_path: Path
) -> None:
    """A GzipFile, or a buffer over a raw stream of one's own, has a file's descriptor
    but reads something else (the file unpacked, changed): it is read, not sent from
    its descriptor; what arrives is what it reads."""
    import gzip

    data = os.urandom(6 * MiB) * 2
    path = tmp_path / "data.gz"
    with gzip.open(path, "wb", compresslevel=1) as g:
        g.write(data)
    with gzip.open(path, "rb") as g:
        await s3.upload("spans/gz", g, size=len(data), transfer=_PARTS)
    assert await s3.get_bytes("spans/gz") == data

    class Upper(io.RawIOBase):  # a raw stream of one's own, over a real file
        def __init__(self, f: io.FileIO) -> None:
            self.f = f

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            n = self.f.readinto(b)
            b[:n] = bytes(b[:n]).upper()
            return n

        def fileno(self) -> int:
            return self.f.fileno()

        def seekable(self) -> bool:
            return True

        def seek(self, offset: int, whence: int = 0) -> int:
            return self.f.seek(offset, whence)

        def tell(self) -> int:
            return self.f.tell()

        def close(self) -> None:
            self.f.close()
            super().close()

    plain = tmp_path / "plain"
    plain.write_bytes(b"abc" * (4 * MiB))
    with io.BufferedReader(Upper(io.FileIO(plain))) as f:
        await s3.upload("spans/upper", f, size=12 * MiB, transfer=_PARTS)
    assert await s3.get_bytes("spans/upper") == b"ABC" * (4 * MiB)


@pytest.mark.parametrize("change", ["shrinks", "grows", "is rewritten in place"])
async def test_a_file_that_changes_mid_upload_is_an_error_and_aborted(
    server: Server, s3: aios3.S3, tmp_path: Path, change: str
) -> None:
    """Truncated (a log rotated), appended to, or rewritten in place at the same size
    once the upload has begun (its first progress report): one clear InvalidRequest,
    the upload aborted, no object and no descriptor left. In place, the parts' bytes
    would no longer be the ones their checksums were taken from; a server that does
    not check them (moto) would keep an object that fails its own checksum."""
    path = _file(tmp_path, 20 * MiB)
    await s3.upload("warm/up", b"x")
    changed = False

    def change_it(progress: Progress) -> None:
        nonlocal changed
        if not changed:
            changed = True
            if change == "shrinks":
                os.truncate(path, 7 * MiB)
            elif change == "grows":
                with path.open("ab") as f:
                    f.write(b"more")
            else:
                with path.open("r+b") as f:
                    f.seek(12 * MiB)
                    f.write(b"new bytes")

    one_at_a_time = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB, concurrency=1)
    message = {"shrinks": "shrank|changed", "grows": "changed|holds more than"}.get(
        change, "changed while it was being uploaded"
    )
    with pytest.raises(aios3.InvalidRequest, match=message):
        await s3.upload("spans/changing", path, transfer=one_at_a_time, progress=change_it)
    assert changed
    assert await open_uploads(s3, s3.config.default_bucket or "", "spans/") == []
    assert not await s3.exists("spans/changing")
    await asyncio.sleep(0)
    assert _fds_on(path) == []


async def test_a_cancelled_file_upload_is_aborted_and_closes_its_spans(
    server: Server, s3: aios3.S3, tmp_path: Path, proxy: FaultProxy
) -> None:
    """Cancelled while a part stalls (the proxy holds it): the upload is aborted and
    every span's descriptor closed."""
    path = _file(tmp_path, 20 * MiB)
    bucket = s3.config.default_bucket or ""
    config = server.config(endpoint=proxy.url, default_bucket=bucket)
    async with aios3.connect(config, transfer=_PARTS) as client:
        await client.upload("warm/up", b"x")
        proxy.add(Fault("stall", method="PUT", path_contains="partNumber=2", seconds=30))
        task = asyncio.create_task(client.upload("spans/cancelled", path))
        for _ in range(200):  # until the stalled part is in (10 s at most)
            if any(m == "PUT" and "partNumber=2" in t for m, t in proxy.log):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        assert _fds_on(path) == []
    assert await open_uploads(s3, bucket, "spans/") == []


async def test_a_part_reset_mid_span_is_sent_again_from_the_file(
    server: Server, s3: aios3.S3, tmp_path: Path, proxy: FaultProxy
) -> None:
    """The proxy resets the connection 2 MiB into a part's span: botocore's retry
    handler sends it again, from the file; the object is whole."""
    path = _file(tmp_path, 12 * MiB)
    config = server.config(endpoint=proxy.url, default_bucket=s3.config.default_bucket)
    async with aios3.connect(config, transfer=_PARTS) as client:
        rule = proxy.add(
            Fault("reset_request", method="PUT", path_contains="partNumber=2", after_bytes=2 * MiB)
        )
        assert (await client.upload("spans/reset", path)).parts == 3
        assert rule.fired == 1
    # every body the proxy saw whole matched the SHA-256 its signature names
    assert proxy.payloads and all(ok for _, _, ok in proxy.payloads)
    assert await s3.get_bytes("spans/reset") == path.read_bytes()


async def test_parts_beyond_a_full_pool_go_through_aiohttp_read_whole(
    server: Server, tmp_path: Path, bucket_name: str
) -> None:
    """One connection of aios3's own for four parts at once: the parts that find it
    taken go through aiohttp, their spans read whole for it; every byte arrives."""
    path = _file(tmp_path, 20 * MiB + 1)
    config = server.config(default_bucket=bucket_name, max_pool_connections=1)
    four = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB, concurrency=4)
    async with aios3.connect(config, transfer=four) as client:
        await client.create_bucket(bucket_name)
        try:
            assert (await client.upload("spans/pool", path)).parts == 5
            direct = client._direct
            assert direct is not None and direct._session is not None  # aiohttp was asked
            assert await client.get_bytes("spans/pool") == path.read_bytes()
        finally:
            await client.delete_bucket(bucket_name, force=True)
