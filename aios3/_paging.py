"""The pages of a listing, each next page asked for before this one is read.

S3's listings chain: a page names where the next one starts (a continuation token, a
key and version marker). :func:`pages` asks for the next page as soon as this page's
answer is in, the marker read off its bytes (:meth:`Answer.peek`) before they are
parsed, so the store works on the next page while this one is parsed and consumed,
and a consumer never waits on the network between pages unless it outpaces the store.
The marker that the parse finds decides: where the peek read something else, the page
asked for is dropped and the right one asked for. ``read`` is given the parameters
that asked for each answer, so a page whose body does not read can be asked for again.
The request ahead belongs to the generator: closing it (a break, a cancellation, an
error) cancels that request and waits for it to end, its outcome collected.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any

from ._direct import Answer
from ._xml import load_parser

__all__ = ["TURN", "pages"]

TURN = 50  # a consumer of items gives the loop a turn every so many (see list())


async def pages(
    fetch: Callable[[dict[str, Any]], Awaitable[Answer]],
    read: Callable[[Answer, dict[str, Any]], Awaitable[dict[str, Any]]],
    params: dict[str, Any],
    markers: Mapping[str, str],
    *,
    ahead: bool = True,
) -> AsyncGenerator[dict[str, Any]]:
    """Each page of the listing ``fetch(params)`` starts, as ``read(answer, asked)``
    makes it (``asked``: the parameters that asked for ``answer``).
    ``markers`` maps a member of a truncated page (``"NextContinuationToken"``) to the
    parameter that asks for the next one (``"ContinuationToken"``). Without ``ahead``
    each page is asked for only when the one before it was used up (a probe for the
    first keys sends one request)."""

    def after(get: Callable[[str], Any], truncated: bool) -> dict[str, Any] | None:
        """The parameters that ask for the next page, if there is one."""
        if not truncated:
            return None
        found = {param: get(member) for member, param in markers.items()}
        return {**params, **found} if any(found.values()) else None

    def ask(where: dict[str, Any] | None) -> asyncio.Task[Answer] | None:
        return None if where is None else asyncio.ensure_future(fetch(where))

    if not ahead:
        while True:
            page = await read(await fetch(params), params)
            yield page
            where = after(page.get, bool(page.get("IsTruncated")))
            if where is None:
                return
            params = where
    task: asyncio.Task[Answer] | None = None
    try:
        asked = params
        task = first = asyncio.ensure_future(fetch(asked))
        await asyncio.sleep(0)  # the first request goes out, and while the store works
        load_parser()  # on it the parser loads (the first listing of a process)
        answer, task = await first, None
        del first  # (a task keeps its result: the page would live as long as the listing)
        while True:
            hint = after(answer.peek, answer.peek("IsTruncated") == "true")
            task = ask(hint)
            if task is not None:
                await asyncio.sleep(0)  # the request goes out before the parse
            page = await read(answer, asked)
            where = after(page.get, bool(page.get("IsTruncated")))
            if where != hint:  # the bytes said otherwise than the parse: ask again
                await stop(task)
                task = ask(where)
            yield page
            if task is None:
                return
            assert where is not None  # (what the task ahead asked with)
            asked, answer, task = where, await task, None
    finally:
        await stop(task)


async def stop(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (a page asked for ahead) and wait for it to end; its outcome is
    retrieved, so an error of a page never used is not reported as never retrieved."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()
