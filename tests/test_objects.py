"""Object operations: head/exists, copy, update_metadata, deletes, list, folders,
presigned URLs, anonymous reads and conditional writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import new_bucket_name, open_uploads
from faultproxy import Fault, FaultProxy
from test_roundtrip import blob

import aios3
from aios3 import MiB, TransferConfig
from aios3.testing import Server

SMALL_COPY = TransferConfig(part_size=5 * MiB, copy_threshold=5 * MiB, copy_part_size=5 * MiB)


async def put_many(s3: aios3.S3, keys: list[str], body: bytes = b"x") -> None:
    slots = asyncio.Semaphore(32)

    async def put(key: str) -> None:
        async with slots:
            await s3.upload(key, body)

    await asyncio.gather(*(put(k) for k in keys))


async def test_head_exists_stat(s3: aios3.S3) -> None:
    await s3.upload(
        "h/obj.txt",
        b"hello",
        cache_control="no-cache",
        metadata={"a": "1"},
        content_disposition='attachment; filename="obj.txt"',
    )
    info = await s3.head("h/obj.txt")
    assert (info.size, info.content_type, info.cache_control) == (5, "text/plain", "no-cache")
    assert info.content_disposition == 'attachment; filename="obj.txt"'
    assert dict(info.metadata) == {"a": "1"} and info.etag and info.last_modified
    assert await s3.exists("h/obj.txt") and not await s3.exists("h/missing")
    assert await s3.stat("h/missing") is None
    assert (await s3.stat("h/obj.txt")) == info
    with pytest.raises(aios3.NoSuchKey):
        await s3.head("h/missing")
    with pytest.raises(aios3.NoSuchBucket):
        await s3.head("s3://no-such-bucket-xyz/k")
    assert await s3.bucket_exists(s3.config.default_bucket or "")
    assert not await s3.bucket_exists("no-such-bucket-xyz")


async def test_copy_keeps_or_replaces_metadata(s3: aios3.S3) -> None:
    await s3.upload(
        "c/src.bin",
        b"payload",
        content_type="application/x-src",
        metadata={"m": "1"},
        cache_control="max-age=5",
    )
    kept = await s3.copy("c/src.bin", "c/kept.bin")
    got = await s3.head("c/kept.bin")
    assert (got.content_type, dict(got.metadata), got.cache_control) == (
        "application/x-src",
        {"m": "1"},
        "max-age=5",
    )
    assert kept.etag == got.etag
    await s3.copy("c/src.bin", "c/replaced.bin", metadata={"n": "2"})
    got = await s3.head("c/replaced.bin")
    assert dict(got.metadata) == {"n": "2"}
    assert (got.content_type, got.cache_control) == ("application/x-src", "max-age=5")
    await s3.copy("c/src.bin", "c/retyped.bin", content_type="text/plain")
    got = await s3.head("c/retyped.bin")
    assert got.content_type == "text/plain" and dict(got.metadata) == {"m": "1"}
    assert await s3.get_bytes("c/retyped.bin") == b"payload"


async def test_copy_across_buckets(s3: aios3.S3) -> None:
    other = new_bucket_name()
    await s3.create_bucket(other)
    await s3.upload("x/one", b"1", metadata={"k": "v"})
    await s3.copy("x/one", f"s3://{other}/y/one")
    assert await s3.get_bytes(f"s3://{other}/y/one") == b"1"
    assert dict((await s3.head("y/one", bucket=other)).metadata) == {"k": "v"}
    with pytest.raises(aios3.NoSuchKey):
        await s3.copy("x/missing", "x/dest")


async def test_multipart_copy_matches_bytes_and_metadata(s3: aios3.S3) -> None:
    data = blob(17 * MiB + 3, seed=21)
    await s3.upload(
        "big/src",
        data,
        content_type="video/mp4",
        metadata={"camera": "A"},
        content_disposition="inline",
        transfer=SMALL_COPY,
    )
    info = await s3.copy("big/src", "big/dst", transfer=SMALL_COPY)
    assert info.parts == 4 and info.size == len(data)
    assert await s3.get_bytes("big/dst") == data
    got = await s3.head("big/dst")
    assert (got.content_type, dict(got.metadata), got.content_disposition) == (
        "video/mp4",
        {"camera": "A"},
        "inline",
    )
    info = await s3.copy("big/src", "big/dst2", metadata={"camera": "B"}, transfer=SMALL_COPY)
    assert dict((await s3.head("big/dst2")).metadata) == {"camera": "B"}
    assert not await open_uploads(s3, s3.config.default_bucket or "")


async def test_multipart_copy_aborts_when_cancelled(s3: aios3.S3) -> None:
    await s3.upload("big/slow", blob(30 * MiB, seed=5), transfer=SMALL_COPY)
    slow = TransferConfig(copy_threshold=5 * MiB, copy_part_size=5 * MiB, concurrency=1)
    task = asyncio.create_task(s3.copy("big/slow", "big/slow-copy", transfer=slow))
    for _ in range(500):
        if await open_uploads(s3, s3.config.default_bucket or "", "big/slow-copy"):
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await open_uploads(s3, s3.config.default_bucket or "", "big/slow-copy")
    assert not await s3.exists("big/slow-copy")


async def test_update_metadata_keeps_what_is_not_named(s3: aios3.S3) -> None:
    await s3.upload("u/doc.pdf", b"%PDF", metadata={"v": "1"}, cache_control="max-age=9")
    info = await s3.update_metadata("u/doc.pdf", {"v": "2", "reviewed": "yes"})
    got = await s3.head("u/doc.pdf")
    assert got.content_type == "application/pdf"  # kept
    assert got.cache_control == "max-age=9"  # kept
    assert dict(got.metadata) == {"v": "2", "reviewed": "yes"}
    assert info.etag == got.etag
    await s3.update_metadata("u/doc.pdf", content_disposition="attachment", cache_control="")
    got = await s3.head("u/doc.pdf")
    assert got.content_disposition == "attachment" and got.cache_control is None
    assert dict(got.metadata) == {"v": "2", "reviewed": "yes"}
    assert await s3.get_bytes("u/doc.pdf") == b"%PDF"


async def test_update_metadata_of_a_multipart_sized_object(s3: aios3.S3) -> None:
    data = blob(11 * MiB, seed=9)
    await s3.upload("u/big", data, content_type="image/tiff", transfer=SMALL_COPY)
    await s3.update_metadata("u/big", {"tag": "x"}, transfer=SMALL_COPY)
    got = await s3.head("u/big")
    assert got.content_type == "image/tiff" and dict(got.metadata) == {"tag": "x"}
    assert await s3.get_bytes("u/big") == data


async def test_delete_many_and_list_beyond_1000_keys(
    server: Server, proxy: FaultProxy, s3: aios3.S3
) -> None:
    keys = [f"many/{i:05d}" for i in range(1100)]
    await put_many(s3, keys)
    listed = [o.key async for o in s3.list("many/") if isinstance(o, aios3.ObjectInfo)]
    assert listed == keys
    paged = [o.key async for o in s3.list("many/", page_size=100, start_after="many/00999")]
    assert paged == keys[1000:]
    config = server.config(endpoint=proxy.url, default_bucket=s3.config.default_bucket)

    def batches() -> int:  # the DeleteObjects requests that reached the server
        return sum(1 for method, target in proxy.log if method == "POST" and "?delete" in target)

    async with aios3.connect(config) as client:
        result = await client.delete_many(keys[:1050], concurrency=4)
        assert result.ok and result.deleted == 1050
        assert batches() == 4  # a known count is spread over the lanes: 263 keys each

        async def rest() -> AsyncIterator[str]:
            for key in keys[1050:]:
                yield key

        result = await client.delete_many(rest())
        assert result.deleted == 50
        assert batches() == 5  # an unknown count goes in batches of up to 1,000
    assert [o async for o in s3.list("many/")] == []


async def test_list_reads_one_page_ahead_and_stops_it_when_closed(
    server: Server, proxy: FaultProxy, s3: aios3.S3
) -> None:
    await put_many(s3, [f"ahead/{i}" for i in range(7)])
    config = server.config(endpoint=proxy.url, default_bucket=s3.config.default_bucket)
    async with aios3.connect(config) as client:

        def sent() -> list[str]:  # the listings that reached the wire
            return [target for method, target in proxy.log if "list-type=2" in target]

        items = client.list("ahead/", page_size=2)
        first = await anext(items)
        assert isinstance(first, aios3.ObjectInfo) and first.key == "ahead/0"
        await asyncio.sleep(0.2)  # time enough for the next page's answer
        assert len(sent()) == 2  # this page, and the next one asked for while it is read
        assert "continuation-token=" in sent()[1] and "continuation-token=" not in sent()[0]
        await items.aclose()  # cancels or collects the page read ahead; asks for no more
        await asyncio.sleep(0.1)
        assert len(sent()) == 2
        listed = [o.key async for o in client.list("ahead/", page_size=2)]
        assert listed == [f"ahead/{i}" for i in range(7)]
        assert len(sent()) == 6  # 4 pages: the last one asks for nothing beyond it


async def test_list_cancelled_while_waiting_for_the_next_page(s3: aios3.S3) -> None:
    await put_many(s3, [f"slow/{i}" for i in range(5)])
    seen: list[str] = []
    started = asyncio.Event()

    async def consume() -> None:
        async for item in s3.list("slow/", page_size=1):
            seen.append(item.key if isinstance(item, aios3.ObjectInfo) else "")
            started.set()
            await asyncio.sleep(0)

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 1 <= len(seen) < 5
    assert [o.key async for o in s3.list("slow/")] == [f"slow/{i}" for i in range(5)]


async def test_list_closed_while_its_first_page_is_out(
    server: Server, proxy: FaultProxy, s3: aios3.S3
) -> None:
    """The first page's request runs while the parser loads: a listing cancelled
    before that answer came ends at once, its request cancelled and its outcome
    collected (nothing left running, nothing never retrieved), and asks for nothing
    more; the next listing reads the whole prefix."""
    await put_many(s3, [f"first/{i}" for i in range(3)])
    config = server.config(endpoint=proxy.url, default_bucket=s3.config.default_bucket)
    async with aios3.connect(config) as client:
        rule = proxy.add(Fault("stall", method="GET", path_contains="list-type=2", seconds=5))
        items = client.list("first/")
        task = asyncio.ensure_future(anext(items))
        for _ in range(100):  # bounded: until the request reached the proxy
            if rule.fired:
                break
            await asyncio.sleep(0.02)
        assert rule.fired == 1 and not task.done()
        started = asyncio.get_running_loop().time()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await items.aclose()
        assert asyncio.get_running_loop().time() - started < 2  # not the stall's 5 s
        listed = [o.key async for o in client.list("first/")]
        assert listed == [f"first/{i}" for i in range(3)]
        asked = [target for _, target in proxy.log if "list-type=2" in target]
        assert len(asked) == 2  # the cancelled page, and the listing after it


async def test_list_cancelled_at_its_first_turn(s3: aios3.S3) -> None:
    """Cancelled at the turn that lets its first request go out (before that request
    has an answer): the listing ends with that request cancelled and collected (a task
    left running or an outcome never retrieved fails the test), and the next listing
    reads the whole prefix."""
    await put_many(s3, [f"turn/{i}" for i in range(3)])

    def fetching() -> list[asyncio.Task[Any]]:  # a page's request, under way
        return [
            t
            for t in asyncio.all_tasks()
            if not t.done() and getattr(t.get_coro(), "__qualname__", "") == "ClientCore.fetch"
        ]

    items = s3.list("turn/")
    task = asyncio.ensure_future(anext(items))
    await asyncio.sleep(0)  # the listing runs to its first turn, its request started
    assert not task.done() and len(fetching()) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fetching() == []  # cancelled and waited for, not left to run (an answer
    await items.aclose()  # takes the store's round trip: it could not be done yet)
    assert [o.key async for o in s3.list("turn/")] == [f"turn/{i}" for i in range(3)]


async def test_delete_many_reports_failures(s3: aios3.S3) -> None:
    await s3.upload("keep/a", b"a")
    result = await s3.delete_many(
        ["keep/a", "s3://no-such-bucket-xyz/b", "s3://no-such-bucket-xyz/c"]
    )
    assert result.deleted == 1
    assert sorted(f.key for f in result.failed) == ["b", "c"]
    assert {f.code for f in result.failed} == {"NoSuchBucket"}
    with pytest.raises(aios3.S3Error, match="2 keys were not deleted"):
        result.raise_for_failures()


async def test_delete_and_delete_prefix(s3: aios3.S3) -> None:
    await put_many(s3, [f"tree/a/{i}" for i in range(30)] + ["tree/b/1", "other/1"])
    await s3.delete("tree/b/1")
    await s3.delete("tree/b/1")  # deleting a missing key succeeds, as in S3
    result = await s3.delete_prefix("tree/")
    assert result.deleted == 30
    assert [o.key async for o in s3.list() if isinstance(o, aios3.ObjectInfo)] == ["other/1"]


async def test_list_with_delimiter_yields_folders(s3: aios3.S3) -> None:
    await put_many(s3, ["photos/2025/a.jpg", "photos/2026/b.jpg", "photos/readme.txt"])
    await s3.create_folder("photos/empty")
    items = [o async for o in s3.list("photos/", delimiter="/")]
    files = [o.key for o in items if isinstance(o, aios3.ObjectInfo)]
    folders = [o.prefix for o in items if isinstance(o, aios3.Prefix)]
    assert files == ["photos/readme.txt"]
    assert folders == ["photos/2025/", "photos/2026/", "photos/empty/"]
    assert (await s3.head("photos/empty/")).size == 0


async def test_presigned_get_and_put_work_with_plain_http(s3: aios3.S3) -> None:
    await s3.upload("p/file.txt", b"presigned!")
    get_url = await s3.presign("p/file.txt")
    put_url = await s3.presign("p/upload.bin", "PUT", expires=600, content_type="image/png")
    for url in (get_url, put_url):  # SigV4, never the retired SigV2 botocore would pick
        assert "X-Amz-Signature=" in url and "AWSAccessKeyId" not in url
    async with aiohttp.ClientSession() as http:
        async with http.get(get_url) as resp:
            assert resp.status == 200 and await resp.read() == b"presigned!"
        async with http.put(
            put_url, data=b"\x89PNG", headers={"Content-Type": "image/png"}
        ) as resp:
            assert resp.status == 200, await resp.text()
    got = await s3.head("p/upload.bin")
    assert got.size == 4 and got.content_type == "image/png"
    assert await s3.get_bytes("p/upload.bin") == b"\x89PNG"
    with pytest.raises(aios3.InvalidRequest, match="7 days"):
        await s3.presign("p/file.txt", expires=8 * 24 * 3600)


async def test_anonymous_client_reads_public_objects(server: Server, s3: aios3.S3) -> None:
    """An object the server serves to anonymous readers: a public-read ACL on moto; the
    bucket the SeaweedFS fixture opens to unsigned reads (and only reads) on SeaweedFS."""
    bucket = s3.config.default_bucket
    if server.name == "seaweedfs":
        from aios3.testing import SEAWEEDFS_PUBLIC_BUCKET as bucket
    await s3.upload(f"s3://{bucket}/public/hello.txt", b"hi all", extra={"ACL": "public-read"})
    async with aios3.connect(
        endpoint=server.endpoint, anonymous=True, default_bucket=bucket, region=server.region
    ) as anon:
        assert await anon.get_bytes("public/hello.txt") == b"hi all"
        if server.name == "seaweedfs":
            with pytest.raises(aios3.AccessDenied):
                await anon.upload("public/intruder.txt", b"no")


async def test_conditional_writes(s3: aios3.S3) -> None:
    first = await s3.upload("cond/k", b"v1", if_none_match="*")
    with pytest.raises(aios3.PreconditionFailed):
        await s3.upload("cond/k", b"v2", if_none_match="*")
    with pytest.raises(aios3.PreconditionFailed):
        await s3.upload("cond/k", b"v2", if_match='"0123456789abcdef0123456789abcdef"')
    await s3.upload("cond/k", b"v3", if_match=first.etag)
    assert await s3.get_bytes("cond/k") == b"v3"
    small = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB)
    with pytest.raises(aios3.PreconditionFailed):
        await s3.upload("cond/k", blob(6 * MiB), if_none_match="*", transfer=small)
    assert await s3.get_bytes("cond/k") == b"v3"
    assert not await open_uploads(s3, s3.config.default_bucket or "", "cond/")
    with pytest.raises(aios3.InvalidRequest):
        await s3.upload("cond/k", b"x", if_none_match="etag")


async def test_user_files_example_shape(s3: aios3.S3, tmp_path: Path) -> None:
    """Web-app style storage: users/{id}/avatar with Content-Type and a download name."""
    avatar = tmp_path / "me.png"
    avatar.write_bytes(b"\x89PNG\r\n")
    await s3.upload(
        "users/7/avatar",
        avatar,
        content_type="image/png",
        content_disposition=aios3.content_disposition("inline", filename="Zoë.png"),
    )
    info = await s3.head("users/7/avatar")
    assert info.content_type == "image/png"
    assert info.content_disposition == "inline; filename=\"Zoe.png\"; filename*=UTF-8''Zo%C3%AB.png"


@pytest.mark.needs("conditional_complete")
async def test_multipart_if_match(s3: aios3.S3) -> None:
    first = await s3.upload("cond/m", b"v1")
    small = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB)
    with pytest.raises(aios3.PreconditionFailed):
        await s3.upload(
            "cond/m", blob(6 * MiB), if_match='"ffffffffffffffffffffffffffffffff"', transfer=small
        )
    assert await s3.get_bytes("cond/m") == b"v1"
    info = await s3.upload("cond/m", blob(6 * MiB), if_match=first.etag, transfer=small)
    assert info.parts == 2 and await s3.get_bytes("cond/m") == blob(6 * MiB)
    assert not await open_uploads(s3, s3.config.default_bucket or "", "cond/")


async def test_delete_many_takes_s3names_and_versioned_pairs(server: Server, s3: aios3.S3) -> None:
    """S3Name is a tuple too: it must not be taken for a (name, version_id) pair."""
    bucket = s3.config.default_bucket or ""
    await s3.upload("n/a", b"a")
    await s3.upload("n/b", b"b")
    async with aios3.connect(server.config()) as no_default:  # no default bucket at all
        result = await no_default.delete_many([aios3.S3Name("n/a", bucket), f"s3://{bucket}/n/b"])
        assert result.ok and result.deleted == 2
        await s3.upload("n/c", b"c")
        assert (await no_default.delete_prefix(f"s3://{bucket}/n/")).deleted == 1
    assert [o async for o in s3.list("n/")] == []


@pytest.mark.parametrize(
    ("operation", "markers"),
    [
        ("list_objects_v2", {"NextContinuationToken": "ContinuationToken"}),
        (
            "list_object_versions",
            {"NextKeyMarker": "KeyMarker", "NextVersionIdMarker": "VersionIdMarker"},
        ),
    ],
)
async def test_pages_ask_each_page_once_ahead(
    server: Server, proxy: FaultProxy, s3: aios3.S3, operation: str, markers: dict[str, str]
) -> None:
    """Every page of a listing is asked for exactly once, while the page before it is
    read: the marker read off the bytes (url-encoded keys decoded, entities unescaped)
    is the one the parse finds, or the page would be asked for twice."""
    bucket = s3.config.default_bucket or ""
    keys = [f"pg/{name}" for name in ("a b", "a+b", "c&d", "é", "k%41", "z<", "zz")]
    await put_many(s3, keys)
    config = server.config(endpoint=proxy.url, default_bucket=bucket)
    async with aios3.connect(config) as client:
        before = len(proxy.log)
        seen: list[str] = []
        async with client._pages(
            operation, "list", bucket, {"Prefix": "pg/", "MaxKeys": 2}, markers
        ) as listing:
            async for page in listing:
                members = page.get("Contents") or page.get("Versions") or ()
                seen += [m["Key"] for m in members]
        sent = proxy.log[before:]
    assert seen == sorted(keys, key=lambda k: k.encode())
    assert len(sent) == 4  # 7 keys, 2 a page: each page asked for once, none twice
    assert all(method == "GET" for method, _ in sent)


async def test_listed_objects_read_like_built_ones(s3: aios3.S3) -> None:
    """list() builds its ObjectInfo the fast way (only the listed fields set): they
    compare, print and copy like ones built field by field, the fields a listing does
    not report read as their defaults, and a misspelt field is still an error."""
    import dataclasses

    await s3.upload("fast/a", b"abc", metadata={"k": "v"})
    (item,) = [i async for i in s3.list("fast/")]
    assert isinstance(item, aios3.ObjectInfo)
    built = aios3.ObjectInfo(
        bucket=item.bucket,
        key="fast/a",
        size=3,
        etag=item.etag,
        last_modified=item.last_modified,
        storage_class=item.storage_class,
        checksum_type=item.checksum_type,
    )
    assert item == built and repr(item) == repr(built)
    assert item.metadata == {} and item.checksums == {} and item.version_id is None
    assert dataclasses.replace(item, size=4).size == 4
    assert not hasattr(item, "sise")
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.size = 5  # type: ignore[misc]


async def test_a_probe_without_read_ahead_sends_one_request(
    server: Server, proxy: FaultProxy, s3: aios3.S3
) -> None:
    await put_many(s3, [f"probe/{i}" for i in range(5)])
    config = server.config(endpoint=proxy.url, default_bucket=s3.config.default_bucket)
    async with aios3.connect(config) as client:
        before = len(proxy.log)
        items = client.list("probe/", page_size=1, read_ahead=False)
        first = await anext(items)
        await asyncio.sleep(0.2)  # time enough for a page asked for ahead to go out
        await items.aclose()
        assert isinstance(first, aios3.ObjectInfo) and first.key == "probe/0"
        assert len(proxy.log) - before == 1
        listed = [o.key async for o in client.list("probe/", page_size=2, read_ahead=False)]
        assert listed == [f"probe/{i}" for i in range(5)]
        assert len(proxy.log) - before == 1 + 3
