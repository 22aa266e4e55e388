"""Serve objects to browsers, and store request bodies, from Starlette / FastAPI and
aiohttp apps (install the ``web`` extra for Starlette: ``pip install 'aios3[web]'``).

Serving answers as HTTP says, from the object's own headers: Content-Type,
Content-Length, ETag, Last-Modified, Cache-Control and Content-Disposition; one
``Range`` answered ``206`` with Content-Range (``416`` when it starts past the end;
several ranges or a malformed one get the whole object, as HTTP allows); ``If-None-Match``
and ``If-Modified-Since`` answered ``304``; ``If-Range``; HEAD; ``404`` when there is
no such key. The body streams chunk by chunk, and the S3 connection is released as
soon as the client goes away mid-body::

    @app.get("/users/{user_id}/avatar")  # FastAPI
    async def avatar(user_id: int, request: Request) -> Response:
        return await aios3.web.serve_starlette(s3, request, f"users/{user_id}/avatar")

    async def avatar(request: web.Request) -> web.StreamResponse:  # aiohttp
        key = f"users/{request.match_info['user_id']}/avatar"
        return await aios3.web.serve_aiohttp(s3, request, key)

Storing streams the request body through :meth:`S3.upload` (flat memory, multipart
above the threshold) within ``max_size``: a declared Content-Length over it is refused
at once, a body that grows past it stops there; either way the answer is ``413``, any
multipart upload is aborted and nothing is stored. ``content_types`` (``"image/*"``,
``"application/pdf"``) answers ``415`` to any other type. A client that disconnects
mid-body aborts the upload the same way. The refusals are the framework's own HTTP
exceptions (Starlette's ``HTTPException``, aiohttp's ``HTTPRequestEntityTooLarge`` /
``HTTPUnsupportedMediaType``), which the app answers with no code of its own.

Importing this module needs neither framework; each function imports the one it
serves when called, and says which extra to install when it is missing.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Collection, Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from ._config import TransferConfig
from ._info import ObjectInfo
from ._names import Name
from ._serving import (
    Answer,
    BodyRefused,
    Intake,
    check_content_type,
    check_store_options,
    declared_length,
    open_answer,
)

if TYPE_CHECKING:
    from aiohttp import web as aiohttp_web
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import Response as StarletteResponse

    from ._client import S3
    from ._stream import ObjectStream

__all__ = ["serve_aiohttp", "serve_starlette", "store_aiohttp", "store_starlette"]

_WATCH_INTERVAL = 0.2  # s between looks at an aiohttp client's connection while serving


def _need_starlette() -> None:
    try:
        import starlette  # noqa: F401
    except ImportError:
        raise ImportError(
            "aios3.web's Starlette / FastAPI helpers need Starlette: pip install 'aios3[web]'"
        ) from None


# -- Starlette / FastAPI --------------------------------------------------------------------


async def serve_starlette(
    s3: S3,
    request: StarletteRequest,
    name: Name,
    *,
    bucket: str | None = None,
    version_id: str | None = None,
    disposition: str | None = None,
    filename: str | None = None,
    cache_control: str | None = None,
    chunk_size: int | None = None,
) -> StarletteResponse:
    """The object ``name`` as the response to ``request`` (a GET or HEAD), for a
    Starlette or FastAPI route to return.

    ``filename`` sends ``Content-Disposition: attachment`` (or ``disposition="inline"``)
    with that name, safe for any Unicode; ``disposition`` alone replaces the object's
    Content-Disposition, ``cache_control`` its Cache-Control. The body is read
    ``chunk_size`` bytes at a time (default: the client's ``TransferConfig.chunk_size``)
    once the response is sent; a client that disconnects stops it and releases the S3
    connection. A missing bucket raises :class:`~aios3.NoSuchBucket`; other S3 errors
    raise as usual (a 500, unless the app handles them).
    """
    _need_starlette()
    answer, stream = await open_answer(
        s3,
        name,
        bucket=bucket,
        version_id=version_id,
        method=request.method,
        headers=request.headers,
        disposition=disposition,
        filename=filename,
        cache_control=cache_control,
        chunk_size=chunk_size,
    )
    response: StarletteResponse = _object_response_class()(answer, stream)
    return response


@functools.cache
def _object_response_class() -> type[Any]:
    """Starlette's ``Response`` subclass that streams an opened :class:`ObjectStream`
    (made once, when first needed, so importing aios3.web needs no Starlette)."""
    from starlette.responses import Response

    class ObjectResponse(Response):
        """An S3 object's bytes as a Starlette response."""

        def __init__(self, answer: Answer, stream: ObjectStream | None) -> None:
            self.status_code = answer.status
            self.background = None
            self.body = b"Not Found" if answer.status == 404 else b""
            self._stream = stream
            self.init_headers(answer.headers)

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            stream = self._stream
            try:
                await send(
                    {
                        "type": "http.response.start",
                        "status": self.status_code,
                        "headers": self.raw_headers,
                    }
                )
                if stream is None:
                    body = b"" if scope.get("method") == "HEAD" else bytes(self.body)
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                    return
                await _pump_until_disconnect(stream, send, receive)
            except OSError:  # ASGI 2.4 servers: the client went away
                return
            finally:
                if stream is not None:
                    stream.close()

    return ObjectResponse


async def _pump_until_disconnect(stream: ObjectStream, send: Any, receive: Any) -> None:
    """Send the stream's chunks through ASGI ``send``, stopping as soon as the client
    disconnects (servers before ASGI 2.4, uvicorn's included, only say so through
    ``receive``; their ``send`` then does nothing, and the rest of the object would be
    read for no one)."""

    async def pump() -> None:
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    await _until_gone(pump(), gone(), stream)


async def _until_gone(
    pump: Coroutine[Any, Any, None], gone: Coroutine[Any, Any, None], stream: ObjectStream
) -> None:
    """Run ``pump`` (sending the body) until it ends or ``gone`` (the client left) does;
    either way the stream is closed, releasing its S3 connection at once, even while a
    read from S3 is waiting. An error of the pump is raised unless the client left."""
    sending = asyncio.ensure_future(pump)
    watching = asyncio.ensure_future(gone)
    try:
        await asyncio.wait({sending, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sending, watching):
            task.cancel()
        await asyncio.wait({sending, watching})
        stream.close()
    left = not watching.cancelled() and watching.exception() is None
    failed = None if sending.cancelled() else sending.exception()  # retrieved either way
    if failed is not None and not left and not isinstance(failed, ConnectionError):
        raise failed


async def store_starlette(
    s3: S3,
    request: StarletteRequest,
    name: Name,
    *,
    max_size: int,
    content_types: Collection[str] | None = None,
    bucket: str | None = None,
    content_type: str | None = None,
    content_disposition: str | None = None,
    cache_control: str | None = None,
    metadata: Mapping[str, str] | None = None,
    if_none_match: str | None = None,
    transfer: TransferConfig | None = None,
) -> ObjectInfo:
    """Store the body of a Starlette / FastAPI ``request`` as the object ``name``,
    streamed (never held whole in memory), and return the stored object's info.

    A body over ``max_size`` bytes raises ``HTTPException(413)``, one whose type is not
    in ``content_types`` (entries like ``"image/*"``) ``HTTPException(415)``, before
    anything is stored; an upload under way is aborted. The object's Content-Type is
    ``content_type``, else the request's. A client that disconnects mid-body aborts the
    upload and raises Starlette's ``ClientDisconnect``. The route must not read the
    body itself (no ``Body``/``Form``/``File`` parameters in FastAPI).
    """
    _need_starlette()
    from starlette.exceptions import HTTPException

    try:
        return await _store(
            s3,
            name,
            request.stream(),
            request.headers,
            max_size=max_size,
            content_types=content_types,
            bucket=bucket,
            content_type=content_type,
            content_disposition=content_disposition,
            cache_control=cache_control,
            metadata=metadata,
            if_none_match=if_none_match,
            transfer=transfer,
        )
    except BodyRefused as refused:
        raise HTTPException(refused.status or 400, detail=refused.message) from refused


async def _store(
    s3: S3,
    name: Name,
    chunks: AsyncIterator[bytes],
    headers: Mapping[str, str],
    *,
    max_size: int,
    content_types: Collection[str] | None,
    bucket: str | None,
    content_type: str | None,
    content_disposition: str | None,
    cache_control: str | None,
    metadata: Mapping[str, str] | None,
    if_none_match: str | None,
    transfer: TransferConfig | None,
) -> ObjectInfo:
    check_store_options(max_size, content_types)
    s3.name(name, bucket=bucket)  # a bad name is the app's mistake: raise it first
    sent_type = headers.get("content-type")
    check_content_type(sent_type, content_types)
    intake = Intake(chunks, max_size)
    declared = declared_length(headers.get("content-length"))
    if intake.too_long(declared):
        raise BodyRefused(
            f"the request body declares {declared} bytes; the limit is {max_size}", status=413
        )
    try:
        return await s3.upload(
            name,
            intake,
            bucket=bucket,
            size=declared,
            content_type=content_type or sent_type,
            content_disposition=content_disposition,
            cache_control=cache_control,
            metadata=metadata,
            if_none_match=if_none_match,
            transfer=transfer,
        )
    except BaseException as exc:
        if intake.too_large and not isinstance(exc, BodyRefused):
            # The upload wrapped the refusal on its way out; it was aborted all the same.
            raise BodyRefused(
                f"the request body is over the {max_size}-byte limit", status=413
            ) from exc
        raise


# -- aiohttp --------------------------------------------------------------------------------


async def serve_aiohttp(
    s3: S3,
    request: aiohttp_web.BaseRequest,
    name: Name,
    *,
    bucket: str | None = None,
    version_id: str | None = None,
    disposition: str | None = None,
    filename: str | None = None,
    cache_control: str | None = None,
    chunk_size: int | None = None,
) -> aiohttp_web.StreamResponse:
    """Send the object ``name`` as the response to an aiohttp ``request`` (a GET or
    HEAD) and return the response, already sent, for the handler to return. Options as
    in :func:`serve_starlette`. A client that disconnects mid-body stops the sending and
    releases the S3 connection."""
    from aiohttp import web

    answer, stream = await open_answer(
        s3,
        name,
        bucket=bucket,
        version_id=version_id,
        method=request.method,
        headers=request.headers,
        disposition=disposition,
        filename=filename,
        cache_control=cache_control,
        chunk_size=chunk_size,
    )
    try:
        headers = dict(answer.headers)
        length = headers.pop("Content-Length", None)
        response = web.StreamResponse(status=answer.status, headers=headers)
        if answer.status == 404:
            response.content_length = 9
        elif length is not None:
            response.content_length = int(length)
        elif answer.status == 416:
            response.content_length = 0
        await response.prepare(request)
        if stream is None:
            if answer.status == 404 and request.method != "HEAD":
                await response.write(b"Not Found")
            await response.write_eof()
            return response

        async def pump() -> None:
            async for chunk in stream:
                await response.write(chunk)  # raises ConnectionResetError once the client left
            await response.write_eof()

        async def gone() -> None:
            # aiohttp cancels no handler when its client leaves (handler_cancellation is
            # off by default) and signals it nowhere a GET handler can wait on (its
            # payload is a shared empty one): the transport just goes. So look.
            while _connected(request):  # noqa: ASYNC110 - nothing to wait on
                await asyncio.sleep(_WATCH_INTERVAL)

        await _until_gone(pump(), gone(), stream)
    finally:
        if stream is not None:
            stream.close()
    return response


def _connected(request: aiohttp_web.BaseRequest) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


async def store_aiohttp(
    s3: S3,
    request: aiohttp_web.BaseRequest,
    name: Name,
    *,
    max_size: int,
    content_types: Collection[str] | None = None,
    bucket: str | None = None,
    content_type: str | None = None,
    content_disposition: str | None = None,
    cache_control: str | None = None,
    metadata: Mapping[str, str] | None = None,
    if_none_match: str | None = None,
    transfer: TransferConfig | None = None,
) -> ObjectInfo:
    """Store the body of an aiohttp ``request`` as the object ``name``; as
    :func:`store_starlette`, refusing with ``web.HTTPRequestEntityTooLarge`` (413) and
    ``web.HTTPUnsupportedMediaType`` (415). A client that disconnects mid-body aborts
    the upload (the connection error, or the handler's cancellation, is raised)."""
    from aiohttp import web

    try:
        return await _store(
            s3,
            name,
            request.content.iter_any(),
            request.headers,
            max_size=max_size,
            content_types=content_types,
            bucket=bucket,
            content_type=content_type,
            content_disposition=content_disposition,
            cache_control=cache_control,
            metadata=metadata,
            if_none_match=if_none_match,
            transfer=transfer,
        )
    except BodyRefused as refused:
        if refused.status == 415:
            raise web.HTTPUnsupportedMediaType(text=refused.message) from refused
        raise web.HTTPRequestEntityTooLarge(
            max_size=max_size,
            actual_size=declared_length(request.headers.get("content-length")) or max_size + 1,
            text=refused.message,
        ) from refused
