"""The command line's output: sizes as aws prints them, the summary line, the options
grammar (before or after the verb, refused where they do not apply, bad numbers at
parse time), the progress bars drawn on a pseudo-terminal from synthetic
:class:`aios3.Progress` events, then by real commands on a pty (and none, only the
summary, when stderr is a file)."""

from __future__ import annotations

import asyncio
import fcntl
import io
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest
from test_cli import cli_env

import aios3
from aios3 import MiB, Progress, TreeItem
from aios3.cli._output import Bars, Output, human_size
from aios3.cli._parse import parse, parse_metadata
from aios3.testing import Server

# What awscli's human_readable_size returns (awscli/customizations/s3/utils.py). It is
# not imported here: awscli 1.46 installs its own botocore over the one aiobotocore uses.
AWS_SIZES = {
    0: "0 Bytes",
    1: "1 Byte",
    2: "2 Bytes",
    1023: "1023 Bytes",
    1024: "1.0 KiB",
    1025: "1.0 KiB",
    1536: "1.5 KiB",
    1024**2 - 1: "1.0 MiB",
    5 * MiB: "5.0 MiB",
    200 * MiB: "200.0 MiB",
    3 * 1024**3: "3.0 GiB",
    10**15: "909.5 TiB",
}


@pytest.mark.parametrize("value", sorted(AWS_SIZES))
def test_human_size_is_aws_human_readable_size(value: int) -> None:
    assert human_size(value) == AWS_SIZES[value]


def test_summary_line_reads_as_aws_progress_line() -> None:
    err = io.StringIO()
    out = Output(stdout=io.StringIO(), stderr=err)
    out.item(TreeItem("upload", "a", "s3://b/a", 100 * MiB))
    out.item(TreeItem("upload", "b", "s3://b/b", 100 * MiB))
    out.item(TreeItem("fail", "c", "s3://b/c", 5, reason="boom"))
    out.summary()
    lines = err.getvalue().splitlines()
    assert lines[0] == "upload failed: c to s3://b/c boom"
    assert lines[1].startswith("Completed 200.0 MiB/200.0 MiB (")
    assert lines[1].endswith("/s) with 2 file(s), 1 failed")
    assert out.status == 1


def test_quiet_dryrun_and_json_outcomes() -> None:
    std, err = io.StringIO(), io.StringIO()
    out = Output(dryrun=True, stdout=std, stderr=err)
    out.item(TreeItem("delete", "s3://b/k"))
    out.summary()
    assert std.getvalue() == "(dryrun) delete: s3://b/k\n" and err.getvalue() == ""
    std, err = io.StringIO(), io.StringIO()
    out = Output(quiet=True, stdout=std, stderr=err)
    out.item(TreeItem("upload", "a", "s3://b/a", 1))
    out.item(TreeItem("skip", "fifo", reason="is not a regular file"))
    out.summary()
    assert std.getvalue() == err.getvalue() == "" and out.status == 2
    std = io.StringIO()
    out = Output(as_json=True, stdout=std, stderr=io.StringIO())
    out.item(TreeItem("copy", "s3://b/a", "s3://b/c", 3))
    out.summary()
    import json

    first, last = (json.loads(line) for line in std.getvalue().splitlines())
    assert first == {"action": "copy", "source": "s3://b/a", "destination": "s3://b/c", "size": 3}
    assert last["summary"]["files"] == 1 and last["summary"]["bytes"] == 3


def test_options_before_or_after_the_verb() -> None:
    a = parse(["--endpoint-url", "http://h:1", "cp", "x", "s3://b/k", "--no-progress"])
    b = parse(["cp", "--endpoint", "http://h:1", "--no-progress", "x", "s3://b/k"])
    assert a.endpoint == b.endpoint == "http://h:1" and a.no_progress and b.no_progress
    c = parse(["--recursive", "--exclude", "*", "--include", "*.txt", "sync", "d", "s3://b/p"])
    assert c.recursive and c.filters == [("exclude", "*"), ("include", "*.txt")]
    d = parse(["ls"])
    assert d.target is None and d.filters == [] and not d.recursive and d.expires_in == 3600


@pytest.mark.parametrize(
    "argv",
    [
        ["--jobs", "0", "cp", "a", "s3://b/k"],
        ["cp", "--part-size", "4", "a", "s3://b/k"],
        ["presign", "--expires-in", "604801", "s3://b/k"],
        ["ls", "--delete"],
        ["mb", "--exclude", "x", "s3://bucket"],
        ["cp", "--acl", "everyone", "a", "s3://b/k"],
        ["cp", "--metadata", "novalue", "a", "s3://b/k"],
        ["cp", "--endpoint-url", "localhost:9000", "a", "s3://b/k"],
        ["cp", "a"],
        ["frobnicate"],
    ],
)
def test_bad_command_lines_exit_252(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 252
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "aios3: error:" in err


def test_metadata_as_aws_takes_it() -> None:
    assert parse_metadata("a=1,b=two") == {"a": "1", "b": "two"}
    assert parse_metadata('{"k": "v", "x": "y=z"}') == {"k": "v", "x": "y=z"}
    both = parse(["cp", "--metadata", "a=1", "--metadata", '{"b": "2"}', "x", "s3://b/k"])
    assert both.metadata == {"a": "1", "b": "2"}


def _read_all(fd: int) -> bytes:
    data = b""
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_bars_draw_on_a_terminal_from_progress_events() -> None:
    """One overall bar (bytes, rate, ETA, files) and one per file in flight, drawn by
    tqdm on a real pseudo-terminal; files come and go in reused slots."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    stream = os.fdopen(slave, "w", buffering=1)
    try:
        bars = Bars(stream)
        total = 30 * MiB
        a, b = "s3://b/dir/first.bin", "s3://b/dir/second.bin"
        for step in range(1, 11):
            done = step * 3 * MiB
            active = (Progress(a, min(done, 10 * MiB), 10 * MiB), Progress(b, done // 2, 20 * MiB))
            bars.update(Progress("dir", done, total, step // 4, 2, active))
        bars.update(Progress("dir", total, total, 2, 2, ()))
        bars.close()
        drawn = _read_all(master).decode(errors="replace")
    finally:
        stream.close()
        os.close(master)
    assert "total" in drawn and "100%" in drawn and "2/2 files" in drawn
    assert "first.bin" in drawn and "second.bin" in drawn
    assert "B/s" in drawn and "\r" in drawn  # a rate; redrawn in place
    assert any(ch in drawn for ch in "█▏▎▍▌▋▊▉#")  # bar characters


def test_no_bars_unless_stderr_is_a_terminal(tmp_path: object) -> None:
    out = Output(stdout=io.StringIO(), stderr=io.StringIO())
    assert out.bars is None
    out.progress(Progress("x", 1, 2))  # a no-op
    master, slave = pty.openpty()
    stream = os.fdopen(slave, "w")
    try:
        assert Output(stderr=stream).bars is not None
        for flags in ({"quiet": True}, {"only_errors": True}, {"progress": False}):
            assert Output(stderr=stream, **flags).bars is None  # type: ignore[arg-type]
    finally:
        stream.close()
        os.close(master)


# -- the bars of a real command, on a terminal and off it ------------------------------


def _cli_on_pty(server: Server, *args: str) -> tuple[int, bytes, str]:
    """Run the command with stderr on a pseudo-terminal (120 columns); return its exit
    status, stdout, and everything drawn on the terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    drawn = bytearray()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aios3", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=cli_env(server),
        )
        os.close(slave)
        slave = -1

        def pump() -> None:
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed its end
                    return
                if not chunk:
                    return
                drawn.extend(chunk)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        stdout, _ = proc.communicate(timeout=120)
        reader.join(10)
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return proc.returncode, stdout, drawn.decode(errors="replace")


async def test_cli_draws_bars_on_a_terminal(server: Server, s3: aios3.S3, tmp_path: Path) -> None:
    bucket = s3.config.default_bucket
    big = tmp_path / "src" / "big.bin"
    big.parent.mkdir()
    big.write_bytes(os.urandom(24 * MiB))
    (tmp_path / "src" / "small.txt").write_text("small")
    code, stdout, drawn = await asyncio.to_thread(
        _cli_on_pty, server, "--part-size", "5", "cp", str(big), f"s3://{bucket}/big.bin"
    )
    assert code == 0 and stdout.startswith(b"upload: "), drawn
    assert "100%" in drawn and "B/s" in drawn and "\r" in drawn, drawn
    assert any(ch in drawn for ch in "█▏▎▍▌▋▊▉#")  # bar characters
    assert "Completed 24.0 MiB/24.0 MiB (" in drawn
    code, stdout, drawn = await asyncio.to_thread(
        _cli_on_pty, server, "cp", "--recursive", str(tmp_path / "src"), f"s3://{bucket}/tree/"
    )
    assert code == 0 and len(stdout.splitlines()) == 2, drawn
    assert "total" in drawn and "2/2 files" in drawn and "with 2 file(s)" in drawn
    code, stdout, drawn = await asyncio.to_thread(
        _cli_on_pty, server, "--no-progress", "cp", f"s3://{bucket}/big.bin", str(tmp_path / "b")
    )
    assert code == 0 and "%" not in drawn and "\r\n" in drawn  # only the summary line
    assert drawn.strip().startswith("Completed 24.0 MiB/24.0 MiB")


async def test_no_redraws_when_stderr_is_a_file(
    server: Server, s3: aios3.S3, tmp_path: Path
) -> None:
    bucket = s3.config.default_bucket
    src = tmp_path / "src"
    src.mkdir()
    (src / "one.bin").write_bytes(os.urandom(3 * MiB))
    (src / "two.bin").write_bytes(os.urandom(MiB))
    log = tmp_path / "stderr.txt"
    with log.open("wb") as err:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "aios3", "sync", str(src), f"s3://{bucket}/s"],
            stdout=subprocess.PIPE,
            stderr=err,
            env=cli_env(server),
            timeout=120,
        )
    assert done.returncode == 0
    written = log.read_bytes()
    assert b"\r" not in written and b"\x1b[" not in written  # no redraws, no escapes
    assert written.decode().splitlines() == [
        written.decode().splitlines()[0]
    ] and written.startswith(b"Completed 4.0 MiB/4.0 MiB (")
    assert written.rstrip().endswith(b"with 2 file(s)")
