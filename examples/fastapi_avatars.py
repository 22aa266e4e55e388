"""User avatars on FastAPI with aios3.web: uploads stored at ``users/{id}/avatar`` with
a Content-Disposition that gives browsers a file name with the right extension, served
back with Range and 304 support, and a presigned POST form so a browser can upload
straight to S3 without the bytes passing through the app.

    pip install '.[server,web]' fastapi uvicorn
    python examples/fastapi_avatars.py         # embedded moto server, app on 127.0.0.1

It starts the app with uvicorn on a free port and plays the browser against it. To run
the app alone: ``uvicorn --factory 'examples.fastapi_avatars:app_from_env'`` with the
usual AWS_* variables and AVATAR_BUCKET set.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import mimetypes
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse

import aios3
import aios3.web
from aios3.testing import moto_server

BUCKET = "avatars"
MAX_AVATAR = 1024 * 1024  # 1 MiB


def avatar_key(user_id: int) -> str:
    return f"users/{user_id}/avatar"


def avatar_disposition(user_id: int, content_type: str) -> str:
    """``inline; filename="avatar-7.png"``: shown in the page, saved with an extension."""
    extension = mimetypes.guess_extension(content_type.split(";")[0].strip()) or ""
    return aios3.content_disposition("inline", filename=f"avatar-{user_id}{extension}")


def make_app(s3: aios3.S3, lifespan: Any = None) -> FastAPI:
    app = FastAPI(title="avatars", lifespan=lifespan)

    @app.put("/users/{user_id}/avatar")
    async def upload_avatar(user_id: int, request: Request) -> dict[str, Any]:
        """The body is the image; streamed to S3, 413 over 1 MiB, 415 unless an image."""
        content_type = request.headers.get("content-type", "")
        info = await aios3.web.store_starlette(
            s3,
            request,
            avatar_key(user_id),
            max_size=MAX_AVATAR,
            content_types=["image/*"],
            content_disposition=avatar_disposition(user_id, content_type),
            cache_control="public, max-age=60",
            metadata={"user-id": str(user_id)},
        )
        return {"key": info.key, "size": info.size, "etag": info.etag}

    @app.api_route("/users/{user_id}/avatar", methods=["GET", "HEAD"])
    async def get_avatar(user_id: int, request: Request) -> Response:
        """The avatar, with its headers; Range gives 206, If-None-Match 304."""
        return await aios3.web.serve_starlette(s3, request, avatar_key(user_id))

    @app.get("/users/{user_id}/avatar/form")
    async def avatar_form(user_id: int, type: str = "image/png") -> dict[str, Any]:
        """A presigned POST for one avatar upload of this type, straight to S3."""
        if not type.startswith("image/"):
            raise HTTPException(415, "avatars are images")
        post = await s3.presign_post(
            avatar_key(user_id),
            content_type=type,
            content_length_range=(1, MAX_AVATAR),
            content_disposition=avatar_disposition(user_id, type),
            cache_control="public, max-age=60",
            metadata={"user-id": str(user_id)},
            expires=600,
        )
        return {"url": post.url, "fields": dict(post.fields)}

    @app.get("/users/{user_id}/avatar/upload", response_class=HTMLResponse)
    async def upload_page(user_id: int) -> str:
        """The HTML form a browser posts to S3 itself (the file field comes last)."""
        form = await avatar_form(user_id)
        hidden = "\n".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in form["fields"].items()
        )
        return (
            f'<form action="{html.escape(form["url"])}" method="post" '
            f'enctype="multipart/form-data">\n{hidden}\n'
            '<input type="file" name="file" accept="image/png">\n'
            '<button type="submit">Upload</button>\n</form>\n'
        )

    return app


def app_from_env() -> FastAPI:
    """The app for ``uvicorn --factory``: the client opens and closes with the app."""
    s3 = aios3.connect(default_bucket=os.environ.get("AVATAR_BUCKET", BUCKET))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with s3:
            yield

    return make_app(s3, lifespan)


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Run ``app`` with uvicorn on a free port of 127.0.0.1, in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # it failed to start: say why
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)  # an image, as far as this demo is concerned
GIF = b"GIF89a" + bytes(100)


async def browser(app: str) -> None:
    """What a browser and a page's script do against the app."""
    async with aiohttp.ClientSession() as http:
        put = http.put(f"{app}/users/7/avatar", data=PNG, headers={"Content-Type": "image/png"})
        async with put as resp:
            assert resp.status == 200, await resp.text()
            print("PUT avatar:", await resp.json())
        async with http.get(f"{app}/users/7/avatar") as resp:
            assert resp.status == 200 and await resp.read() == PNG
            etag = resp.headers["ETag"]
            disposition = resp.headers["Content-Disposition"]
            assert disposition == 'inline; filename="avatar-7.png"'
            print(f"GET avatar: {resp.headers['Content-Type']}, {disposition}, ETag {etag}")
        async with http.get(f"{app}/users/7/avatar", headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
            print("GET again with If-None-Match: 304 Not Modified")
        async with http.get(f"{app}/users/7/avatar", headers={"Range": "bytes=0-7"}) as resp:
            assert resp.status == 206 and await resp.read() == PNG[:8]
            print("GET bytes=0-7:", resp.status, resp.headers["Content-Range"])
        bad = http.put(
            f"{app}/users/7/avatar", data=b"<svg/>", headers={"Content-Type": "text/html"}
        )
        async with bad as resp:
            assert resp.status == 415
        big = http.put(
            f"{app}/users/7/avatar",
            data=io.BytesIO(PNG * 6000),  # 1.2 MB
            headers={"Content-Type": "image/png"},
            expect100=True,  # the app refuses before the body is sent
        )
        async with big as resp:
            assert resp.status == 413
        print("PUT text/html: 415; PUT 1.2 MB: 413 (the stored avatar is untouched)")

        # Direct upload: the page asks the app for a form, then posts the file to S3.
        async with http.get(f"{app}/users/8/avatar/form", params={"type": "image/gif"}) as resp:
            form = await resp.json()
        data = aiohttp.FormData()
        for name, value in form["fields"].items():
            data.add_field(name, value)
        data.add_field("file", GIF, filename="me.gif", content_type="image/gif")
        async with http.post(form["url"], data=data) as resp:
            assert resp.status == 204, await resp.text()
        async with http.get(f"{app}/users/8/avatar") as resp:
            assert await resp.read() == GIF
            assert resp.headers["Content-Disposition"] == 'inline; filename="avatar-8.gif"'
        print("presigned POST straight to S3, then served by the app: avatar-8.gif")
        async with http.get(f"{app}/users/9/avatar/upload") as resp:
            page = await resp.text()
            assert 'enctype="multipart/form-data"' in page and "x-amz-signature" in page


async def main() -> None:
    with moto_server() as server:
        async with aios3.connect(server.config(default_bucket=BUCKET)) as s3:
            await s3.create_bucket(BUCKET, exist_ok=True)
            async with serving(make_app(s3)) as app:
                print("avatars app on", app)
                await browser(app)
            assert (await s3.head(avatar_key(7))).size == len(PNG)
            assert [u async for u in s3.list_multipart_uploads()] == []
            await s3.delete_bucket(BUCKET, force=True)
            print("verified: upload, serve, Range, 304, 413/415 and a presigned POST form")


if __name__ == "__main__":
    asyncio.run(main())
