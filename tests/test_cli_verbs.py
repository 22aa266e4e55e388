"""Every verb and option of the command line, run as a real subprocess against the test
server: ls as aws prints it, cp in its forms (headers, metadata, ACL, stdin/stdout),
mv, rm with per-key lines, sync's options, stat, cat, presign, mb / rb, --json and
the exit codes of aws CLI v2."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import new_bucket_name
from test_cli import cli_env

import aios3
from aios3.testing import Server


def cli(
    server: Server,
    *args: str,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    environment = cli_env(server)
    environment.update(
        AWS_EC2_METADATA_DISABLED="true",  # never ask 169.254.169.254 for credentials
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "aios3", *args],
        input=stdin,
        capture_output=True,
        env=environment,
        cwd=cwd,
        timeout=120,
    )


async def acli(server: Server, *args: str, **kw: object) -> subprocess.CompletedProcess[bytes]:
    return await asyncio.to_thread(cli, server, *args, **kw)  # type: ignore[arg-type]


def out(done: subprocess.CompletedProcess[bytes], code: int = 0) -> str:
    assert done.returncode == code, (done.returncode, done.stderr.decode()[-2000:])
    return done.stdout.decode()


async def keys(s3: aios3.S3, prefix: str = "") -> list[str]:
    return sorted([i.key async for i in s3.list(prefix) if isinstance(i, aios3.ObjectInfo)])


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # the server on 127.0.0.1
        return bytes(response.read())


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


async def test_ls_prints_as_aws(server: Server, s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket
    for key, size in [("tree/a.txt", 3), ("tree/sub/b.txt", 2), ("tree/sub/deep/c.log", 1500),
                      ("tree/x.tmp", 0), ("treehouse.txt", 1)]:  # fmt: skip
        await s3.upload(key, b"x" * size)
    lines = out(await acli(server, "ls", f"s3://{bucket}/tree/")).splitlines()
    assert lines[0] == f"{'PRE':>30} sub/"  # folders first, names relative to the prefix
    assert [line[19:].split() for line in lines[1:]] == [["3", "a.txt"], ["0", "x.tmp"]]
    assert len(lines[1][:19].strip()) == 19  # "YYYY-MM-DD HH:MM:SS", local time
    assert out(await acli(server, "ls", f"s3://{bucket}/tr")).splitlines()[0].split() == [
        "PRE",
        "tree/",
    ]
    deep = out(
        await acli(
            server, "ls", "--recursive", "--human-readable", "--summarize", f"s3://{bucket}/tree"
        )
    )
    assert "   1.5 KiB tree/sub/deep/c.log" in deep and "   3 Bytes tree/a.txt" in deep
    # as aws: ls takes the prefix literally ("tree" matches treehouse.txt too)
    assert deep.endswith("     1 Byte treehouse.txt\n\nTotal Objects: 5\n   Total Size: 1.5 KiB\n")
    assert out(await acli(server, "ls", f"s3://{bucket}/nothing"), 1) == ""  # as aws: 1
    records = [json.loads(line) for line in out(await acli(server, "ls", "--json",
                                                           f"s3://{bucket}/tree/")).splitlines()]  # fmt: skip
    assert records[0] == {"prefix": "tree/sub/"} and records[1]["key"] == "tree/a.txt"
    assert records[1]["size"] == 3 and records[1]["last_modified"]
    buckets = out(await acli(server, "ls"))
    assert any(line.endswith(f" {bucket}") for line in buckets.splitlines())


async def test_cp_forms_headers_metadata_and_acl(
    server: Server, s3: aios3.S3, tmp_path: Path
) -> None:
    bucket = s3.config.default_bucket
    (tmp_path / "page.html").write_text("<p>hi</p>")
    said = out(
        await acli(
            server,
            "cp",
            str(tmp_path / "page.html"),
            f"s3://{bucket}/site/",
            "--content-type",
            "text/x-custom",
            "--cache-control",
            "max-age=60",
            "--content-disposition",
            'attachment; filename="p.html"',
            "--metadata",
            "owner=42,team=web",
            "--acl",
            "public-read",
        )
    )
    assert said.startswith(f"upload: {tmp_path / 'page.html'} to s3://{bucket}/site/page.html")
    info = await s3.head("site/page.html")
    assert info.content_type == "text/x-custom" and info.cache_control == "max-age=60"
    assert info.content_disposition == 'attachment; filename="p.html"'
    assert dict(info.metadata) == {"owner": "42", "team": "web"}
    # to the bucket's root, and JSON metadata
    out(await acli(server, "cp", "--metadata", '{"k": "v"}', str(tmp_path / "page.html"),
                   f"s3://{bucket}"))  # fmt: skip
    assert dict((await s3.head("page.html")).metadata) == {"k": "v"}
    # S3 -> local folder (named after the key), with the object's time as its mtime
    down = tmp_path / "down"
    down.mkdir()
    said = out(await acli(server, "cp", f"s3://{bucket}/site/page.html", str(down)))
    assert said.startswith(f"download: s3://{bucket}/site/page.html to {down / 'page.html'}")
    assert (down / "page.html").read_text() == "<p>hi</p>"
    assert abs((down / "page.html").stat().st_mtime - info.last_modified.timestamp()) < 1  # type: ignore[union-attr]
    # S3 -> S3 into a folder; --dryrun writes nothing
    said = out(await acli(server, "cp", f"s3://{bucket}/site/page.html", f"s3://{bucket}/copy/"))
    assert said.startswith(f"copy: s3://{bucket}/site/page.html to s3://{bucket}/copy/page.html")
    dry = out(await acli(server, "cp", "--dryrun", str(tmp_path / "page.html"), f"s3://{bucket}/d"))
    assert dry.startswith("(dryrun) upload:") and not await s3.exists("d")
    assert await s3.get_bytes("copy/page.html") == b"<p>hi</p>"


async def test_stdin_stdout_and_cat(server: Server, s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket
    data = os.urandom(300_000)
    done = await acli(server, "cp", "--expected-size", str(len(data)), "-", f"s3://{bucket}/p",
                      stdin=data)  # fmt: skip
    assert out(done) == "" and f"({len(data)} bytes)".encode() in done.stderr
    wrong = await acli(server, "cp", "--expected-size", "5", "-", f"s3://{bucket}/q", stdin=data)
    assert wrong.returncode == 252 and not await s3.exists("q")  # the size is checked
    assert (await acli(server, "cp", f"s3://{bucket}/p", "-")).stdout == data
    await s3.upload("second", b"tail")
    both = await acli(server, "cat", f"s3://{bucket}/p", f"s3://{bucket}/second")
    assert both.returncode == 0 and both.stdout == data + b"tail" and both.stderr == b""
    missing = await acli(server, "cat", f"s3://{bucket}/nope")
    assert missing.returncode == 1 and missing.stderr.count(b"\n") == 1


async def test_mv_deletes_the_source_only_after_the_copy(
    server: Server, s3: aios3.S3, tmp_path: Path
) -> None:
    bucket = s3.config.default_bucket
    local = tmp_path / "f.txt"
    local.write_text("move me")
    unreachable = tmp_path / "down.toml"  # a store that refuses connections, at once
    unreachable.write_text(
        'endpoint = "http://127.0.0.1:9"\nconnect_timeout = 1\nmax_attempts = 1\n'
    )
    failed = await acli(server, "--config", str(unreachable), "mv", str(local), f"s3://{bucket}/f")
    assert failed.returncode == 1 and local.exists()  # the upload failed: the file stays
    said = out(await acli(server, "mv", str(local), f"s3://{bucket}/m/"))
    assert said.startswith(f"move: {local} to s3://{bucket}/m/f.txt") and not local.exists()
    out(await acli(server, "mv", f"s3://{bucket}/m/f.txt", f"s3://{bucket}/n/g.txt"))
    assert await keys(s3) == ["n/g.txt"]
    out(await acli(server, "mv", f"s3://{bucket}/n/g.txt", str(tmp_path / "back.txt")))
    assert (tmp_path / "back.txt").read_text() == "move me" and await keys(s3) == []
    onto = await acli(server, "mv", f"s3://{bucket}/x", f"s3://{bucket}/x")
    assert onto.returncode == 252
    src = tmp_path / "dir"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_text("a")
    (src / "sub" / "b").write_text("b")
    (src / "keep.tmp").write_text("t")
    said = out(await acli(server, "mv", "--recursive", "--exclude", "*.tmp", str(src),
                          f"s3://{bucket}/dir"))  # fmt: skip
    assert sorted(said.splitlines()) == [
        f"move: {src / 'a'} to s3://{bucket}/dir/a",
        f"move: {src / 'sub' / 'b'} to s3://{bucket}/dir/sub/b",
    ]
    assert tree(src) == {"keep.tmp": b"t"} and (src / "sub").is_dir()  # as aws: folders stay
    out(await acli(server, "mv", "--recursive", f"s3://{bucket}/dir", f"s3://{bucket}/moved"))
    assert await keys(s3) == ["moved/a", "moved/sub/b"]


async def test_rm_prints_each_key_and_honours_filters(server: Server, s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket
    for key in ("p/a.txt", "p/b.log", "p/sub/c.txt", "p-other/d.txt", "single"):
        await s3.upload(key, b"x")
    dry = out(await acli(server, "rm", "--recursive", "--dryrun", "--exclude", "*.log",
                         f"s3://{bucket}/p"))  # fmt: skip
    assert dry.splitlines() == [
        f"(dryrun) delete: s3://{bucket}/p/a.txt",
        f"(dryrun) delete: s3://{bucket}/p/sub/c.txt",
    ]
    assert len(await keys(s3)) == 5
    said = out(await acli(server, "rm", "--recursive", "--exclude", "*", "--include", "*.txt",
                          f"s3://{bucket}/p/"))  # fmt: skip
    assert sorted(said.splitlines()) == [
        f"delete: s3://{bucket}/p/a.txt",
        f"delete: s3://{bucket}/p/sub/c.txt",
    ]
    assert await keys(s3) == ["p-other/d.txt", "p/b.log", "single"]
    assert out(await acli(server, "rm", "--quiet", f"s3://{bucket}/single")) == ""
    said = out(await acli(server, "rm", "--recursive", "--json", f"s3://{bucket}/"))
    records = [json.loads(line) for line in said.splitlines()]
    assert records[-1] == {"summary": {"deleted": 2, "failed": 0}} and await keys(s3) == []
    assert {r["source"] for r in records[:-1]} == {
        f"s3://{bucket}/p-other/d.txt",
        f"s3://{bucket}/p/b.log",
    }


async def test_sync_options(server: Server, s3: aios3.S3, tmp_path: Path) -> None:
    bucket = s3.config.default_bucket
    src = tmp_path / "src"
    (src / "logs").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "logs" / "x.log").write_text("x")
    (src / "big.bin").write_bytes(b"b" * 1000)
    url = f"s3://{bucket}/s"
    dry = out(await acli(server, "sync", "--dryrun", str(src), url))
    assert len(dry.splitlines()) == 3 and all(
        line.startswith("(dryrun) upload:") for line in dry.splitlines()
    )
    assert await keys(s3) == []
    said = await acli(server, "sync", str(src), url, "--exclude", "logs/*", "--json")
    records = [json.loads(line) for line in out(said).splitlines()]
    assert {r["source"] for r in records[:-1]} == {str(src / "a.txt"), str(src / "big.bin")}
    assert records[-1]["summary"]["files"] == 2 and records[-1]["summary"]["bytes"] == 1001
    await s3.upload("s/stale.txt", b"old")
    (src / "a.txt").write_text("A")  # same size, newer: size-only sees no change
    os.utime(src / "a.txt", (2_000_000_000, 2_000_000_000))
    assert (
        out(await acli(server, "sync", "--size-only", "--exclude", "logs/*", str(src), url)) == ""
    )
    said = out(await acli(server, "sync", "--delete", "--exclude", "logs/*", str(src), url))
    assert sorted(said.splitlines()) == [
        f"delete: s3://{bucket}/s/stale.txt",
        f"upload: {src / 'a.txt'} to s3://{bucket}/s/a.txt",
    ]
    assert await keys(s3) == ["s/a.txt", "s/big.bin"]
    back = tmp_path / "back"
    out(await acli(server, "sync", url, str(back)))
    assert tree(back) == {"a.txt": b"A", "big.bin": b"b" * 1000}
    os.utime(back / "a.txt", (1_000_000_000, 1_000_000_000))  # older locally
    assert out(await acli(server, "sync", url, str(back))) == ""  # aws: not newer, no copy
    said = out(await acli(server, "sync", "--exact-timestamps", url, str(back)))
    assert said.startswith(f"download: s3://{bucket}/s/a.txt")


async def test_stat_presign_mb_rb(server: Server, s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket
    await s3.upload("doc.txt", b"hello", metadata={"owner": "me"}, content_type="text/plain")
    text = out(await acli(server, "stat", f"s3://{bucket}/doc.txt"))
    assert text.splitlines()[0] == f"s3://{bucket}/doc.txt"
    assert "  size: 5 (5 Bytes)" in text and "  metadata.owner: me" in text
    assert "  content_type: text/plain" in text
    record = json.loads(out(await acli(server, "stat", "--json", f"s3://{bucket}/doc.txt")))
    assert record["size"] == 5 and record["metadata"] == {"owner": "me"} and record["etag"]
    missing = await acli(server, "stat", f"s3://{bucket}/nope")
    assert missing.returncode == 254 and b"no such key" in missing.stderr
    url = out(await acli(server, "presign", "--expires-in", "120", f"s3://{bucket}/doc.txt"))
    assert await asyncio.to_thread(_fetch, url.strip()) == b"hello"
    other = new_bucket_name()
    assert out(await acli(server, "mb", f"s3://{other}")) == f"make_bucket: {other}\n"
    await s3.upload(f"s3://{other}/a/b", b"1")
    await s3.upload(f"s3://{other}/c", b"2")
    refused = await acli(server, "rb", f"s3://{other}")
    assert refused.returncode == 1 and refused.stderr.startswith(b"remove_bucket failed: ")
    said = out(await acli(server, "rb", "--force", f"s3://{other}"))
    assert said.splitlines() == [
        f"delete: s3://{other}/a/b",
        f"delete: s3://{other}/c",
        f"remove_bucket: {other}",
    ]
    assert not await s3.bucket_exists(other)
    assert (await acli(server, "mb", "bare-name")).returncode == 252


async def test_exit_codes(server: Server, s3: aios3.S3, tmp_path: Path) -> None:
    bucket = s3.config.default_bucket
    missing = await acli(server, "ls", f"s3://{new_bucket_name()}")
    assert missing.returncode == 254 and b"NoSuchBucket" in missing.stderr
    assert missing.stderr.count(b"\n") == 1 and b"Traceback" not in missing.stderr
    nokey = await acli(server, "cp", f"s3://{bucket}/no/such", str(tmp_path / "x"))
    assert nokey.returncode == 1 and not (tmp_path / "x").exists()  # aws: a failed transfer
    profile = await acli(server, "--profile", "nope", "ls")
    assert profile.returncode == 253 and b"nope" in profile.stderr
    anonymous = {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "HOME": str(tmp_path)}
    nocreds = await acli(server, "ls", env=anonymous)
    assert nocreds.returncode == 253 and b"no usable credentials" in nocreds.stderr
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "f").write_text("f")
    nocreds = await acli(server, "cp", "--recursive", str(tmp_path / "up"), f"s3://{bucket}/",
                         env=anonymous)  # fmt: skip
    assert nocreds.returncode == 253 and nocreds.stderr.count(b"\n") == 1  # said once
    usage = await acli(server, "cp", "--jobs", "0", "--recursive", "a", f"s3://{bucket}")
    assert usage.returncode == 252 and usage.stderr.count(b"\n") == 1
    gone = await acli(server, "cp", str(tmp_path / "gone"), f"s3://{bucket}/")
    assert gone.returncode == 252 and b"does not exist" in gone.stderr
    src = tmp_path / "with-fifo"
    src.mkdir()
    (src / "ok.txt").write_text("ok")
    os.mkfifo(src / "pipe")
    skipped = await acli(server, "cp", "--recursive", str(src), f"s3://{bucket}/f")
    assert skipped.returncode == 2 and b"warning: skipping" in skipped.stderr  # aws: 2
    assert await keys(s3, "f/") == ["f/ok.txt"]
    debug = await acli(server, "--debug", "ls", f"s3://{new_bucket_name()}")
    assert debug.returncode == 254 and b"Traceback (most recent call last)" in debug.stderr
    assert b"DEBUG" in debug.stderr
    assert server.secret_access_key.encode() not in debug.stderr or server.name == "moto"
    version = await acli(server, "--version")
    assert version.returncode == 0 and version.stdout.startswith(b"aios3/")


def test_tls_ca_bundle_and_no_verify_ssl(tmp_path: Path) -> None:
    """Against SeaweedFS over https with a certificate of a throwaway CA: refused
    without the CA (one line, exit 255 as aws), accepted with --ca-bundle, and with
    --no-verify-ssl."""
    try:
        from aios3.testing import seaweedfs_server

        context = seaweedfs_server(https=True)
        server = context.__enter__()
    except RuntimeError as exc:  # pragma: no cover - depends on the install
        pytest.skip(f"no SeaweedFS here: {exc}")
    try:
        assert server.ca_bundle and server.endpoint.startswith("https://")
        once = tmp_path / "once.toml"  # botocore retries a failed handshake: try once
        once.write_text("max_attempts = 1\n")
        refused = cli(server, "--config", str(once), "ls")
        assert refused.returncode == 255, refused.stderr.decode()
        assert refused.stderr.count(b"\n") == 1 and b"Traceback" not in refused.stderr
        trusted = cli(server, "--ca-bundle", server.ca_bundle, "mb", f"s3://{new_bucket_name()}")
        assert trusted.returncode == 0, trusted.stderr.decode()
        unverified = cli(server, "ls", "--no-verify-ssl")
        assert unverified.returncode == 0, unverified.stderr.decode()
        assert b"make_bucket" not in unverified.stdout and unverified.stdout
    finally:
        context.__exit__(None, None, None)


async def test_connection_and_output_options(server: Server, s3: aios3.S3, tmp_path: Path) -> None:
    bucket = s3.config.default_bucket
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b", "c"):
        (src / name).write_text(name)
    said = await acli(server, "--region", server.region, "--jobs", "2", "--only-show-errors",
                      "cp", "--recursive", "--storage-class", "STANDARD_IA", str(src),
                      f"s3://{bucket}/o")  # fmt: skip
    assert said.returncode == 0 and said.stdout == b"" and said.stderr == b""
    assert await keys(s3, "o/") == ["o/a", "o/b", "o/c"]
    if server.name == "moto":  # SeaweedFS does not report a storage class back
        assert (await s3.head("o/a")).storage_class == "STANDARD_IA"
    moved = await acli(server, "--endpoint", server.endpoint, "--no-progress", "ls",
                       f"s3://{bucket}/o/")  # fmt: skip
    assert len(out(moved).splitlines()) == 3
    if server.name == "seaweedfs":  # enforces signatures; reads of "public" are open
        from aios3.testing import SEAWEEDFS_PUBLIC_BUCKET

        denied = await acli(server, "--no-sign-request", "ls", f"s3://{bucket}/")
        assert denied.returncode == 254 and denied.stderr.count(b"\n") == 1
        public = await acli(server, "--anonymous", "ls", f"s3://{SEAWEEDFS_PUBLIC_BUCKET}/")
        assert public.returncode == 0, public.stderr
    else:
        unsigned = await acli(server, "--no-sign-request", "ls", f"s3://{bucket}/o/")
        assert len(out(unsigned).splitlines()) == 3


async def test_delete_prefix_filters_dryrun_and_on_item(s3: aios3.S3) -> None:
    """The library call behind ``rm --recursive``: filters on the path relative to the
    folder, a dry run that deletes nothing, one TreeItem per key with its size."""
    for key, size in (("p/a.txt", 1), ("p/b.log", 2), ("p/sub/c.txt", 3), ("px.txt", 4)):
        await s3.upload(key, b"x" * size)
    seen: list[aios3.TreeItem] = []
    dry = await s3.delete_prefix("p", exclude=["*.log"], dryrun=True, on_item=seen.append)
    assert dry.deleted == 2 and len(await keys(s3)) == 4
    bucket = s3.config.default_bucket
    assert sorted((i.action, i.source, i.size) for i in seen) == [
        ("delete", f"s3://{bucket}/p/a.txt", 1),
        ("delete", f"s3://{bucket}/p/sub/c.txt", 3),
    ]
    seen.clear()
    done = await s3.delete_prefix("p", filters=[("exclude", "*"), ("include", "sub/*")],
                                  on_item=seen.append)  # fmt: skip
    assert done.deleted == 1 and done.ok
    assert [(i.action, i.source, i.size) for i in seen] == [
        ("delete", f"s3://{bucket}/p/sub/c.txt", 3)
    ]
    assert await keys(s3) == ["p/a.txt", "p/b.log", "px.txt"]
    assert (await s3.delete_prefix("p")).deleted == 2 and await keys(s3) == ["px.txt"]
