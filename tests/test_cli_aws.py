"""Side by side with the real ``aws s3`` (awscli, from the test extra): the same commands
against the same server leave the same objects and the same local files, and ``ls``
prints the same lines. aws works under the prefix ``aws/`` (or the folder ``aws``),
aios3 under ``aios3/``; each comparison is of what lies below them."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli_verbs import acli, tree

import aios3
from aios3.testing import Server


def _find_aws() -> str | None:
    found = shutil.which("aws")
    if found:
        return found
    beside = Path(sys.executable).parent / "aws"
    return str(beside) if beside.is_file() else None


AWS = _find_aws()
pytestmark = pytest.mark.skipif(
    AWS is None, reason="the aws command line (pip install awscli, in the test extra) is missing"
)


def _aws(server: Server, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    from test_cli import cli_env

    env = cli_env(server)
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_PAGER="",
    )
    assert AWS is not None
    return subprocess.run(
        [AWS, "--endpoint-url", server.endpoint, "--cli-read-timeout", "10", "s3", *args],
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


async def both(
    server: Server, *args: str, swap: tuple[str, str] = ("@", "@"), cwd: Path | None = None
) -> tuple[str, str]:
    """Run ``args`` with aws and with aios3; ``@`` in an argument becomes ``aws`` for
    the one and ``aios3`` for the other. Both must succeed; return their stdouts."""

    def fill(tool: str) -> list[str]:
        return [a.replace("@", tool) for a in args]

    # One after the other: SeaweedFS, busy with another client's writes, now and then
    # leaves the answer to one of aws's "Expect: 100-continue" PUTs unfinished, and
    # botocore waits out its read timeout (60 s; 10 s here) before it retries.
    theirs = await asyncio.to_thread(_aws, server, *fill("aws"), cwd=cwd)
    ours = await acli(server, *fill("aios3"), cwd=cwd)
    assert theirs.returncode == 0, theirs.stderr.decode()[-2000:]
    assert ours.returncode == 0, ours.stderr.decode()[-2000:]
    return theirs.stdout.decode(), ours.stdout.decode()


async def objects(s3: aios3.S3, prefix: str) -> dict[str, bytes]:
    found = {}
    async for item in s3.list(prefix):
        if isinstance(item, aios3.ObjectInfo):
            found[item.key[len(prefix) :]] = await s3.get_bytes(item.key)
    return found


async def same_objects(s3: aios3.S3, under: str = "") -> dict[str, bytes]:
    theirs = await objects(s3, f"aws/{under}")
    ours = await objects(s3, f"aios3/{under}")
    assert ours == theirs
    return ours


def make_tree(root: Path) -> None:
    for rel, data in {
        "a.txt": b"a",
        "b.tmp": b"bb",
        "keep.tmp": b"keep",
        "sub/c.txt": b"c" * 300,
        "sub/deep/d.log": b"d" * 7000,
        "sub/deep/e.txt": b"",
    }.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


async def test_cp_file_and_recursive(server: Server, s3: aios3.S3, tmp_path: Path) -> None:
    b = s3.config.default_bucket
    make_tree(tmp_path / "src")
    await both(server, "cp", str(tmp_path / "src" / "a.txt"), f"s3://{b}/@/one/")
    await both(server, "cp", str(tmp_path / "src" / "a.txt"), f"s3://{b}/@/named.txt")
    await both(server, "cp", "--recursive", str(tmp_path / "src"), f"s3://{b}/@/tree")
    await both(server, "cp", "--recursive", "--exclude", "*.tmp", "--include", "keep.tmp",
               str(tmp_path / "src"), f"s3://{b}/@/filtered/")  # fmt: skip
    got = await same_objects(s3)
    assert "one/a.txt" in got and "tree/sub/deep/d.log" in got and "filtered/b.tmp" not in got
    assert "filtered/keep.tmp" in got
    await both(server, "cp", "--recursive", f"s3://{b}/@/tree", str(tmp_path / "@-down"))
    await both(server, "cp", f"s3://{b}/@/named.txt", str(tmp_path / "@-down") + "/")
    assert tree(tmp_path / "aios3-down") == tree(tmp_path / "aws-down")
    await both(server, "cp", "--recursive", f"s3://{b}/@/tree/", f"s3://{b}/@/copied/")
    assert "copied/sub/c.txt" in await same_objects(s3)


async def test_sync_exclude_include_delete(server: Server, s3: aios3.S3, tmp_path: Path) -> None:
    b = s3.config.default_bucket
    src = tmp_path / "src"
    make_tree(src)
    rules = ("--exclude", "*.tmp", "--include", "keep.tmp")
    await both(server, "sync", str(src), f"s3://{b}/@/s", *rules)
    await s3.upload("aws/s/stale.txt", b"old")
    await s3.upload("aios3/s/stale.txt", b"old")
    await s3.upload("aws/s/b.tmp", b"excluded: kept by --delete")
    await s3.upload("aios3/s/b.tmp", b"excluded: kept by --delete")
    (src / "sub" / "c.txt").write_bytes(b"changed size")
    (src / "new.txt").write_bytes(b"new")
    await both(server, "sync", "--delete", str(src), f"s3://{b}/@/s", *rules)
    got = await same_objects(s3, "s/")
    assert "stale.txt" not in got and got["b.tmp"].startswith(b"excluded")
    assert got["sub/c.txt"] == b"changed size" and "new.txt" in got
    for tool in ("aws", "aios3"):  # a local copy with an extra file, for --delete
        (tmp_path / f"{tool}-down").mkdir()
        (tmp_path / f"{tool}-down" / "extra.txt").write_text("extra")
    await both(server, "sync", "--delete", f"s3://{b}/@/s", str(tmp_path / "@-down"))
    ours = tree(tmp_path / "aios3-down")
    assert ours == tree(tmp_path / "aws-down") and "extra.txt" not in ours
    theirs, ours_said = await both(server, "sync", f"s3://{b}/@/s", str(tmp_path / "@-down"))
    assert theirs == ours_said == ""  # the mtimes set on download: nothing to do


async def test_rm_recursive_and_mv(server: Server, s3: aios3.S3, tmp_path: Path) -> None:
    b = s3.config.default_bucket
    for tool in ("aws", "aios3"):
        make_tree(tmp_path / tool)
    await both(server, "cp", "--recursive", str(tmp_path / "aios3"), f"s3://{b}/@/r/")
    theirs, ours = await both(server, "rm", "--recursive", "--exclude", "sub/deep/*",
                              f"s3://{b}/@/r/")  # fmt: skip
    assert sorted(ours.replace("aios3/", "@/").splitlines()) == sorted(
        theirs.replace("aws/", "@/").splitlines()
    )  # the same "delete: s3://..." line for each key
    assert set(await same_objects(s3, "r/")) == {"sub/deep/d.log", "sub/deep/e.txt"}
    await both(server, "mv", "--recursive", "--exclude", "*.log", str(tmp_path / "@"),
               f"s3://{b}/@/m/")  # fmt: skip
    assert tree(tmp_path / "aios3") == tree(tmp_path / "aws") == {"sub/deep/d.log": b"d" * 7000}
    await both(server, "mv", f"s3://{b}/@/m/a.txt", f"s3://{b}/@/moved.txt")
    await both(server, "mv", "--recursive", f"s3://{b}/@/m/sub/", f"s3://{b}/@/msub/")
    await both(server, "mv", f"s3://{b}/@/m/b.tmp", str(tmp_path / "@" / "b.tmp"))
    got = await same_objects(s3)
    assert "moved.txt" in got and "msub/c.txt" in got
    assert [k for k in got if k.startswith("m/")] == ["m/keep.tmp"]
    assert tree(tmp_path / "aios3") == tree(tmp_path / "aws")


async def test_ls_lines_match(server: Server, s3: aios3.S3, tmp_path: Path) -> None:
    b = s3.config.default_bucket
    make_tree(tmp_path / "src")
    await acli(server, "cp", "--recursive", str(tmp_path / "src"), f"s3://{b}/data/")
    await s3.upload("data-other.txt", b"o")
    await s3.upload("data/sub/deep/", b"")  # a folder marker
    for args in (
        [f"s3://{b}/data/"],
        [f"s3://{b}/data"],
        [f"s3://{b}/data/sub/"],
        [f"s3://{b}/"],
        ["--recursive", f"s3://{b}/data"],
        ["--recursive", "--human-readable", "--summarize", f"s3://{b}/data/sub/"],
    ):
        theirs, ours = await both(server, "ls", *args)
        assert ours == theirs, args
