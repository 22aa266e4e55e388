"""Folder transfers in the library (upload_dir, download_dir, copy_prefix, sync) and
through the command line: prefixes as folders, missing sources, sync's comparison and
its deletes, filters, dry runs, one failure among many; and slice-semantics ranges."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from conftest import open_uploads
from test_cli import aios3_cli
from test_roundtrip import blob

import aios3
from aios3 import MiB
from aios3.testing import Server


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by its relative path."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


async def keys(s3: aios3.S3, prefix: str = "") -> set[str]:
    return {o.key async for o in s3.list(prefix) if isinstance(o, aios3.ObjectInfo)}


def make_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


# -- prefixes name folders -------------------------------------------------------------


NEIGHBOURS = {
    "data/x": b"x",
    "data/sub/y": b"y",
    "datax": b"not data",
    "data-old/y": b"not data either",
    "logs/a": b"a",
    "logs.json": b"{}",
    "logs-archive/b": b"b",
    "logsx/c": b"c",
}


async def test_a_prefix_names_a_folder(s3: aios3.S3, tmp_path: Path) -> None:
    for key, data in NEIGHBOURS.items():
        await s3.upload(key, data)
    result = await s3.download_dir("data", tmp_path / "d")
    assert tree(tmp_path / "d") == {"x": b"x", "sub/y": b"y"}
    assert result.ok and result.copied == 2 and not result.skipped
    copied = await s3.copy_prefix("data", "copy")
    assert copied.copied == 2 and await keys(s3, "copy") == {"copy/x", "copy/sub/y"}
    deleted = await s3.delete_prefix("logs")
    assert deleted.deleted == 1
    assert await keys(s3, "logs") == {"logs.json", "logs-archive/b", "logsx/c"}


def test_cli_rm_and_cp_recursive_take_the_prefix_as_a_folder(
    server: Server, s3_sync: aios3.S3, tmp_path: Path
) -> None:
    bucket = s3_sync.config.default_bucket
    done = aios3_cli(server, "cp", "--recursive", f"s3://{bucket}/data", str(tmp_path / "d"))
    assert done.returncode == 0, done.stderr
    assert tree(tmp_path / "d") == {"x": b"x", "sub/y": b"y"}
    done = aios3_cli(server, "rm", "--recursive", f"s3://{bucket}/logs")
    assert done.returncode == 0, done.stderr
    listing = aios3_cli(server, "ls", "--recursive", f"s3://{bucket}").stdout.decode()
    assert "logs/a" not in listing
    for survivor in ("logs.json", "logs-archive/b", "logsx/c", "datax", "data-old/y"):
        assert survivor in listing


@pytest.fixture
async def s3_sync(s3: aios3.S3) -> aios3.S3:
    """The ``s3`` client's bucket filled with NEIGHBOURS, for CLI tests."""
    for key, data in NEIGHBOURS.items():
        await s3.upload(key, data)
    return s3


# -- a missing source is an error --------------------------------------------------------


async def test_a_missing_source_is_an_error_before_anything_changes(
    s3: aios3.S3, tmp_path: Path
) -> None:
    await s3.upload("keep/one", b"1")
    (tmp_path / "a-file").write_bytes(b"f")
    for source in (tmp_path / "missing", tmp_path / "a-file"):
        with pytest.raises(aios3.SourceNotFound):
            await s3.sync(source, "s3://" + (s3.config.default_bucket or "") + "/keep", delete=True)
        with pytest.raises(aios3.SourceNotFound):
            await s3.upload_dir(source, "keep")
    assert await keys(s3) == {"keep/one"}
    local = tmp_path / "local"
    make_tree(local, {"mine.txt": b"mine"})
    bucket = s3.config.default_bucket or ""
    with pytest.raises(aios3.SourceNotFound):  # an empty prefix never means "delete all"
        await s3.sync(f"s3://{bucket}/nothing-here", local, delete=True)
    with pytest.raises(aios3.SourceNotFound):
        await s3.download_dir("nothing-here", local)
    assert tree(local) == {"mine.txt": b"mine"}


def test_cli_sync_delete_from_a_missing_source_changes_nothing(
    server: Server, s3_sync: aios3.S3, tmp_path: Path
) -> None:
    bucket = s3_sync.config.default_bucket
    for source in (tmp_path / "missing", tmp_path / "a-file"):
        if source.name == "a-file":
            source.write_bytes(b"f")
        done = aios3_cli(server, "sync", "--delete", str(source), f"s3://{bucket}/data")
        assert done.returncode == 252 and b"Traceback" not in done.stderr
        done = aios3_cli(server, "cp", "--recursive", str(source), f"s3://{bucket}/data")
        assert done.returncode == 252, done.stderr
        assert b"does not exist" in done.stderr or b"not a folder" in done.stderr
    listing = aios3_cli(server, "ls", "--recursive", f"s3://{bucket}").stdout.decode()
    assert "data/x" in listing and "data/sub/y" in listing


# -- sync -------------------------------------------------------------------------------


async def test_sync_round_trip_transfers_nothing_the_second_time(
    s3: aios3.S3, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "sub/b.bin": blob(6 * MiB + 1), "sub/c.log": b"c"})
    bucket = s3.config.default_bucket or ""
    remote = f"s3://{bucket}/mirror"
    first = await s3.sync(src, remote)
    assert first.copied == 3 and first.ok and first.bytes == 6 * MiB + 3
    again = await s3.sync(src, remote)
    assert not again.copied and again.unchanged == 3
    back = tmp_path / "back"
    down = await s3.sync(remote, back)
    assert tree(back) == tree(src) and down.copied == 3
    # Downloads took the objects' LastModified: syncing back up finds nothing to do.
    up = await s3.sync(back, remote)
    assert not up.copied and up.unchanged == 3
    assert not (await s3.sync(remote, back)).copied
    # A changed size is copied; a deleted source file is removed only with delete=True.
    (src / "a.txt").write_bytes(b"longer")
    (src / "sub" / "c.log").unlink()
    seen: list[aios3.TreeItem] = []
    changed = await s3.sync(src, remote, on_item=seen.append)
    assert [i.source for i in seen] == [str(src / "a.txt")] and changed.copied == 1
    assert not changed.deleted
    seen.clear()
    pruned = await s3.sync(src, remote, delete=True, on_item=seen.append)
    assert [(i.action, i.source) for i in seen] == [("delete", f"{remote}/sub/c.log")]
    assert pruned.deleted == 1
    assert await keys(s3, "mirror") == {"mirror/a.txt", "mirror/sub/b.bin"}
    # S3 -> S3, with size_only.
    other = f"s3://{bucket}/other"
    assert (await s3.sync(remote, other)).copied == 2
    assert (await s3.sync(remote, other, size_only=True)).unchanged == 2


async def test_filters_dryrun_and_delete_keep_what_they_should(
    s3: aios3.S3, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    make_tree(src, {"a.txt": b"a", "b.log": b"b", "keep/c.log": b"c", "d.tmp": b"d"})
    planned = await s3.upload_dir(src, "f", dryrun=True)
    assert planned.dryrun and planned.copied == 4 and not await keys(s3)
    # aws order: exclude everything, then include *.log; later rules win.
    done = await s3.upload_dir(src, "f", filters=[("exclude", "*"), ("include", "*.log")])
    assert await keys(s3) == {"f/b.log", "f/keep/c.log"} and done.copied == 2
    await s3.upload_dir(src, "f", exclude=["*.tmp"])
    assert "f/d.tmp" not in await keys(s3)
    local = tmp_path / "local"
    make_tree(local, {"extra.txt": b"x", "protected.tmp": b"p"})
    planned = await s3.sync("s3://" + (s3.config.default_bucket or "") + "/f", local, dryrun=True)
    assert planned.copied and tree(local) == {"extra.txt": b"x", "protected.tmp": b"p"}
    seen: list[aios3.TreeItem] = []
    synced = await s3.sync(
        "s3://" + (s3.config.default_bucket or "") + "/f",
        local,
        delete=True,
        exclude=["*.tmp"],
        on_item=seen.append,
    )
    # extra.txt is not in the source: deleted; protected.tmp is excluded: kept.
    assert [Path(i.source).name for i in seen if i.action == "delete"] == ["extra.txt"]
    assert synced.deleted == 1
    assert set(tree(local)) == {"a.txt", "b.log", "keep/c.log", "protected.tmp"}


async def test_one_failed_file_never_stops_the_others(s3: aios3.S3, tmp_path: Path) -> None:
    for n in range(6):
        await s3.upload(f"many/f{n}", b"%d" % n)
    dest = tmp_path / "dest"
    (dest / "f3").mkdir(parents=True)  # a folder where f3 must go: that file fails
    (dest / "f3" / "inside").write_bytes(b"i")
    seen: list[aios3.TreeItem] = []
    result = await s3.download_dir("many", dest, on_item=seen.append, jobs=2)
    assert [i.source.rsplit("/", 1)[1] for i in result.failed] == ["f3"]
    assert result.copied == 5 and len(seen) == 6
    assert isinstance(result.failed[0].error, OSError | aios3.S3Error)
    with pytest.raises(aios3.S3Error, match="1 files failed"):
        result.raise_for_failures()
    assert (dest / "f5").read_bytes() == b"5"


def test_cli_one_failed_key_lets_the_rest_finish(
    server: Server, s3_sync: aios3.S3, tmp_path: Path
) -> None:
    bucket = s3_sync.config.default_bucket
    dest = tmp_path / "d"
    (dest / "x").mkdir(parents=True)  # data/x cannot be written
    (dest / "x" / "keep").write_bytes(b"k")
    done = aios3_cli(server, "cp", "--recursive", f"s3://{bucket}/data", str(dest))
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "never awaited" not in err and "Traceback" not in err and "failed:" in err
    assert (dest / "sub" / "y").read_bytes() == b"y"


def test_cli_sync_exclude_dryrun_and_exit_codes(
    server: Server, s3_sync: aios3.S3, tmp_path: Path
) -> None:
    bucket = s3_sync.config.default_bucket
    dest = tmp_path / "d"
    dry = aios3_cli(server, "sync", "--dryrun", f"s3://{bucket}/data", str(dest))
    assert dry.returncode == 0 and b"(dryrun) download:" in dry.stdout and not dest.exists()
    done = aios3_cli(
        server, "sync", f"s3://{bucket}/", str(dest), "--exclude", "*", "--include", "data/*"
    )
    assert done.returncode == 0, done.stderr
    assert tree(dest) == {"data/x": b"x", "data/sub/y": b"y"}
    again = aios3_cli(server, "sync", f"s3://{bucket}/data", str(dest / "data"))
    assert again.returncode == 0 and again.stdout == b""  # mtimes match: nothing to do


# -- resume reads what upload reads -------------------------------------------------------


async def test_resume_upload_reads_a_file_object_from_its_position(s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    data = blob(12 * MiB, seed=7)
    created = await s3.client.create_multipart_upload(
        Bucket=bucket, Key="pos/obj", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )
    source = io.BytesIO(b"header: not part of the object\n" + data)
    source.seek(31)
    info = await s3.resume_upload("pos/obj", created["UploadId"], source)
    assert info.size == len(data) and await s3.get_bytes("pos/obj") == data
    assert not await open_uploads(s3, bucket, "pos/")


# -- ranges follow slice semantics ------------------------------------------------------


async def test_ranges_follow_slice_semantics(s3: aios3.S3) -> None:
    data = b"0123456789"
    await s3.upload("r/ten", data)
    await s3.upload("r/empty", b"")
    cases = [(None, 1024), (10, None), (11, None), (10, 20), (5, 3), (3, 5), (8, 1000), (0, 0)]
    for start, end in cases:
        want = data[start:end]
        assert await s3.get_bytes("r/ten", start=start, end=end) == want, (start, end)
        async with s3.stream("r/ten", start=start, end=end) as body:
            assert await body.read() == want, (start, end)
            assert body.info.size == len(data)
        assert await s3.get_bytes("r/empty", start=start, end=end) == b"", (start, end)
        async with s3.stream("r/empty", start=start, end=end) as body:
            assert await body.read() == b""
    with pytest.raises(aios3.InvalidRequest):
        await s3.get_bytes("r/ten", start=-1)


# -- the command line refuses bad input at once ----------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["--jobs", "0", "ls"], 252, b"--jobs"),
        (["cp", "--concurrency", "0", "a", "s3://bb-b/k"], 252, b"--concurrency"),
        (["--endpoint", "127.0.0.1:5055", "ls"], 252, b"scheme is missing"),
        (["--profile", "no-such-profile-here", "ls"], 253, b"no-such-profile-here"),
    ],
)
def test_cli_refuses_bad_input_with_one_line(
    server: Server, args: list[str], code: int, said: bytes
) -> None:
    done = aios3_cli(server, *args)
    assert done.returncode == code, done.stderr
    assert said in done.stderr and b"Traceback" not in done.stderr
    assert done.stderr.count(b"error:") == 1


def test_cli_no_credentials_names_the_cli_flag(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    done = subprocess.run(
        [sys.executable, "-m", "aios3", "--endpoint-url", "http://127.0.0.1:9", "ls", "s3://bb-b/"],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 253, done.stderr
    assert b"--no-sign-request" in done.stderr and b"anonymous=True" not in done.stderr


async def test_one_pool_for_the_whole_tree(
    server: Server, bucket_name: str, tmp_path: Path
) -> None:
    """Every file's parts draw on one pool of ``concurrency`` requests: a big file among
    small ones gets the slots they leave (it used to get concurrency // jobs), and the
    tree never has more than ``concurrency`` transfer requests in flight."""
    from urllib.parse import urlsplit

    from faultproxy import Fault, FaultProxy

    src = tmp_path / "src"
    make_tree(src, {"big": blob(30 * MiB, seed=2), **{f"small{i}": b"s" * i for i in range(6)}})
    transfer = aios3.TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB, concurrency=4)
    parts = urlsplit(server.endpoint)
    async with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80) as proxy:
        # every part answers late, so the parts in flight pile up to what the pool allows.
        # The stall starts once the request head is forwarded, so it overlaps the body's
        # relay in the test's own event loop: on a quiet run the parts reached the proxy up
        # to 0.2 s apart (read, hash, relay of 5 MiB each), so a 0.3 s stall let a slow
        # machine see only 2 at once. 1.5 s leaves a wide margin (a timing, not a barrier).
        proxy.add(Fault("stall", method="PUT", path_contains="partNumber=", seconds=1.5, times=-1))
        config = server.config(endpoint=proxy.url, default_bucket=bucket_name)
        async with aios3.connect(config, transfer=transfer) as s3:
            await s3.create_bucket(bucket_name)
            result = await s3.upload_dir(src, "pool", jobs=4)
            assert result.copied == 7 and result.ok
            assert proxy.peak_parts >= 3  # the big file's 6 parts, more than 4 // 4 at once
            assert proxy.peak_parts <= 4
            assert await s3.get_bytes("pool/big") == (src / "big").read_bytes()
            await s3.delete_bucket(bucket_name, force=True)


# -- both sides streamed in one order, merged, in flat memory (issue 15 §2) ---------------

# Names whose byte order is not their order name by name: "-" and "." sort before "/",
# so "a-c" and "a.b" come before everything in the folder "a/". ("a/b" cannot be a file
# and the folder of "a/b/c" at once, so "a/b.d" stands in for it.)
TRICKY = ["a-c", "a/b/c", "a.b", "a0", "é", "a/b-c", "a/b.d", "a/b!/z", "ab/c"]


def byte_order(rels: list[str]) -> list[str]:
    return sorted(rels, key=lambda rel: rel.encode("utf-8"))


async def test_the_walk_meets_paths_in_s3s_order_and_the_merge_pairs_them(
    server: Server, s3: aios3.S3, tmp_path: Path
) -> None:
    from aios3._tree import _walk_sorted

    src = tmp_path / "src"
    make_tree(src, {rel: rel.encode() for rel in TRICKY})
    walked = [e.rel for e in _walk_sorted(src, source=True) if not isinstance(e, aios3.TreeItem)]
    assert walked == byte_order(TRICKY) and walked != sorted(TRICKY, key=lambda r: r.split("/"))
    seen: list[aios3.TreeItem] = []
    dry = await s3.upload_dir(src, "t", dryrun=True, jobs=1, on_item=seen.append)
    assert [i.source for i in seen] == [str(src.joinpath(*r.split("/"))) for r in walked]
    assert dry.copied == len(TRICKY) and not await keys(s3)
    await s3.upload_dir(src, "t")
    listed = [o.key[2:] async for o in s3.list("t/") if isinstance(o, aios3.ObjectInfo)]
    if server.name == "seaweedfs":  # its filer lists a folder's keys right after its name
        assert listed == sorted(TRICKY, key=lambda rel: rel.split("/"))
    else:
        assert listed == walked  # S3's order: the UTF-8 bytes of the key
    # The merge pairs every name with its object, whichever order the server lists in.
    remote = f"s3://{s3.config.default_bucket}/t"
    for _ in range(2):  # the second time, in the order learned for the server
        again = await s3.sync(src, remote, delete=True)
        assert (again.copied, again.unchanged, again.deleted) == (0, len(TRICKY), 0)
    back = tmp_path / "back"
    await s3.sync(remote, back)
    down = await s3.sync(remote, back, delete=True)
    assert (down.copied, down.unchanged, down.deleted) == (0, len(TRICKY), 0)
    copied = await s3.sync(remote, f"s3://{s3.config.default_bucket}/u")
    assert copied.copied == len(TRICKY)
    s3s3 = await s3.sync(remote, f"s3://{s3.config.default_bucket}/u", delete=True)
    assert (s3s3.copied, s3s3.unchanged, s3s3.deleted) == (0, len(TRICKY), 0)
    # One file gone from the middle of "a/", one new: exactly those change, both ways.
    (src / "a.b").unlink()
    (src / "a" / "b-d").write_bytes(b"new")
    seen.clear()
    up = await s3.sync(src, remote, delete=True, on_item=seen.append)
    assert sorted((i.action, i.source) for i in seen) == [
        ("delete", f"{remote}/a.b"),
        ("upload", str(src / "a" / "b-d")),
    ]
    assert up.unchanged == len(TRICKY) - 1
    seen.clear()
    await s3.sync(remote, back, delete=True, on_item=seen.append)
    assert sorted((i.action, Path(i.destination or i.source).name) for i in seen) == [
        ("delete", "a.b"),
        ("download", "b-d"),
    ]
    assert tree(back) == tree(src)


async def test_a_sync_whose_source_listing_fails_midway_deletes_nothing(
    server: Server, bucket_name: str, tmp_path: Path
) -> None:
    """The source's second ListObjectsV2 page fails: the sync raises, and the files the
    destination alone holds stay, those the merge had compared (in the first page's
    range) as well as the rest."""
    from urllib.parse import urlsplit

    from faultproxy import Fault, FaultProxy

    src = tmp_path / "src"
    make_tree(src, {f"k{n:04d}": b"%d" % n for n in range(1100)})  # two pages of keys
    extras = {"k0005x": b"only here", "zzz": b"only here too"}
    dest = tmp_path / "dest"
    make_tree(dest, extras)
    parts = urlsplit(server.endpoint)
    async with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 80) as proxy:
        config = server.config(endpoint=proxy.url, default_bucket=bucket_name, max_attempts=1)
        async with aios3.connect(config) as s3:
            await s3.create_bucket(bucket_name)
            assert (await s3.upload_dir(src, "src", jobs=16)).copied == 1100
            for rel, data in extras.items():
                await s3.upload(f"dst/{rel}", data)
            second_page = Fault(
                "status",
                method="GET",
                path_contains="continuation-token",
                status=500,
                code="InternalError",
                times=-1,
            )
            rule = proxy.add(second_page)
            source = f"s3://{bucket_name}/src"
            with pytest.raises(aios3.S3Error, match="InternalError"):
                await s3.sync(source, dest, delete=True)
            with pytest.raises(aios3.S3Error, match="InternalError"):
                await s3.sync(source, f"s3://{bucket_name}/dst", delete=True)
            assert rule.fired >= 2
            assert {k: v for k, v in tree(dest).items() if k in extras} == extras
            proxy.clear()
            assert await keys(s3, "dst/") >= {"dst/k0005x", "dst/zzz"}
            # Once the source lists whole, the same syncs delete exactly the extras.
            done = await s3.sync(source, dest, delete=True)
            assert done.deleted == 2 and set(tree(dest)) == {f"k{n:04d}" for n in range(1100)}
            await s3.delete_prefix("")  # (moto fails a forced delete's second versions page)
            await s3.delete_bucket(bucket_name)


MEASURE = r"""
import asyncio, json, sys, tracemalloc
import aios3
from aios3.testing import Server

async def main(serving, bucket, local, back):
    server = Server(**json.loads(serving))
    peaks = {}
    async with aios3.connect(server.config(default_bucket=bucket)) as s3:
        for label, tail, want in (("small", "/part0", 1000), ("big", "", 3000)):
            for way, a, b in (
                ("up", local + tail, f"s3://{bucket}/t" + tail),
                ("down", f"s3://{bucket}/t" + tail, back + tail),
                ("s3", f"s3://{bucket}/t" + tail, f"s3://{bucket}/u" + tail),
            ):
                await s3.sync(a, b, delete=True)  # warm: the same requests, once
                tracemalloc.start()
                result = await s3.sync(a, b, delete=True)
                peaks[f"{way} {label}"] = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
                assert result.unchanged == want and not result.copied, result
    print(json.dumps(peaks))

asyncio.run(main(*sys.argv[1:5]))
"""


@pytest.mark.needs("thousands_of_objects")
async def test_a_sync_of_thousands_of_files_holds_no_plan(
    server: Server, s3: aios3.S3, tmp_path: Path
) -> None:
    """A sync that finds 3,000 files unchanged holds what it did for 1,000, in each
    direction: a listing page or two, the look-ahead and a folder's names, not the
    files. Measured (tracemalloc, no-op sync, peak): holding both sides cost ~750-900
    bytes a file (1,000 -> 3,000 files: +1.5 to +1.8 MB); streamed, +0.4 to +0.7 MB,
    all of it the second listing page read ahead (3,000 -> 10,000 files: +0.07 MB).
    The bound, +1.1 MB for 2,000 more files, is 550 bytes a file. Run in a child
    process: moto serves from a thread of this one, and its allocations would count."""
    import asyncio
    import dataclasses
    import json
    import subprocess
    import sys

    src = tmp_path / "src"
    for part in range(3):
        make_tree(src / f"part{part}", {f"d{n % 10}/f{n:04d}": b"x" for n in range(1000)})
    bucket = s3.config.default_bucket or ""
    remote = f"s3://{bucket}/t"
    assert (await s3.sync(src, remote, jobs=16)).copied == 3000
    assert (await s3.sync(remote, tmp_path / "back", jobs=16)).copied == 3000
    assert (await s3.sync(remote, f"s3://{bucket}/u", jobs=16)).copied == 3000
    serving = json.dumps(dataclasses.asdict(server))
    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-W",
            "error",
            "-c",
            MEASURE,
            serving,
            bucket,
            str(src),
            str(tmp_path / "back"),
        ],
        capture_output=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(Path(aios3.__file__).parents[1])},
    )
    assert done.returncode == 0, done.stderr.decode()
    peaks = json.loads(done.stdout)
    for way in ("up", "down", "s3"):
        grown = peaks[f"{way} big"] - peaks[f"{way} small"]
        assert grown < 1_100_000, (way, peaks)
