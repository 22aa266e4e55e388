"""One retry policy for every body aios3 sends or fetches: parts, PUTs, ranges.

botocore already retries each request (``Config.max_attempts``); this outer loop adds
``TransferConfig.part_retries`` attempts with jittered exponential backoff for what
botocore gives up on or cannot see (a body cut short mid-read, a BadDigest).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ._config import TransferConfig
from ._exceptions import EndpointError, IntegrityError, S3Error, ServiceError, TransferError

__all__ = ["bound_connect_retries", "retryable", "with_retries"]

log = logging.getLogger("aios3")
T = TypeVar("T")


def jitter() -> float:
    """A random fraction in [0, 1) for a retry's delay: from the kernel's generator, which
    needs no file descriptor (a retry after too many open files still waits and tries
    again) and no ``random`` module loaded at import."""
    return int.from_bytes(os.urandom(4), "big") / 2**32


def could_not_connect(err: BaseException) -> bool:
    """Whether ``err`` is a connection that could not be made (refused, no route,
    connect timeout): botocore has retried it already, within the connect budget."""
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

    return isinstance(err.__cause__, EndpointConnectionError | ConnectTimeoutError)


def retryable(err: S3Error) -> bool:
    """Transient: a broken connection, corrupted bytes, 5xx / SlowDown, broken body. An
    endpoint that could not be reached at all is not tried again here: botocore's own
    retries already spent the connect budget (see :func:`bound_connect_retries`)."""
    if isinstance(err, EndpointError):
        return not could_not_connect(err)
    if isinstance(err, IntegrityError):
        return True
    if isinstance(err, ServiceError):
        return (err.status or 500) >= 500 or err.code in ("SlowDown", "RequestTimeout")
    return type(err) is TransferError  # a connection-level failure without a status


async def with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    transfer: TransferConfig,
    what: str,
    progress: Callable[[], int] | None = None,
    renew: int = 0,
) -> tuple[T, int]:
    """Run ``attempt`` until it succeeds or fails for good; return (result, tries).

    ``attempt`` must raise :class:`S3Error` for failures (translate before raising).
    The last error propagates with a note of how many tries were made.

    ``part_retries + 1`` tries; with ``progress`` (where a resumable transfer has got
    to, in bytes), every ``renew`` bytes it gets past the point of its last renewal
    give it that many tries again, counted (with their backoff) from the failure that
    got there. So a range of several parts survives as many breaks as its parts would
    have one by one, and a range that breaks at the same byte every time still fails.
    """
    tries = transfer.part_retries + 1
    furthest = progress() if progress is not None else 0
    n = total = 0  # tries since the last renewal, and in all
    while True:
        n += 1
        total += 1
        try:
            return await attempt(), total
        except S3Error as err:
            if progress is not None and renew > 0 and (reached := progress()) >= furthest + renew:
                furthest, n = reached, 1  # this failure opens the new allowance
            if n >= tries or not retryable(err):
                note = f"aios3: {what} failed after {total} tr{'y' if total == 1 else 'ies'}"
                err.add_note(note)
                raise
            delay = transfer.retry_backoff * (2 ** (n - 1)) * (0.5 + jitter())
            log.info("retrying %s in %.2f s: %s", what, delay, err)
            await asyncio.sleep(delay)


_FIRST_FAILURE = "aios3_connect_failed_at"


def bound_connect_retries(client: Any, budget: float) -> None:
    """Make an unreachable endpoint fail within ``budget`` seconds (the client's
    ``Config.connect_timeout``) instead of botocore's full backoff (about 7 s for five
    attempts at a refused port, 50 s for five connect timeouts).

    Wraps the client's own standard-mode retry handler (so both request paths get it):
    a connection that timed out is not tried again, as it spent the budget already; a
    refused one is tried again while the time since its first failure plus the next
    delay stays within the budget. Every other retry decision is botocore's, unchanged.
    """
    emitter = client.meta.events
    inner = getattr(emitter, "_emitter", emitter)
    unique_id = "retry-config-s3"
    item = inner._unique_id_handlers.get(unique_id)
    if item is None:  # pragma: no cover - a botocore that registers it otherwise
        log.debug("connect retries not bounded: no %s handler", unique_id)
        return
    bounded = _BoundedRetries(item["handler"], budget)
    emitter.unregister("needs-retry.s3", unique_id=unique_id)
    emitter.register("needs-retry.s3", bounded.needs_retry, unique_id=unique_id)


class _BoundedRetries:
    """The client's retry handler, with connection failures bounded in time. Keeps
    the handler's ``_retry_quota`` where the direct path looks for it."""

    def __init__(self, handler: Any, budget: float) -> None:
        self._handler = handler
        self._budget = budget
        self._retry_quota = getattr(getattr(handler, "__self__", None), "_retry_quota", None)

    async def needs_retry(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError

        delay = self._handler(**kwargs)
        if asyncio.iscoroutine(delay):
            delay = await delay
        error = kwargs.get("caught_exception")
        if not delay or not isinstance(error, EndpointConnectionError | ConnectTimeoutError):
            return delay
        if isinstance(error, ConnectTimeoutError):
            return None  # the attempt spent the whole budget already
        context = (kwargs.get("request_dict") or {}).get("context")
        if context is None:
            return delay
        now = time.monotonic()
        first = context.setdefault(_FIRST_FAILURE, now)
        return delay if now - first + delay <= self._budget else None
