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
import errno
import os
import queue
import threading
from typing import Any

from ._aio import shielded, wake
from ._checksum import crc32

__all__ = ["FileWriter", "write_at"]

# Page-cache writes of about 256 KiB: larger writes get large folios, which on VMs that
# hand freed memory back to the host (free page reporting) come cold and cost several
# times the copy (2 GiB, same server, KiB per write -> MB/s: 1024 -> 507-627,
# 256 -> 705-942).
WRITE_BATCH = 256 * 1024
_IOV_MAX = 512  # buffers per pwritev call (the system allows 1,024)
_RESTART = -1  # the offset of the queue item that starts a slot's CRC over


def _batches(chunks: list[Any]) -> list[list[Any]]:
    """``chunks`` in runs of about WRITE_BATCH bytes (and at most _IOV_MAX buffers), a
    chunk larger than that cut in WRITE_BATCH slices."""
    out: list[list[Any]] = [[]]
    size = 0
    for whole in chunks:
        if len(whole) <= WRITE_BATCH:
            pieces = [whole]
        else:
            view = memoryview(whole)
            pieces = [view[i : i + WRITE_BATCH] for i in range(0, len(view), WRITE_BATCH)]
        for chunk in pieces:
            if out[-1] and (size + len(chunk) > WRITE_BATCH or len(out[-1]) == _IOV_MAX):
                out.append([])
                size = 0
            out[-1].append(chunk)
            size += len(chunk)
    return out


def _wrote(n: int) -> int:
    """``n``, the bytes a write wrote, if any: a write of none would be tried forever."""
    if n <= 0:
        raise OSError(errno.EIO, "a write to the file wrote nothing")
    return n


def write_at(fd: int, chunks: list[Any], offset: int) -> None:
    """Write ``chunks`` contiguously at ``offset`` (blocking)."""
    for batch in _batches(chunks):
        want = sum(len(c) for c in batch)
        done = os.pwritev(fd, batch, offset)
        if done != want:  # a short write: finish it piece by piece
            view = memoryview(b"".join(batch))[done:]
            while view:
                n = _wrote(os.pwrite(fd, view, offset + done))
                view, done = view[n:], done + n
        offset += want


BLOCK = 4096
"""The alignment ``O_DIRECT`` writes keep: of memory, file offset and length (a
multiple of every logical block size in use: 512 and 4096 bytes)."""


def _write_direct(direct: int, fd: int, view: memoryview, offset: int) -> bool:
    """Write ``view`` (page-aligned memory) at ``offset`` (a multiple of BLOCK): its
    whole blocks through ``direct`` (opened ``O_DIRECT``), what is left through ``fd``.
    Returns False if the filesystem refused ``O_DIRECT`` (the rest went through ``fd``)."""
    whole = len(view) - len(view) % BLOCK
    done, refused = 0, False
    while done < whole:
        try:
            done += _wrote(os.pwrite(direct, view[done:whole], offset + done))
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            refused = True  # alignment this filesystem does not take after all
            break
        if done % BLOCK:  # a short write that ended mid-block: that block, buffered
            realigned = min(done - done % BLOCK + BLOCK, len(view))
            write_at(fd, [view[done:realigned]], offset + done)
            done = realigned
    if done < len(view):
        write_at(fd, [view[done:]], offset + done)
    return not refused


class FileWriter:
    """Writes pieces to ``fd`` in a worker thread; use as ``async with``.

    ``put`` queues a piece (waiting while more than ``limit`` bytes are queued) and
    raises the thread's error, if it had one. Leaving the block waits (up to ``within``
    seconds) for every queued piece to be written, or, when it is left by an exception
    or a cancellation, for the write under way only, so the file is never closed under
    the thread. ``observe``, if given, is called in the thread with every piece's chunks
    in order (to hash them). ``crc``: keep the slots' CRC32s (else they stay 0).
    ``direct``: the file opened again with ``O_DIRECT``, for the pieces put ``aligned``.
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
        direct: int | None = None,
    ) -> None:
        self.crcs = [0] * slots
        self._crc = crc
        self._direct = direct
        self._fd = fd
        self._limit = limit
        self._within = within
        self._observe = observe
        self._queue: queue.SimpleQueue[tuple[int, list[Any], int, int, Any, bool] | None]
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

    async def put(
        self,
        slot: int,
        chunks: list[Any],
        offset: int,
        written: Any = None,
        *,
        aligned: bool = False,
    ) -> None:
        """Queue ``chunks`` (bytes-like) for ``offset``, CRC'd into ``slot``;
        ``written()`` is called on the event loop once they are written (or skipped),
        when their buffer may be used again. ``aligned``: ``chunks`` is one view of
        page-aligned memory, written with ``O_DIRECT`` if the writer has it and
        ``offset`` is a multiple of :data:`BLOCK`."""
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
        self._queue.put((slot, chunks, offset, nbytes, written, aligned))

    def restart(self, slot: int) -> None:
        """Start ``slot``'s CRC over: the pieces queued for it from here on are its
        first (a range fetched again from its start, after its bytes failed a check)."""
        self._queue.put((slot, [], _RESTART, 0, None, False))

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
            slot, chunks, offset, nbytes, written, aligned = item
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
                    if aligned and self._direct is not None and offset % BLOCK == 0:
                        if not _write_direct(self._direct, self._fd, chunks[0], offset):
                            self._direct = None  # refused: buffered from here on
                    else:
                        write_at(self._fd, chunks, offset)
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
