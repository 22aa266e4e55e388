"""The asyncio building blocks the transfers share.

- :func:`shielded` runs cleanup (an abort, a drain) to its end even when the task that
  awaits it is cancelled meanwhile, then re-raises that cancellation.
- :class:`Budget` bounds work in flight by count *and* bytes, which is what keeps a
  transfer's memory flat: ``write()`` waits on it (back-pressure) before cutting more.
- :func:`in_thread` runs blocking work in a worker thread and, when cancelled, waits
  for that thread to end before raising (what the thread uses stays valid until then).
- :func:`wake` resolves a waiter unless it is already done (a callback from another
  thread or from the selector, racing a cancellation).
- :class:`MemoryPool` is a client's budget of part-buffer bytes, shared by all its
  transfers; a transfer that holds none may always take one buffer (so it can move).
- :data:`tree_budget` is the one :class:`Budget` a directory call's transfers share
  (set for the tasks of the call, so every file's parts draw on the same pool).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

__all__ = ["Budget", "MemoryPool", "in_thread", "shielded", "tree_budget", "wake"]

T = TypeVar("T")


def wake(waiter: asyncio.Future[None]) -> None:
    """Resolve ``waiter`` unless it is done already (cancelled, or woken before)."""
    if not waiter.done():
        waiter.set_result(None)


async def in_thread(
    fn: Callable[..., T], /, *args: Any, on_cancel: Callable[[], object] | None = None
) -> T:
    """``fn(*args)`` in a worker thread. A thread cannot be stopped from outside: a
    cancellation that comes meanwhile calls ``on_cancel`` (which should have ``fn``
    stop soon) and is raised once the thread is done, so that whatever it reads (an
    open file) is not closed under it."""
    task = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    interrupted = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            if not interrupted and on_cancel is not None:
                on_cancel()
            interrupted = True
    if interrupted:
        if not task.cancelled():
            task.exception()  # retrieved: the cancellation is what the caller gets
        raise asyncio.CancelledError
    return task.result()


async def shielded(aw: Awaitable[T], *, within: float) -> T:
    """Await ``aw`` to completion, shielded from cancellation of the caller.

    A cancellation that arrives meanwhile is held until ``aw`` is done, then raised.
    ``aw`` gets ``within`` seconds; after that it is cancelled (and given a moment to
    unwind) so a dead endpoint cannot hold a cancelled task forever.
    """
    task = asyncio.ensure_future(aw)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    interrupted = timed_out = False
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            if timed_out:
                break  # it ignores its cancellation; leave it rather than hang
            task.cancel()
            timed_out = True
            deadline = loop.time() + 5.0  # time to unwind after the cancel
            continue
        try:
            await asyncio.wait([task], timeout=remaining)
        except asyncio.CancelledError:
            interrupted = True
    if task.done() and not task.cancelled():
        task.exception()  # mark retrieved; result() below re-raises it if it matters
    if interrupted:
        raise asyncio.CancelledError
    if timed_out:
        raise TimeoutError(f"cleanup did not finish within {within} s")
    return task.result()


class Budget:
    """At most ``slots`` holders and ``nbytes`` bytes at once.

    A request larger than the whole byte budget is trimmed to it, so one oversized
    piece can still go alone rather than wait forever.
    """

    def __init__(self, slots: int, nbytes: int) -> None:
        self._slots = slots
        self._bytes = nbytes
        self._capacity = nbytes
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire(self, nbytes: int) -> int:
        """Wait until ``nbytes`` (trimmed to the budget) and a slot are free; take them
        and return the amount to :meth:`release`. Cancellation takes nothing."""
        need = min(nbytes, self._capacity)
        loop = asyncio.get_running_loop()
        while self._slots < 1 or self._bytes < need:
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        self._slots -= 1
        self._bytes -= need
        return need

    def release(self, held: int) -> None:
        """Give back what :meth:`acquire` returned and wake the waiters to re-check."""
        self._slots += 1
        self._bytes += held
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


class PoolUser(Protocol):
    """A transfer drawing on a :class:`MemoryPool`."""

    @property
    def pool_held(self) -> int:
        """The bytes of the pool it holds now."""
        ...

    def shed(self) -> None:
        """Give back the buffers it keeps idle (spares)."""
        ...


class MemoryPool:
    """The bytes of part buffers that all transfers of one client may hold at once.

    :meth:`take` waits while the pool is spent, except for a transfer that holds none of
    it (checked again at every wake): that one is granted at once, even past the
    capacity, so that every transfer can always make progress and no set of transfers
    can wait on each other; idle spare buffers are shed before anyone waits. The pool
    therefore holds at most ``capacity`` plus one buffer per transfer that started
    while it was full.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self.peak = 0  # the most bytes held at once, for tests and benchmarks
        self._waiters: list[asyncio.Future[None]] = []
        self._users: weakref.WeakSet[PoolUser] = weakref.WeakSet()

    async def take(self, nbytes: int, *, user: PoolUser | None = None) -> int:
        """Take ``nbytes``; return the amount to :meth:`give` back. A ``user`` that
        holds none of the pool (``user.pool_held``, read again at every wake: one whose
        parts were all given back while it waited holds none) goes at once; with no
        ``user`` the bytes are granted at once (a read-ahead, which sends nothing until
        it is over, must never wait). Before anyone waits, every user is asked to
        ``shed()`` its idle buffers."""
        if user is not None:
            self._users.add(user)
            loop = asyncio.get_running_loop()
            while user.pool_held > 0 and self.in_use + nbytes > self.capacity:
                for other in list(self._users):
                    other.shed()  # idle spares go back before anyone waits for them
                if user.pool_held == 0 or self.in_use + nbytes <= self.capacity:
                    break
                waiter = loop.create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    self._waiters.remove(waiter)
        self.in_use += nbytes
        self.peak = max(self.peak, self.in_use)
        return nbytes

    @property
    def contended(self) -> bool:
        """Whether a transfer is waiting for room (then buffers are given back, not kept)."""
        return bool(self._waiters)

    def give(self, nbytes: int) -> None:
        """Give back what :meth:`take` returned, and wake the waiters to re-check."""
        if nbytes <= 0:
            return
        self.in_use -= nbytes
        for waiter in self._waiters:
            wake(waiter)


tree_budget: ContextVar[Budget | None] = ContextVar("aios3_tree_budget", default=None)
"""The budget of the directory call whose task this is, if any: its uploads' parts and
its downloads' ranges all draw on it, so the whole tree holds at most
``part_size x concurrency`` bytes of parts, whatever the number of files."""
