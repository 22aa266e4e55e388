"""The command line's output, without a server: sizes as aws prints them, the summary
line, the options grammar (before or after the verb, refused where they do not apply,
bad numbers at parse time), and the progress bars drawn on a pseudo-terminal from
synthetic :class:`aios3.Progress` events."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import struct
import termios

import pytest

from aios3 import MiB, Progress, TreeItem
from aios3.cli._output import Bars, Output, human_size
from aios3.cli._parse import parse, parse_metadata


@pytest.mark.parametrize(
    "value", [0, 1, 2, 1023, 1024, 1025, 1536, 1024**2 - 1, 5 * MiB, 200 * MiB, 3 * 1024**3, 1e15]
)
def test_human_size_is_aws_human_readable_size(value: float) -> None:
    utils = pytest.importorskip("awscli.customizations.s3.utils")
    assert human_size(value) == utils.human_readable_size(value)


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
