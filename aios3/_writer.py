""":class:`FileWriter`: the one worker thread that writes a download's bytes to its file.

The event loop hands over pieces (a list of chunks and the offset they go to) and moves
on: it waits only when more than ``limit`` bytes are queued, so a download costs one
thread wake-up per piece rather than a round trip to an executor and back. The thread is
the writer's own, not one of the loop's default executor: a long download must not hold
a thread that ``getaddrinfo`` or ``to_thread`` elsewhere may be waiting for. The thread
writes the pieces in the order given (one writer per file: concurrent writers of one
file queue on its inode lock, and the kernel spins waiting for it) and keeps a CRC32 per
slot (a range), carried over that slot's pieces in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from typing import Any

from ._aio import shielded, wake
from ._checksum import crc32

__all__ = ["FileWriter"]

# Page-cache writes of about 256 KiB: larger writes get large folios, which on VMs that
# hand freed memory back to the host (free page reporting) come cold and cost several
# times the copy (2 GiB, same server, KiB per write -> MB/s: 1024 -> 507-627,
# 256 -> 705-942).
WRITE_BATCH = 256 * 1024
_IOV_MAX = 512  # buffers per pwritev call (the system allows 1,024)
_RESTART = -1  # the offset of the queue item that starts a slot's CRC over


def _batches(chunks: list[bytes]) -> list[list[bytes]]:
    """``chunks`` in runs of about WRITE_BATCH bytes (and at most _IOV_MAX buffers)."""
    out: list[list[bytes]] = [[]]
    size = 0
    for chunk in chunks:
        if out[-1] and (size + len(chunk) > WRITE_BATCH or len(out[-1]) == _IOV_MAX):
            out.append([])
            size = 0
        out[-1].append(chunk)
        size += len(chunk)
    return out


def _write_at(fd: int, chunks: list[bytes], offset: int) -> None:
    """Write ``chunks`` contiguously at ``offset`` (blocking)."""
    for batch in _batches(chunks):
        want = sum(len(c) for c in batch)
        done = os.pwritev(fd, batch, offset)
        if done != want:  # a short write: finish it piece by piece
            view = memoryview(b"".join(batch))[done:]
            while view:
                n = os.pwrite(fd, view, offset + done)
                view, done = view[n:], done + n
        offset += want


class FileWriter:
    """Writes pieces to ``fd`` in a worker thread; use as ``async with``.

    ``put`` queues a piece (waiting while more than ``limit`` bytes are queued) and
    raises the thread's error, if it had one. Leaving the block waits (up to ``within``
    seconds) for every queued piece to be written, or, when it is left by an exception
    or a cancellation, for the write under way only, so the file is never closed under
    the thread. ``observe``, if given, is called in the thread with every piece's chunks
    in order (to hash them). ``crc``: keep the slots' CRC32s (else they stay 0).
    """

    def __init__(
        self,
        fd: int,
        *,
        slots: int,
        limit: int,
        within: float,
        observe: Any = None,
        crc: bool = True,
    ) -> None:
        self.crcs = [0] * slots
        self._crc = crc
        self._fd = fd
        self._limit = limit
        self._within = within
        self._observe = observe
        self._queue: queue.SimpleQueue[tuple[int, list[Any], int, int, Any] | None]
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._queued = 0  # bytes handed over and not yet written
        self._waiters: list[asyncio.Future[None]] = []
        self._error: BaseException | None = None
        self._stop = False
        self._loop = asyncio.get_running_loop()
        self._done: asyncio.Future[None] = self._loop.create_future()

    async def __aenter__(self) -> FileWriter:
        threading.Thread(target=self._main, name="aios3-file-writer", daemon=True).start()
        return self

    async def put(self, slot: int, chunks: list[Any], offset: int, written: Any = None) -> None:
        """Queue ``chunks`` (bytes-like) for ``offset``, CRC'd into ``slot``;
        ``written()`` is called on the event loop once they are written (or skipped),
        when their buffer may be used again."""
        nbytes = sum(len(c) for c in chunks)
        while True:
            if self._error is not None:
                raise self._error
            with self._lock:
                if self._queued == 0 or self._queued + nbytes <= self._limit:
                    self._queued += nbytes
                    break
                waiter = self._loop.create_future()
                self._waiters.append(waiter)
            try:
                await waiter
            finally:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
        self._queue.put((slot, chunks, offset, nbytes, written))

    def restart(self, slot: int) -> None:
        """Start ``slot``'s CRC over: the pieces queued for it from here on are its
        first (a range fetched again from its start, after its bytes failed a check)."""
        self._queue.put((slot, [], _RESTART, 0, None))

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self._stop = True  # skip what is still queued: the download failed
        self._queue.put(None)
        await shielded(self._done, within=self._within)
        if exc_type is None and self._error is not None:
            raise self._error

    # -- the thread ----------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._run()
        finally:
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits
                self._loop.call_soon_threadsafe(wake, self._done)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            slot, chunks, offset, nbytes, written = item
            if offset == _RESTART:
                self.crcs[slot] = 0
            elif not self._stop:
                try:
                    if self._crc:
                        crc = self.crcs[slot]
                        for chunk in chunks:
                            crc = crc32(chunk, crc)
                        self.crcs[slot] = crc
                    if self._observe is not None:
                        self._observe(chunks)
                    _write_at(self._fd, chunks, offset)
                except BaseException as exc:  # reported to the loop by put / __aexit__
                    self._error, self._stop = exc, True
            with self._lock:
                self._queued -= nbytes
                waiters = list(self._waiters)  # only under back-pressure: they re-check
            for waiter in waiters:
                self._loop.call_soon_threadsafe(wake, waiter)
            if written is not None:
                with contextlib.suppress(RuntimeError):  # the loop is gone
                    self._loop.call_soon_threadsafe(written)
