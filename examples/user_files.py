"""Store user files the way web apps do: `users/{id}/avatar` with a Content-Type and a
download file name, user metadata, listings, presigned links, and cleanup.

    python examples/user_files.py              # embedded moto server on 127.0.0.1
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

import aios3
from aios3.testing import moto_server


async def save_upload(
    s3: aios3.S3, user_id: int, slot: str, data: bytes, filename: str, content_type: str
) -> aios3.ObjectInfo:
    """What a request handler does with an uploaded file."""
    return await s3.upload(
        f"users/{user_id}/{slot}",
        data,
        content_type=content_type,
        content_disposition=aios3.content_disposition("inline", filename=filename),
        metadata={
            "user-id": str(user_id),
            "original-name": filename.encode("ascii", "replace").decode(),
        },
    )


async def main() -> None:
    with moto_server() as server:
        async with aios3.connect(server.config(default_bucket="webapp-files")) as s3:
            await s3.create_bucket("webapp-files", exist_ok=True)

            await save_upload(s3, 7, "avatar", b"\x89PNG fake image", "Zoë.png", "image/png")
            await save_upload(s3, 7, "cv", b"%PDF-1.7 fake", "CV 2026.pdf", "application/pdf")
            await save_upload(s3, 8, "avatar", b"GIF89a fake", "me.gif", "image/gif")

            # Existence and metadata in one request.
            info = await s3.stat("users/7/avatar")
            assert info is not None and info.content_type == "image/png"
            print(
                f"users/7/avatar: {info.size} bytes, {info.content_type}, "
                f"{info.content_disposition}, metadata {dict(info.metadata)}"
            )
            assert await s3.stat("users/7/banner") is None

            # A user's files, and the users ("folders").
            files = [o.key async for o in s3.list("users/7/") if isinstance(o, aios3.ObjectInfo)]
            users = [
                p.prefix
                async for p in s3.list("users/", delimiter="/")
                if isinstance(p, aios3.Prefix)
            ]
            print("user 7 has", files, "; users:", users)
            assert files == ["users/7/avatar", "users/7/cv"] and users == ["users/7/", "users/8/"]

            # A link the browser can use for an hour, without credentials.
            url = await s3.presign("users/7/cv", expires=3600)
            async with aiohttp.ClientSession() as http, http.get(url) as resp:
                body = await resp.read()
                assert resp.status == 200 and body == b"%PDF-1.7 fake"
                print("presigned GET served", len(body), "bytes as", resp.headers["Content-Type"])

            # Mark the CV reviewed: metadata changes, Content-Type and the name stay.
            await s3.update_metadata("users/7/cv", {"user-id": "7", "reviewed": "yes"})
            cv = await s3.head("users/7/cv")
            assert cv.content_type == "application/pdf" and cv.metadata["reviewed"] == "yes"

            # Keep a copy of the avatar, then remove everything of user 7.
            await s3.copy("users/7/avatar", "archive/users/7/avatar")
            result = await s3.delete_prefix("users/7/")
            assert result.ok and result.deleted == 2
            assert await s3.exists("archive/users/7/avatar")
            with contextlib.suppress(aios3.NotFound):
                await s3.delete_bucket("webapp-files", force=True)
            print("verified: store, describe, list, presign, update, copy and delete")


if __name__ == "__main__":
    asyncio.run(main())
