"""The aios3 command line, run as a real subprocess against the test server: cp, ls,
mb, rb, rm, sync; Ctrl-C mid-upload; and resuming an upload after kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import new_bucket_name, open_uploads
from test_roundtrip import blob

import aios3
from aios3 import MiB
from aios3._resume import list_parts
from aios3.testing import Server


def cli_env(server: Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=server.access_key_id,
        AWS_SECRET_ACCESS_KEY=server.secret_access_key,
        AWS_ENDPOINT_URL=server.endpoint,
        AWS_REGION=server.region,
    )
    return env


def aios3_cli(
    server: Server, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "aios3", *args],
        input=stdin,
        capture_output=True,
        env=cli_env(server),
        timeout=120,
    )


def ok(done: subprocess.CompletedProcess[bytes]) -> str:
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout.decode()


def test_cp_ls_rm_mb_rb_and_sync(server: Server, tmp_path: Path) -> None:
    bucket = new_bucket_name()
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("hello")
    (src / "sub" / "b.bin").write_bytes(blob(6 * MiB + 1))
    assert "make_bucket" in ok(aios3_cli(server, "mb", f"s3://{bucket}"))
    ok(aios3_cli(server, "cp", str(src / "a.txt"), f"s3://{bucket}/one/"))
    ok(aios3_cli(server, "cp", "--recursive", str(src), f"s3://{bucket}/tree"))
    listing = ok(aios3_cli(server, "ls", f"s3://{bucket}/"))
    assert "PRE one/" in listing and "PRE tree/" in listing
    deep = ok(aios3_cli(server, "ls", "--recursive", f"s3://{bucket}"))
    assert "tree/sub/b.bin" in deep and str(6 * MiB + 1) in deep
    ok(aios3_cli(server, "cp", "-", f"s3://{bucket}/piped", stdin=b"from a pipe"))
    assert aios3_cli(server, "cp", f"s3://{bucket}/piped", "-").stdout == b"from a pipe"
    back = tmp_path / "back"
    ok(aios3_cli(server, "cp", "--recursive", f"s3://{bucket}/tree", str(back)))
    assert (back / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert "upload:" in ok(aios3_cli(server, "sync", str(src), f"s3://{bucket}/synced"))
    assert ok(aios3_cli(server, "sync", str(src), f"s3://{bucket}/synced")) == ""  # up to date
    (src / "a.txt").write_text("changed!")
    assert "a.txt" in ok(aios3_cli(server, "sync", str(src), f"s3://{bucket}/synced"))
    ok(aios3_cli(server, "rm", "--recursive", f"s3://{bucket}/tree"))
    assert "tree/" not in ok(aios3_cli(server, "ls", "--recursive", f"s3://{bucket}"))
    failed = aios3_cli(server, "cp", f"s3://{bucket}/no/such/key", str(tmp_path / "x"))
    assert failed.returncode == 1 and b"no such key" in failed.stderr
    assert not (tmp_path / "x").exists()
    ok(aios3_cli(server, "rb", "--force", f"s3://{bucket}"))
    assert bucket not in ok(aios3_cli(server, "ls"))


def test_cp_from_a_pipe_in_parts(server: Server) -> None:
    """``producer | aios3 cp - s3://...``: a pipe longer than a part, read through the
    event loop straight into the part buffers, stored byte for byte."""
    bucket = new_bucket_name()
    ok(aios3_cli(server, "mb", f"s3://{bucket}"))
    data = blob(12 * MiB + 3, seed=12)
    said = aios3_cli(server, "--part-size", "5", "cp", "-", f"s3://{bucket}/piped", stdin=data)
    ok(said)
    assert f"({len(data)} bytes)".encode() in said.stderr
    assert aios3_cli(server, "cp", f"s3://{bucket}/piped", "-").stdout == data
    ok(aios3_cli(server, "rb", "--force", f"s3://{bucket}"))


async def test_sigint_aborts_a_cli_upload(server: Server, s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        # As from a terminal: Python's own SIGINT handling, even where this test runs
        # with SIGINT ignored (a background job of a script), which children inherit.
        "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
        "runpy.run_module('aios3', run_name='__main__', alter_sys=True)",
        "--part-size",
        "5",
        "cp",
        "-",
        f"s3://{bucket}/interrupted",
        stdin=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(server),
    )
    assert proc.stdin is not None and proc.stderr is not None
    for _ in range(200):  # feed the pipe until the multipart upload is under way
        proc.stdin.write(b"x" * MiB)
        await proc.stdin.drain()
        if await open_uploads(s3, bucket, "interrupted"):
            break
    assert await open_uploads(s3, bucket, "interrupted")
    proc.send_signal(signal.SIGINT)
    code = await asyncio.wait_for(proc.wait(), 30)  # a prompt exit
    err = await proc.stderr.read()
    assert code == 130, err.decode()
    assert b"interrupted" in err and b"Traceback" not in err
    assert not await open_uploads(s3, bucket, "interrupted")
    assert not await s3.exists("interrupted")


async def test_resume_after_kill_9(server: Server, s3: aios3.S3, tmp_path: Path) -> None:
    bucket = s3.config.default_bucket or ""
    data = blob(40 * MiB + 3, seed=40)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aios3",
        "--part-size",
        "5",
        "--concurrency",
        "1",
        "cp",
        str(path),
        f"s3://{bucket}/resumed.bin",
        env=cli_env(server),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    stored: list[object] = []
    for _ in range(2000):
        uploads = await open_uploads(s3, bucket, "resumed.bin")
        if uploads:
            stored = await list_parts(s3, bucket, "resumed.bin", uploads[0]["UploadId"])
            if len(stored) >= 2:
                break
        await asyncio.sleep(0.01)
    proc.kill()  # kill -9: no chance to abort
    await proc.wait()
    uploads = await open_uploads(s3, bucket, "resumed.bin")
    assert len(uploads) == 1 and len(stored) >= 2
    assert not await s3.exists("resumed.bin")
    done = await asyncio.to_thread(
        aios3_cli,
        server,
        "--part-size",
        "5",
        "cp",
        "--resume",
        "auto",
        str(path),
        f"s3://{bucket}/resumed.bin",
    )
    out = ok(done)
    kept = int(out.split("(")[1].split(",")[1].split()[0])
    assert kept >= 2, out  # the parts the killed process had sent were not sent again
    assert await s3.get_bytes("resumed.bin") == data
    assert not await open_uploads(s3, bucket, "resumed.bin")


async def test_resume_checks_stored_parts_against_the_source(s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    old = blob(12 * MiB, seed=1)
    new = bytearray(old)
    new[100] ^= 0xFF  # part 1 differs from what the server holds
    created = await s3.client.create_multipart_upload(
        Bucket=bucket, Key="r/obj", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )
    upload_id = created["UploadId"]
    async with aios3.connect(s3.config) as other:
        up = aios3.MultipartUpload(
            other,
            bucket,
            "r/obj",
            params={},
            part_size=5 * MiB,
            concurrency=None,
            size=None,
            if_none_match=None,
            if_match=None,
            transfer=other.transfer,
        )
        up.upload_id = upload_id
        up._state = "open"
        await up.upload_part(1, old[: 5 * MiB])
        await up.upload_part(2, old[5 * MiB : 10 * MiB])
        await asyncio.gather(*list(up._tasks))
    info = await s3.resume_upload("r/obj", upload_id, bytes(new))
    assert info.parts == 3 and await s3.get_bytes("r/obj") == bytes(new)


async def test_list_parts_follows_pages_beyond_1000(s3: aios3.S3) -> None:
    bucket = s3.config.default_bucket or ""
    upload_id = (await s3.client.create_multipart_upload(Bucket=bucket, Key="many-parts"))[
        "UploadId"
    ]
    slots = asyncio.Semaphore(32)

    async def part(n: int) -> None:
        async with slots:
            await s3.client.upload_part(
                Bucket=bucket, Key="many-parts", UploadId=upload_id, PartNumber=n, Body=b"p"
            )

    await asyncio.gather(*(part(n) for n in range(1, 1106)))
    parts = await list_parts(s3, bucket, "many-parts", upload_id)
    assert [p.number for p in parts] == list(range(1, 1106))
    assert await s3.abort_multipart_uploads("many-parts") == 1


@pytest.mark.parametrize(
    "args", [["cp", "only-local", "also-local"], ["cp", "--metadata", "x", "a", "s3://b-b/k"]]
)
def test_cli_usage_errors(server: Server, args: list[str]) -> None:
    done = aios3_cli(server, *args)
    assert done.returncode == 252 and b"Traceback" not in done.stderr  # aws v2: bad usage
