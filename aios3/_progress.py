"""Progress reports: the :class:`Progress` event every transfer's ``progress=`` callback
receives, and the meters that make them.

A transfer owns one :class:`Meter`. The code that moves bytes calls
:meth:`Meter.add` once bytes are *acknowledged* (a part the server answered, a range
written to disk, a chunk handed to the reader), so a retried part never counts twice.
The meter calls the user's callback (sync or async) at the start, at most every
``interval`` seconds after that, and once at the end; an exception the callback raises
propagates from ``add()`` into the transfer, which stops and cleans up as for any error.

Directory calls own a :class:`TreeMeter`: each file gets a child meter that adds to it,
and its events carry the tree's totals plus the files in flight (``active``).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["Progress", "ProgressCallback", "Meter", "TreeMeter", "meter"]

INTERVAL = 0.1
"""Seconds between two events of one transfer, at least (start and end always report)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a transfer has got: what a ``progress=`` callback receives.

    ``name`` is what moves (an ``s3://`` URL, or for a directory call its source folder
    or prefix); ``bytes_done`` the bytes acknowledged so far (uploads: parts the server
    answered; downloads: bytes written); ``bytes_total`` the size, when known. For a
    directory call ``files_done`` / ``files_total`` count the files to copy, and
    ``active`` holds one event per file in flight.
    """

    name: str
    bytes_done: int
    bytes_total: int | None = None
    files_done: int | None = None
    files_total: int | None = None
    active: tuple[Progress, ...] = ()

    @property
    def fraction(self) -> float | None:
        """``bytes_done / bytes_total`` (1.0 for an empty transfer), when the total is known."""
        if self.bytes_total is None:
            return None
        return 1.0 if not self.bytes_total else min(1.0, self.bytes_done / self.bytes_total)

    @property
    def finished(self) -> bool:
        """True on a transfer's last event."""
        if self.files_total is not None:
            return self.files_done == self.files_total and self.bytes_done == self.bytes_total
        return self.bytes_total is not None and self.bytes_done >= self.bytes_total


ProgressCallback: TypeAlias = "Callable[[Progress], object | Awaitable[object]]"
"""A ``progress=`` callback: a function or coroutine function taking a :class:`Progress`."""


async def _call(callback: ProgressCallback, event: Progress) -> None:
    outcome = callback(event)
    if inspect.isawaitable(outcome):
        await outcome


class Meter:
    """One object's acknowledged bytes, reported to a callback (or to a tree)."""

    __slots__ = ("_callback", "_ended", "_last", "_started", "_tree", "done", "name", "total")

    def __init__(
        self,
        name: str,
        total: int | None,
        callback: ProgressCallback | None,
        *,
        tree: TreeMeter | None = None,
    ) -> None:
        self.name, self.total, self.done = name, total, 0
        self._callback, self._tree = callback, tree
        self._last = 0.0
        self._started = self._ended = False

    def event(self) -> Progress:
        return Progress(self.name, self.done, self.total)

    async def start(self, total: int | None = None, done: int = 0) -> None:
        """Report the start (once the total is known, if it can be): ``done`` bytes are
        already there (a resumed upload's stored parts)."""
        if total is not None:
            self.total = total
        self.done = done
        if self._started:
            return
        self._started = True
        if self._tree is not None:
            await self._tree.file_started(self, done)
        elif self._callback is not None:
            self._last = time.monotonic()
            await _call(self._callback, self.event())

    async def add(self, nbytes: int) -> None:
        """Count ``nbytes`` more as acknowledged; report if ``INTERVAL`` has passed."""
        if not self._started:
            await self.start()
        self.done += nbytes
        if self._tree is not None:
            await self._tree.file_added(nbytes)
            return
        if self._callback is None:
            return
        now = time.monotonic()
        if now - self._last >= INTERVAL:
            self._last = now
            await _call(self._callback, self.event())

    async def end(self) -> None:
        """Report the finished transfer (its size, when it was not known, is the bytes done)."""
        if self._ended:
            return
        if not self._started:
            await self.start()
        self._ended = True
        if self.total is None or self.total < self.done:
            self.total = self.done
        if self._tree is not None:
            await self._tree.file_ended(self)
        elif self._callback is not None:
            await _call(self._callback, self.event())


def meter(name: str, total: int | None, callback: ProgressCallback | Meter | None) -> Meter:
    """The meter of one transfer: a fresh one for a user's callback (or none: a meter
    that counts and reports nothing), or the one a directory call made for this file."""
    if isinstance(callback, Meter):
        if total is not None and callback.total is None:
            callback.total = total
        return callback
    return Meter(name, total, callback)


class TreeMeter:
    """A directory call's progress: its files' bytes summed, reported as one stream of
    events (throttled like a single transfer's)."""

    def __init__(self, name: str, callback: ProgressCallback | None) -> None:
        self.name = name
        self._callback = callback
        self.files_total = 0
        self.bytes_total = 0
        self.files_done = 0
        self.bytes_done = 0
        self._active: dict[int, Meter] = {}
        self._last = 0.0
        self.failed: BaseException | None = None  # what the callback raised, if it did

    @property
    def enabled(self) -> bool:
        return self._callback is not None

    def plan(self, files: int, nbytes: int) -> None:
        """Set what the call will copy: ``files`` files holding ``nbytes`` bytes."""
        self.files_total, self.bytes_total = files, nbytes

    def file(self, name: str, size: int | None) -> Meter:
        """The meter one file's transfer reports to."""
        return Meter(name, size, None, tree=self)

    def event(self) -> Progress:
        return Progress(
            self.name,
            self.bytes_done,
            self.bytes_total,
            self.files_done,
            self.files_total,
            tuple(m.event() for m in self._active.values()),
        )

    async def _report(self, *, force: bool = False) -> None:
        if self._callback is None:
            return
        now = time.monotonic()
        if force or now - self._last >= INTERVAL:
            self._last = now
            try:
                await _call(self._callback, self.event())
            except BaseException as exc:
                self.failed = self.failed or exc
                raise

    async def begin(self) -> None:
        await self._report(force=True)

    async def file_started(self, meter: Meter, done: int) -> None:
        self._active[id(meter)] = meter
        self.bytes_done += done
        await self._report()

    async def file_added(self, nbytes: int) -> None:
        self.bytes_done += nbytes
        await self._report()

    async def file_ended(self, meter: Meter) -> None:
        self._active.pop(id(meter), None)
        self.files_done += 1
        await self._report()

    async def file_dropped(self, meter: Meter, size: int) -> None:
        """A file that failed or was skipped: it will not add its bytes; count it done."""
        self._active.pop(id(meter), None)
        self.bytes_total -= max(0, size - meter.done)
        self.files_done += 1
        await self._report()

    async def finish(self) -> None:
        await self._report(force=True)
