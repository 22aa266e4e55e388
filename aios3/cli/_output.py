"""What the command line prints: one line per file as ``aws s3`` prints it (or one JSON
object per line with ``--json``), progress bars on a terminal, the final summary line,
and the exit status the outcomes add up to.

Result lines go to stdout, warnings, errors, bars and the summary to stderr, so that
``aios3 cp s3://... -`` and ``aios3 ls --json`` stay clean on stdout.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from .._exceptions import ConfigError
from .._progress import Progress
from .._tree import TreeItem
from ._parse import EXIT_FAILED, EXIT_SKIPPED

__all__ = ["Bars", "Output", "human_size", "local_time"]

_SUFFIXES = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(value: float) -> str:
    """A size as aws prints it (``human_readable_size``): ``1 Byte``, ``10 Bytes``,
    ``1.0 KiB``, ``200.0 MiB``."""
    if value == 1:
        return "1 Byte"
    if value < 1024:
        return f"{int(value)} Bytes"
    for i, suffix in enumerate(_SUFFIXES):
        unit = 1024 ** (i + 2)
        if round(value / unit * 1024) < 1024:
            return f"{1024 * value / unit:.1f} {suffix}"
    return f"{value / 1024**6:.1f} EiB"


def local_time(when: datetime | None) -> str:
    """A timestamp as ``aws s3 ls`` prints it: local time, to the second."""
    if when is None:
        return " " * 19
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, BaseException):
        return str(value)
    return value


_VERB_OF = {"upload": "upload", "download": "download", "copy": "copy", "delete": "delete"}


@dataclass
class Tally:
    """What the files of one command came to, for the summary and the exit status."""

    files: int = 0
    bytes: int = 0
    bytes_total: int = 0
    failed: int = 0
    skipped: int = 0
    deleted: int = 0
    started: float = field(default_factory=time.monotonic)


class Output:
    """Prints outcomes as ``aws s3`` does and keeps the exit status: 1 if a transfer
    failed, else 2 if a file was skipped."""

    def __init__(
        self,
        *,
        dryrun: bool = False,
        quiet: bool = False,
        only_errors: bool = False,
        as_json: bool = False,
        progress: bool = True,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.out = stdout or sys.stdout
        self.err = stderr or sys.stderr
        self.dryrun = dryrun
        self.quiet = quiet
        self.only_errors = only_errors or quiet
        self.as_json = as_json
        self.tally = Tally()
        self.status = 0
        self.move = False  # mv: a finished copy is reported as "move"
        self.fatal: BaseException | None = None  # a failure every file would share
        draw = progress and not self.only_errors and _is_terminal(self.err)
        self.bars: Bars | None = Bars(self.err) if draw else None

    # -- low level -----------------------------------------------------------------

    @contextlib.contextmanager
    def _clear(self) -> Iterator[None]:
        """Lift the progress bars off the terminal while a line is printed."""
        if self.bars is None:
            yield
        else:
            with self.bars.lifted():
                yield

    def line(self, text: str) -> None:
        """A result line on stdout (unless ``--only-show-errors`` / ``--quiet``)."""
        if self.only_errors:
            return
        with self._clear():
            print(text, file=self.out, flush=True)

    def data(self, text: str) -> None:
        """What the command was asked for (a listing, a URL): printed even with
        ``--only-show-errors``; ``--quiet`` keeps only what the verb exists to print."""
        with self._clear():
            print(text, file=self.out, flush=True)

    def record(self, obj: Mapping[str, Any]) -> None:
        """One JSON object on one line of stdout."""
        with self._clear():
            print(json.dumps(_jsonable(obj), sort_keys=False), file=self.out, flush=True)

    def note(self, text: str) -> None:
        """A result line on stderr, where stdout carries data (``cp - s3://...``)."""
        if self.only_errors:
            return
        with self._clear():
            print(text, file=self.err, flush=True)

    def warn(self, text: str) -> None:
        if self.quiet:
            return
        with self._clear():
            print(text, file=self.err, flush=True)

    def error(self, text: str) -> None:
        """An error line: shown even with ``--quiet`` (aws's quiet hides transfer
        lines; the one line that says why a command failed is always printed)."""
        with self._clear():
            print(text, file=self.err, flush=True)

    # -- outcomes ------------------------------------------------------------------

    def start(self) -> None:
        """The transfer starts now (the summary's rate counts from here)."""
        self.tally.started = time.monotonic()

    def failed(self) -> None:
        self.status = EXIT_FAILED
        self.tally.failed += 1

    def item(self, item: TreeItem) -> None:
        """Report one file's outcome, as ``on_item`` of a folder call."""
        t = self.tally
        if item.action == "fail":
            if isinstance(item.error, ConfigError):  # no credentials: every file fails so
                self.fatal = self.fatal or item.error  # the command stops with one line
                self.status = EXIT_FAILED
                return
            self.failed()
            t.bytes_total += item.size or 0
            target = f" to {item.destination}" if item.destination else ""
            verb = (
                "move"
                if self.move and item.destination
                else _VERB_OF.get(_action_of(item), "transfer")
            )
            if self.as_json:
                self.record(
                    {
                        "action": "fail",
                        "source": item.source,
                        "destination": item.destination,
                        "error": item.reason,
                    }
                )
            else:
                self.warn(f"{verb} failed: {item.source}{target} {item.reason}")
            return
        if item.action == "skip":
            self.status = self.status or EXIT_SKIPPED
            t.skipped += 1
            if self.as_json:
                self.record({"action": "skip", "source": item.source, "reason": item.reason})
            else:
                self.warn(f"warning: skipping {item.source}: {item.reason}")
            return
        if item.action == "delete":
            t.deleted += 1
        else:
            t.files += 1
            t.bytes += item.size or 0
            t.bytes_total += item.size or 0
        action = "move" if self.move and item.action != "delete" else item.action
        if self.as_json:
            record: dict[str, Any] = {"action": action, "source": item.source}
            if item.destination:
                record["destination"] = item.destination
            if item.size is not None:
                record["size"] = item.size
            if self.dryrun:
                record["dryrun"] = True
            if not self.only_errors:
                self.record(record)
            return
        dry = "(dryrun) " if self.dryrun else ""
        target = f" to {item.destination}" if item.destination else ""
        self.line(f"{dry}{action}: {item.source}{target}")

    def done(self, action: str, source: str, destination: str | None, size: int | None) -> None:
        """Report a single file's transfer (cp/mv of one file)."""
        self.item(TreeItem(action, source, destination, size))  # type: ignore[arg-type]

    def summary(self) -> None:
        """The final line, as aws's last progress line reads:
        ``Completed 200.0 MiB/200.0 MiB (45.1 MiB/s) with 3 file(s)``; on stderr, never
        redrawn. Nothing for a dry run, ``--quiet``, ``--only-show-errors``, or when no
        file moved."""
        t = self.tally
        if self.bars is not None:
            self.bars.close()
        if self.dryrun or self.only_errors or not (t.files or t.failed or t.deleted):
            return
        elapsed = max(time.monotonic() - t.started, 1e-6)
        rate = human_size(t.bytes / elapsed) + "/s"
        text = (
            f"Completed {human_size(t.bytes)}/{human_size(max(t.bytes_total, t.bytes))} "
            f"({rate}) with {t.files} file(s)"
        )
        counts = ((t.deleted, "deleted"), (t.failed, "failed"), (t.skipped, "skipped"))
        extra = [f"{n} {what}" for n, what in counts if n]
        if extra:
            text += ", " + ", ".join(extra)
        if self.as_json:
            self.record(
                {
                    "summary": {
                        "files": t.files,
                        "bytes": t.bytes,
                        "bytes_total": max(t.bytes_total, t.bytes),
                        "seconds": round(elapsed, 3),
                        "bytes_per_second": round(t.bytes / elapsed),
                        "deleted": t.deleted,
                        "failed": t.failed,
                        "skipped": t.skipped,
                    }
                }
            )
        else:
            with self._clear():
                print(text, file=self.err, flush=True)

    def summary_of_deletes(self) -> None:
        """``rm --recursive``'s end: aws prints no summary; ``--json`` gets one."""
        t = self.tally
        if self.as_json and not self.only_errors:
            self.record({"summary": {"deleted": t.deleted, "failed": t.failed}})

    def progress(self, event: Progress) -> None:
        """The ``progress=`` callback of every transfer: draws the bars, if any."""
        if self.bars is not None:
            self.bars.update(event)

    def close(self) -> None:
        if self.bars is not None:
            self.bars.close()


def _action_of(item: TreeItem) -> str:
    """The action a failed item was attempting, from its two sides."""
    src, dst = item.source, item.destination or ""
    if not dst:
        return "delete"
    remote_src, remote_dst = src.startswith("s3://"), dst.startswith("s3://")
    if remote_src and remote_dst:
        return "copy"
    return "download" if remote_src else "upload"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Bars:
    """Progress bars on a terminal, drawn by tqdm: one for the whole transfer (bytes,
    rate, ETA, files done) and one per file in flight. tqdm is imported here, and only
    when stderr is a terminal."""

    KNOWN = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}]{postfix}"  # noqa: E501
    UNKNOWN = "{desc}: {n_fmt} [{elapsed}, {rate_fmt}]{postfix}"  # a stream of unknown length

    def __init__(self, stream: TextIO, *, label: str | None = None, leave: bool = True) -> None:
        self.stream = stream
        self._label, self._leave = label, leave
        self._total: Any = None  # the overall bar
        self._slots: list[Any] = []  # per-file bars, reused as files come and go
        self._names: list[str | None] = []
        self._closed = False
        try:  # a terminal that reports no width (a bare pty) gets 100 columns
            self._sized = os.get_terminal_size(stream.fileno()).columns > 0
        except (AttributeError, OSError, ValueError):
            self._sized = False

    def _bar(self, position: int, desc: str, total: int | None) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=total,
            desc=desc,
            unit="iB",  # with unit_divisor=1024: "24.0Mi" sizes, "45.1MiB/s" rates
            unit_scale=True,
            unit_divisor=1024,
            position=position,
            leave=self._leave and position == 0,
            file=self.stream,
            dynamic_ncols=self._sized,
            ncols=None if self._sized else 100,
            mininterval=0.1,
            miniters=1,
            bar_format=self.KNOWN if total is not None else self.UNKNOWN,
        )

    def _set_total(self, bar: Any, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
            bar.bar_format = self.KNOWN

    @staticmethod
    def _short(name: str, width: int = 32) -> str:
        return name if len(name) <= width else "..." + name[-(width - 3) :]

    def update(self, event: Progress) -> None:
        if self._closed:
            return
        if self._total is None:
            label = self._label or (
                "total" if event.files_total is not None else self._short(event.name)
            )
            self._total = self._bar(0, label, event.bytes_total)
        bar = self._total
        self._set_total(bar, event.bytes_total)
        bar.n = event.bytes_done
        if event.files_total is not None:
            bar.set_postfix_str(f"{event.files_done or 0}/{event.files_total} files", refresh=False)
        bar.refresh()
        if event.files_total is not None:
            self._files(event.active)

    def _files(self, active: tuple[Progress, ...]) -> None:
        by_name = {p.name: p for p in active}
        for i, name in enumerate(self._names):  # free the slots of files that ended
            if name is not None and name not in by_name:
                self._names[i] = None
                self._slots[i].clear()  # an empty line until another file takes it
        for name, event in by_name.items():
            if name in self._names:
                i = self._names.index(name)
            elif None in self._names:
                i = self._names.index(None)
                self._names[i] = name
                self._slots[i].reset(total=event.bytes_total)
                self._slots[i].bar_format = self.KNOWN if event.bytes_total else self.UNKNOWN
                self._slots[i].set_description_str(self._short(name), refresh=False)
            else:
                i = len(self._slots)
                self._names.append(name)
                self._slots.append(self._bar(i + 1, self._short(name), event.bytes_total))
            slot = self._slots[i]
            self._set_total(slot, event.bytes_total)
            slot.n = event.bytes_done
            slot.refresh()

    @contextlib.contextmanager
    def lifted(self) -> Iterator[None]:
        if self._total is None or self._closed:
            yield
            return
        from tqdm import tqdm

        with tqdm.external_write_mode(file=self.stream):
            yield

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for slot in reversed(self._slots):
            slot.close()
        if self._total is not None:
            self._total.close()
