"""A user-files service on aiohttp with aios3.web: uploads stream into
``users/{id}/files/{name}`` (never held whole in memory, capped, types allowed by a
list), downloads come back with their name, Range and 304 support, and a presigned POST
form lets a browser upload straight to S3.

    pip install '.[server]'
    python examples/aiohttp_files.py           # embedded moto server, app on 127.0.0.1

It starts the app on a free port and plays the browser against it; ``make_app(s3)`` is
the application to give ``web.run_app`` in a real deployment.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

import aios3
import aios3.web
from aios3.testing import moto_server

BUCKET = "user-files"
MAX_FILE = 8 * 1024 * 1024  # 8 MiB
ALLOWED = ["application/pdf", "image/*", "text/plain"]
S3_KEY = web.AppKey("s3", aios3.S3)


def file_key(request: web.Request) -> str:
    user_id = int(request.match_info["user_id"])  # digits only: the route says so
    name = request.match_info["name"]
    return f"users/{user_id}/files/{name}"


async def upload_file(request: web.Request) -> web.Response:
    """PUT the file's bytes; 413 over 8 MiB, 415 for a type not allowed."""
    s3 = request.app[S3_KEY]
    info = await aios3.web.store_aiohttp(
        s3,
        request,
        file_key(request),
        max_size=MAX_FILE,
        content_types=ALLOWED,
        content_disposition=aios3.content_disposition(filename=request.match_info["name"]),
        metadata={"user-id": request.match_info["user_id"]},
    )
    return web.json_response({"key": info.key, "size": info.size, "etag": info.etag})


async def download_file(request: web.Request) -> web.StreamResponse:
    """GET / HEAD the file, saved under its name; Range gives 206, If-None-Match 304."""
    return await aios3.web.serve_aiohttp(request.app[S3_KEY], request, file_key(request))


async def upload_form(request: web.Request) -> web.Response:
    """A presigned POST: the browser uploads one file (any name) under the user's folder."""
    s3 = request.app[S3_KEY]
    user_id = int(request.match_info["user_id"])
    post = await s3.presign_post(
        f"users/{user_id}/files/",  # a prefix: S3 fills in ${filename}
        content_length_range=(1, MAX_FILE),
        content_type_prefix="",  # any type; the form must still send one
        metadata={"user-id": str(user_id)},
        expires=600,
    )
    return web.json_response({"url": post.url, "fields": dict(post.fields)})


def make_app(s3: aios3.S3) -> web.Application:
    app = web.Application()
    app[S3_KEY] = s3
    app.router.add_put(r"/users/{user_id:\d+}/files/{name}", upload_file)
    app.router.add_get(r"/users/{user_id:\d+}/files/{name}", download_file)  # HEAD too
    app.router.add_get(r"/users/{user_id:\d+}/upload-form", upload_form)
    return app


async def browser(base: str) -> None:
    report = b"%PDF-1.7\n" + b"x" * 300_000
    async with aiohttp.ClientSession() as http:
        url = f"{base}/users/7/files/Résumé 2026.pdf"
        put = http.put(url, data=io.BytesIO(report), headers={"Content-Type": "application/pdf"})
        async with put as resp:
            assert resp.status == 200, await resp.text()
            print("PUT:", await resp.json())
        async with http.get(url) as resp:
            assert resp.status == 200 and await resp.read() == report
            etag, last_modified = resp.headers["ETag"], resp.headers["Last-Modified"]
            print("GET:", resp.headers["Content-Type"], resp.headers["Content-Disposition"])
        async with http.get(url, headers={"If-Modified-Since": last_modified}) as resp:
            assert resp.status == 304
        async with http.get(url, headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
        print("GET with If-Modified-Since / If-None-Match: 304")
        # A download resumed from byte 100,000, as browsers and download managers do.
        resume = {"Range": "bytes=100000-", "If-Range": etag}
        async with http.get(url, headers=resume) as resp:
            assert resp.status == 206 and await resp.read() == report[100_000:]
            print("resumed download:", resp.headers["Content-Range"])
        async with http.get(url, headers={"Range": "bytes=999999-"}) as resp:
            assert resp.status == 416
        print("a range past the end: 416", resp.headers["Content-Range"])

        script = f"{base}/users/7/files/run.sh"
        shell = {"Content-Type": "application/x-sh"}
        async with http.put(script, data=b"rm -rf /", headers=shell) as resp:
            assert resp.status == 415

        async def too_big() -> AsyncIterator[bytes]:  # no length given: it grows past 8 MiB
            for _ in range(10):
                yield b"z" * (1024 * 1024)

        try:
            async with http.put(
                f"{base}/users/7/files/huge.txt",
                data=too_big(),
                headers={"Content-Type": "text/plain"},
            ) as resp:
                status = resp.status
        except aiohttp.ClientOSError:  # the app closed while the client was still sending
            status = 0  # (the 413 was sent; a client can miss it when it keeps sending)
        assert status in (413, 0)
        async with http.get(f"{base}/users/7/files/huge.txt") as resp:
            assert resp.status == 404
        print("a shell script: 415; a 10 MiB stream: 413, aborted, nothing stored")

        async with http.get(f"{base}/users/8/upload-form") as resp:
            form = await resp.json()
        data = aiohttp.FormData()
        for name, value in form["fields"].items():
            data.add_field(name, value)
        data.add_field("Content-Type", "text/plain")
        data.add_field("file", b"notes", filename="notes.txt", content_type="text/plain")
        async with http.post(form["url"], data=data) as resp:
            assert resp.status == 204, await resp.text()
        async with http.get(f"{base}/users/8/files/notes.txt") as resp:
            assert resp.status == 200 and await resp.read() == b"notes"
        print("presigned POST of notes.txt straight to S3, then served by the app")


async def main() -> None:
    with moto_server() as server:
        async with aios3.connect(server.config(default_bucket=BUCKET)) as s3:
            await s3.create_bucket(BUCKET, exist_ok=True)
            runner = web.AppRunner(make_app(s3))
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                base = f"http://127.0.0.1:{runner.addresses[0][1]}"
                print("files app on", base)
                await browser(base)
            finally:
                await runner.cleanup()
            assert [u async for u in s3.list_multipart_uploads()] == []
            await s3.delete_bucket(BUCKET, force=True)
            print("verified: stream in, serve out with Range/304, refuse, presigned POST")


if __name__ == "__main__":
    asyncio.run(main())
