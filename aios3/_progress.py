"""Progress reports: the :class:`Progress` event every transfer's ``progress=`` callback
receives, and the meters that make them.

A transfer owns one :class:`Meter`. The code that moves bytes calls
:meth:`Meter.add` once bytes are *acknowledged* (a part the server answered, a range
written to disk, a chunk handed to the reader), so a retried part never counts twice.
The meter calls the user's callback (sync or async) at the start, at most every
``interval`` seconds after that, and once at the end; an exception the callback raises
propagates from ``add()`` into the transfer, which stops and cleans up as for any error.

Directory calls own a :class:`TreeMeter`: each file's transfer reports to it through an
ordinary callback, and its events carry the tree's totals plus the files in flight
(``active``).
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeAlias

from ._aio import tree_budget

__all__ = ["Meter", "Progress", "ProgressCallback", "TreeMeter"]

INTERVAL = 0.1
"""Seconds between two events of one transfer, at least (start and end always report)."""


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a transfer has got: what a ``progress=`` callback receives.

    ``name`` is what moves (an ``s3://`` URL, or for a directory call its source folder
    or prefix); ``bytes_done`` the bytes acknowledged so far (uploads: parts the server
    answered; downloads: bytes written); ``bytes_total`` the size, when known. For a
    directory call ``files_done`` / ``files_total`` count the files to copy, and
    ``active`` holds one event per file in flight, named by its source.

    A directory call finds what to copy as it goes (its sides are listed a page at a
    time, never held whole): while it is still ``listing``, ``files_total`` and
    ``bytes_total`` count the files found so far (up to a thousand ahead of the
    copies) and grow; once ``listing`` is False they are the call's totals. A tree of
    up to a thousand files to copy is found before its first event.
    """

    name: str
    bytes_done: int
    bytes_total: int | None = None
    files_done: int | None = None
    files_total: int | None = None
    active: tuple[Progress, ...] = ()
    listing: bool = False

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
            return (
                not self.listing
                and self.files_done == self.files_total
                and self.bytes_done == self.bytes_total
            )
        return self.bytes_total is not None and self.bytes_done >= self.bytes_total


ProgressCallback: TypeAlias = Callable[[Progress], object | Awaitable[object]]
"""A ``progress=`` callback: a function or coroutine function taking a :class:`Progress`."""


async def _call(callback: ProgressCallback, event: Progress) -> None:
    # Outside any directory call's shared pool: a callback that itself transfers must
    # not wait for slots held by the very parts that are waiting for it.
    token = tree_budget.set(None)
    try:
        outcome = callback(event)
        if inspect.isawaitable(outcome):
            await outcome
    finally:
        tree_budget.reset(token)


class Meter:
    """One transfer's acknowledged bytes, reported to its callback (none: counted only)."""

    __slots__ = ("_callback", "_ended", "_last", "_sent", "_started", "done", "name", "total")

    def __init__(self, name: str, total: int | None, callback: ProgressCallback | None) -> None:
        self.name, self.total, self.done = name, total, 0
        self._callback = callback
        self._last = 0.0
        self._sent: tuple[int, int | None] | None = None  # the last event's numbers
        self._started = self._ended = False

    def event(self) -> Progress:
        return Progress(self.name, self.done, self.total)

    async def _send(self) -> None:
        assert self._callback is not None
        self._sent = (self.done, self.total)
        await _call(self._callback, self.event())

    async def start(self, total: int | None = None, done: int = 0) -> None:
        """Report the start (once the total is known, if it can be): ``done`` bytes are
        already there (a resumed upload's stored parts)."""
        if total is not None:
            self.total = total
        if self._started:
            return
        self.done, self._started = done, True
        if self._callback is not None:
            self._last = time.monotonic()
            await self._send()

    async def add(self, nbytes: int) -> None:
        """Count ``nbytes`` more as acknowledged; report if ``INTERVAL`` has passed."""
        if not self._started:
            await self.start()
        self.done += nbytes
        if self._callback is None:
            return
        now = time.monotonic()
        if now - self._last >= INTERVAL:
            self._last = now
            await self._send()

    async def end(self) -> None:
        """Report the finished transfer (its size, when it was not known, is the bytes done)."""
        if self._ended:
            return
        if not self._started:
            await self.start()
        self._ended = True
        if self.total is None or self.total < self.done:
            self.total = self.done
        if self._callback is not None and self._sent != (self.done, self.total):
            await self._send()  # unless the last event said it already


class TreeMeter:
    """A directory call's progress: its files' events summed into one stream of events
    (throttled like a single transfer's), with the files in flight as ``active``.

    The run tells :meth:`found` of each file to copy as its plan finds it, and
    :meth:`found_all` when the plan is complete; each file's transfer reports to
    :meth:`file_callback`, and the run tells :meth:`file_done` when a file's job is
    over, whatever its outcome.
    """

    def __init__(self, name: str, callback: ProgressCallback | None) -> None:
        self.name = name
        self._callback = callback
        self.files_total = self.bytes_total = 0
        self.files_done = self.bytes_done = 0
        self._seen: dict[str, int] = {}  # bytes done per file in flight
        self._active: dict[str, Progress] = {}
        self._last = 0.0
        self.failed: BaseException | None = None  # what the callback raised, if it did
        self.listing = True
        self.begun = False

    def found(self, nbytes: int) -> None:
        """One more file to copy, of ``nbytes`` bytes: the totals grow."""
        self.files_total += 1
        self.bytes_total += nbytes

    def found_all(self) -> None:
        """Every file to copy was found: the totals are final."""
        self.listing = False

    def again(self) -> None:
        """The call looks for what to copy again, from the start: the totals drop to
        what is done (files in flight were stopped) and grow again."""
        self.files_total, self.bytes_total = self.files_done, self.bytes_done
        self._seen.clear()
        self._active.clear()
        self.listing = True

    def event(self) -> Progress:
        return Progress(
            self.name,
            self.bytes_done,
            self.bytes_total,
            self.files_done,
            self.files_total,
            tuple(self._active.values()),
            self.listing,
        )

    def file_callback(self, name: str) -> ProgressCallback | None:
        """The ``progress=`` callback for the transfer of the file ``name``."""
        if self._callback is None:
            return None

        async def on_event(event: Progress) -> None:
            self.bytes_done += event.bytes_done - self._seen.get(name, 0)
            self._seen[name] = event.bytes_done
            self._active[name] = replace(event, name=name)  # named by its source
            await self._report()

        return on_event

    async def file_done(self, name: str, size: int, *, ok: bool) -> None:
        """The file ``name`` (``size`` bytes) is done with: copied (``ok``), or failed or
        skipped, when the bytes it will never move leave the total."""
        seen = self._seen.pop(name, 0)
        self._active.pop(name, None)
        if seen > size:  # the file grew since it was listed: so does the total
            self.bytes_total += seen - size
        elif ok:
            self.bytes_done += size - seen
        else:
            self.bytes_total -= size - seen
        self.files_done += 1
        await self._report()

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
        """Report the start (once the files found so far are counted)."""
        self.begun = True
        await self._report(force=True)

    async def finish(self) -> None:
        """Report the end."""
        await self._report(force=True)
