"""Real web apps for the aios3.web tests: the same small service on FastAPI (served by
uvicorn on 127.0.0.1, in the test's event loop) and on aiohttp (its test server), each
serving ``/objects/{key}`` (GET, HEAD, PUT) and ``/images/{key}`` (PUT, images only)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from fastapi import FastAPI, Request, Response

import aios3
import aios3.web
from aios3 import MiB, TransferConfig

CAP = 7 * MiB
# Small parts, so a body past the cap has a multipart upload under way to abort.
SMALL_PARTS = TransferConfig(part_size=5 * MiB, multipart_threshold=1 * MiB, concurrency=2)
KINDS = ("fastapi", "aiohttp")


def fastapi_app(s3: aios3.S3) -> FastAPI:
    app = FastAPI()

    @app.api_route("/objects/{key:path}", methods=["GET", "HEAD"])
    async def get_object(key: str, request: Request, download: str | None = None) -> Response:
        return await aios3.web.serve_starlette(s3, request, key, filename=download)

    @app.put("/objects/{key:path}")
    async def put_object(key: str, request: Request) -> dict[str, Any]:
        info = await aios3.web.store_starlette(s3, request, key, max_size=CAP, transfer=SMALL_PARTS)
        return {"key": info.key, "size": info.size, "content_type": info.content_type}

    @app.put("/images/{key:path}")
    async def put_image(key: str, request: Request) -> dict[str, Any]:
        info = await aios3.web.store_starlette(
            s3, request, key, max_size=CAP, content_types=["image/*"], transfer=SMALL_PARTS
        )
        return {"key": info.key, "size": info.size, "content_type": info.content_type}

    return app


def aiohttp_app(s3: aios3.S3) -> web.Application:
    async def get_object(request: web.Request) -> web.StreamResponse:
        return await aios3.web.serve_aiohttp(
            s3, request, request.match_info["key"], filename=request.query.get("download")
        )

    async def put_object(request: web.Request) -> web.Response:
        images = request.match_info["kind"] == "images"
        info = await aios3.web.store_aiohttp(
            s3,
            request,
            request.match_info["key"],
            max_size=CAP,
            content_types=["image/*"] if images else None,
            transfer=SMALL_PARTS,
        )
        return web.json_response(
            {"key": info.key, "size": info.size, "content_type": info.content_type}
        )

    app = web.Application()
    app.router.add_get("/objects/{key:.+}", get_object)  # HEAD too
    app.router.add_put("/{kind:objects|images}/{key:.+}", put_object)
    return app


@contextlib.asynccontextmanager
async def running_app(kind: str, s3: aios3.S3) -> AsyncIterator[str]:
    """Run the service on 127.0.0.1 and yield its base URL."""
    if kind == "aiohttp":
        # web.run_app's defaults (aiohttp's TestServer would cancel handlers whose
        # client left, which production servers do not).
        runner = web.AppRunner(aiohttp_app(s3))
        await runner.setup()
        before = asyncio.all_tasks()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            yield f"http://127.0.0.1:{port}"
        finally:
            await runner.cleanup()
            # After a refused body aiohttp "lingers", reading what the client still
            # sends, for up to 10 s; when the client has gone meanwhile, the reader is
            # never told, and the connection's task outlives the server's cleanup.
            lingering = [
                t
                for t in asyncio.all_tasks() - before
                if t.get_coro().__qualname__ == "RequestHandler.start"  # type: ignore[union-attr]
            ]
            for task in lingering:
                task.cancel()
            await asyncio.gather(*lingering, return_exceptions=True)
        return
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        fastapi_app(s3),
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def raw_request(url: str, head: str, body: bytes = b"") -> tuple[asyncio.StreamReader, Any]:
    """Open a plain TCP connection to the app (a small receive window, so the server
    cannot push a whole object into the socket buffers) and send ``head`` and ``body``."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(head.encode() + body)
    await writer.drain()
    return reader, writer
