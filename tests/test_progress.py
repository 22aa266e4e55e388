"""``progress=`` on every transfer, against the real servers: events start at 0 and end
at the total, never go back, come at most every 0.1 s, count acknowledged bytes only
(a retried part or a refetched range counts once), and a callback that raises stops
the transfer and leaves nothing behind."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import open_uploads
from faultproxy import Fault, FaultProxy
from test_roundtrip import blob

import aios3
from aios3 import MiB, Progress, TransferConfig
from aios3.testing import Server

SMALL_PARTS = TransferConfig(
    part_size=5 * MiB,
    multipart_threshold=5 * MiB,
    download_threshold=5 * MiB,
    copy_threshold=5 * MiB,
    copy_part_size=5 * MiB,
    concurrency=2,
    part_retries=2,
    retry_backoff=0.05,
)


class Recorder:
    """A progress callback that keeps every event and when it came."""

    def __init__(self, *, fail_after: int | None = None) -> None:
        self.events: list[Progress] = []
        self.times: list[float] = []
        self._fail_after = fail_after

    def __call__(self, event: Progress) -> None:
        self.events.append(event)
        self.times.append(time.monotonic())
        if self._fail_after is not None and event.bytes_done >= self._fail_after:
            raise Stop(f"stopped at {event.bytes_done}")

    def check(self, total: int) -> None:
        """The sequence a finished transfer of ``total`` bytes reports."""
        assert self.events, "no progress event"
        done = [e.bytes_done for e in self.events]
        assert done[0] == 0 or self.events[0].files_total is not None
        assert done == sorted(done), done
        assert done[-1] == total and self.events[-1].bytes_total == total
        assert self.events[-1].finished
        assert all(d <= total for d in done)
        # throttled: between the first and the last, events are >= 0.1 s apart
        middle = self.times[1:-1]
        gaps = [b - a for a, b in itertools.pairwise(middle)]
        assert all(g >= 0.095 for g in gaps), gaps


class Stop(Exception):
    pass


async def test_small_upload_reports_start_and_end(s3: aios3.S3) -> None:
    seen = Recorder()
    await s3.upload("p/small", b"x" * 1000, progress=seen)
    seen.check(1000)
    assert seen.events[0] == Progress(f"s3://{s3.config.default_bucket}/p/small", 0, 1000)
    assert len(seen.events) == 2


async def test_multipart_upload_counts_parts_as_acknowledged(
    server: Server, bucket_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "big"
    path.write_bytes(blob(16 * MiB + 5, seed=3))
    events: list[Progress] = []

    async def on_progress(event: Progress) -> None:  # a coroutine function works too
        events.append(event)

    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=SMALL_PARTS) as s3:
        await s3.create_bucket(bucket_name)
        info = await s3.upload("p/big", path, progress=on_progress)
        assert info.parts == 4
        done = [e.bytes_done for e in events]
        assert done[0] == 0 and done[-1] == 16 * MiB + 5
        # each step is whole parts: acknowledged parts, never bytes in flight
        assert all(d % (5 * MiB) in (0, MiB + 5) for d in done), done
        assert len(done) == len(set(done))  # no event repeats the one before
        assert all(e.bytes_total == 16 * MiB + 5 for e in events)
        await s3.delete_bucket(bucket_name, force=True)


async def test_multipart_upload_context_manager_and_stream_of_unknown_size(
    server: Server, bucket_name: str
) -> None:
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=SMALL_PARTS) as s3:
        await s3.create_bucket(bucket_name)
        seen = Recorder()
        async with s3.multipart_upload("p/mpu", progress=seen) as up:
            for _ in range(3):
                await up.write(blob(4 * MiB))
        seen.check(12 * MiB)
        assert seen.events[0].bytes_total is None  # no size given: unknown until the end

        async def chunks() -> object:
            for _ in range(3):
                yield blob(3 * MiB)

        seen = Recorder()
        await s3.upload("p/gen", chunks(), progress=seen)
        seen.check(9 * MiB)
        await s3.delete_bucket(bucket_name, force=True)


async def test_callback_error_aborts_the_upload(server: Server, bucket_name: str) -> None:
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=SMALL_PARTS) as s3:
        await s3.create_bucket(bucket_name)
        with pytest.raises(Stop):
            await s3.upload("p/stop", blob(16 * MiB), progress=Recorder(fail_after=5 * MiB))
        assert not await s3.exists("p/stop")
        assert await open_uploads(s3, bucket_name) == []
        # raising on the very first event: the upload just created is aborted too
        with pytest.raises(Stop):
            async with s3.multipart_upload("p/first", progress=Recorder(fail_after=0)) as up:
                await up.write(b"never sent")
        assert await open_uploads(s3, bucket_name) == []
        await s3.delete_bucket(bucket_name, force=True)


async def test_download_progress_and_callback_error_leaves_no_file(
    server: Server, bucket_name: str, tmp_path: Path
) -> None:
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=SMALL_PARTS) as s3:
        await s3.create_bucket(bucket_name)
        size = 12 * MiB + 3
        await s3.upload("p/dl", blob(size, seed=5))
        for threshold in (5 * MiB, 64 * MiB):  # ranged, then one streamed GET
            transfer = TransferConfig(part_size=5 * MiB, download_threshold=threshold)
            seen = Recorder()
            target = tmp_path / f"dl-{threshold}"
            await s3.download("p/dl", target, progress=seen, transfer=transfer)
            seen.check(size)
            assert target.stat().st_size == size
            stopped = tmp_path / f"stopped-{threshold}"
            with pytest.raises(Stop):
                await s3.download(
                    "p/dl", stopped, transfer=transfer, progress=Recorder(fail_after=1)
                )
            assert not stopped.exists()
            assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []
        await s3.delete_bucket(bucket_name, force=True)


async def test_stream_and_copy_progress(server: Server, bucket_name: str) -> None:
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=SMALL_PARTS) as s3:
        await s3.create_bucket(bucket_name)
        size = 11 * MiB
        await s3.upload("p/src", blob(size, seed=9))
        seen = Recorder()
        got = 0
        async with s3.stream("p/src", start=MiB, progress=seen) as body:
            async for chunk in body:
                got += len(chunk)
        assert got == size - MiB
        seen.check(size - MiB)  # the range's length is the total
        with pytest.raises(Stop):
            async with s3.stream("p/src", progress=Recorder(fail_after=1)) as body:
                async for _ in body:
                    pass
        seen = Recorder()
        info = await s3.copy("p/src", "p/copied", progress=seen)  # multipart copy: 3 parts
        assert info.parts == 3
        seen.check(size)
        seen = Recorder()
        await s3.upload("p/tiny", b"abc")
        await s3.copy("p/tiny", "p/tiny2", progress=seen)  # one CopyObject
        seen.check(3)
        with pytest.raises(Stop):
            await s3.copy("p/src", "p/halted", progress=Recorder(fail_after=1))
        assert not await s3.exists("p/halted")
        assert await open_uploads(s3, bucket_name) == []
        await s3.delete_bucket(bucket_name, force=True)


async def test_resume_counts_stored_parts_as_done(server: Server, bucket_name: str) -> None:
    config = server.config(default_bucket=bucket_name)
    data = blob(15 * MiB, seed=11)
    async with aios3.connect(config, transfer=SMALL_PARTS) as s3:
        await s3.create_bucket(bucket_name)
        resp = await s3.client.create_multipart_upload(Bucket=bucket_name, Key="p/resume")
        upload_id = resp["UploadId"]
        await s3.client.upload_part(
            Bucket=bucket_name,
            Key="p/resume",
            UploadId=upload_id,
            PartNumber=1,
            Body=data[: 5 * MiB],
        )
        seen = Recorder()
        await s3.resume_upload("p/resume", upload_id, data, progress=seen)
        seen.check(15 * MiB)
        assert all(e.bytes_done in (0, 5 * MiB, 10 * MiB, 15 * MiB) for e in seen.events)
        assert await s3.get_bytes("p/resume") == data
        await s3.delete_bucket(bucket_name, force=True)


async def test_folder_progress_sums_files(server: Server, bucket_name: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    sizes = {"a": 3, "b": 6 * MiB, "sub/c": 11 * MiB, "sub/d": 0}
    for rel, size in sizes.items():
        (src / rel).write_bytes(blob(size, seed=len(rel)))
    total = sum(sizes.values())
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=SMALL_PARTS) as s3:
        await s3.create_bucket(bucket_name)
        seen = Recorder()
        result = await s3.upload_dir(src, "tree", progress=seen)
        assert result.copied == 4
        seen.check(total)
        first, last = seen.events[0], seen.events[-1]
        assert (first.files_done, first.files_total, first.bytes_total) == (0, 4, total)
        assert (last.files_done, last.files_total, last.active) == (4, 4, ())
        active = {a.name for e in seen.events for a in e.active}
        assert active <= {str(src / rel) for rel in sizes}  # each named by its source
        files = [e.files_done for e in seen.events]
        assert files == sorted(files)

        seen = Recorder()
        await s3.download_dir("tree", tmp_path / "back", progress=seen)
        seen.check(total)
        seen = Recorder()
        await s3.copy_prefix("tree", "copy", progress=seen)
        seen.check(total)
        seen = Recorder()
        result = await s3.sync(src, f"s3://{bucket_name}/tree", progress=seen)
        assert result.unchanged == 4
        assert seen.events[-1] == Progress(str(src), 0, 0, 0, 0)  # nothing to do

        # a callback error stops the whole call and leaves no upload open: a file is
        # either stored whole or not at all
        (src / "sub" / "e").write_bytes(blob(12 * MiB))
        with pytest.raises(Stop):
            await s3.sync(src, f"s3://{bucket_name}/tree", progress=Recorder(fail_after=1))
        assert await open_uploads(s3, bucket_name) == []
        if await s3.exists("tree/sub/e"):
            assert await s3.get_bytes("tree/sub/e") == (src / "sub" / "e").read_bytes()
        await s3.delete_bucket(bucket_name, force=True)


async def test_dryrun_reports_what_would_move(
    server: Server, bucket_name: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok").write_bytes(b"fine")
    (src / "two").write_bytes(b"second")
    config = server.config(default_bucket=bucket_name)
    async with aios3.connect(config, transfer=SMALL_PARTS) as s3:
        await s3.create_bucket(bucket_name)
        seen = Recorder()
        await s3.upload_dir(src, "dry", dryrun=True, progress=seen)
        assert seen.events[-1].files_done == seen.events[-1].files_total == 2
        seen.check(10)
        await s3.delete_bucket(bucket_name, force=True)


@pytest.mark.parametrize("kind", ["upload", "download"])
async def test_retried_bytes_count_once(
    server: Server, bucket_name: str, tmp_path: Path, kind: str
) -> None:
    parts = urlsplit(server.endpoint)
    size = 12 * MiB
    data = blob(size, seed=17)
    async with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80) as proxy:
        config = server.config(endpoint=proxy.url, default_bucket=bucket_name, max_attempts=2)
        async with aios3.connect(config, transfer=SMALL_PARTS) as s3:
            await s3.create_bucket(bucket_name)
            seen = Recorder()
            if kind == "upload":
                rule = proxy.add(
                    Fault(
                        "reset_request",
                        method="PUT",
                        path_contains="partNumber=2",
                        after_bytes=MiB,
                        times=2,
                    )
                )
                await s3.upload("p/retry", data, progress=seen)
            else:
                await s3.upload("p/retry", data)
                rule = proxy.add(
                    Fault("truncate", method="GET", path_contains="p/retry", after_bytes=2 * MiB)
                )
                await s3.download("p/retry", tmp_path / "retry", progress=seen)
                assert (tmp_path / "retry").read_bytes() == data
            assert rule.fired >= 1
            seen.check(size)
            await s3.delete_bucket(bucket_name, force=True)
