"""One retry policy for every body aios3 sends or fetches: parts, PUTs, ranges.

botocore already retries each request (``Config.max_attempts``); this outer loop adds
``TransferConfig.part_retries`` attempts with jittered exponential backoff for what
botocore gives up on or cannot see (a body cut short mid-read, a BadDigest).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ._config import TransferConfig
from ._exceptions import EndpointError, IntegrityError, S3Error, ServiceError, TransferError

__all__ = ["retryable", "with_retries"]

log = logging.getLogger("aios3")
T = TypeVar("T")


def retryable(err: S3Error) -> bool:
    """Transient: unreachable endpoint, corrupted bytes, 5xx / SlowDown, broken body."""
    if isinstance(err, EndpointError | IntegrityError):
        return True
    if isinstance(err, ServiceError):
        return (err.status or 500) >= 500 or err.code in ("SlowDown", "RequestTimeout")
    return type(err) is TransferError  # a connection-level failure without a status


async def with_retries(
    attempt: Callable[[], Awaitable[T]], *, transfer: TransferConfig, what: str
) -> tuple[T, int]:
    """Run ``attempt`` until it succeeds or fails for good; return (result, tries).

    ``attempt`` must raise :class:`S3Error` for failures (translate before raising).
    The last error propagates with a note of how many tries were made.
    """
    tries = transfer.part_retries + 1
    for n in range(1, tries + 1):
        try:
            return await attempt(), n
        except S3Error as err:
            if n == tries or not retryable(err):
                err.add_note(f"aios3: {what} failed after {n} tr{'y' if n == 1 else 'ies'}")
                raise
            delay = transfer.retry_backoff * (2 ** (n - 1)) * (0.5 + random.random())
            log.info("retrying %s in %.2f s: %s", what, delay, err)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
