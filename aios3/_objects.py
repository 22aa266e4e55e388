"""Operations on objects besides moving bytes: describe, copy, update, delete, list,
folders and presigned URLs. Mixed into :class:`~aios3.S3`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Iterable,
    Mapping,
    Sized,
)
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, Unpack

from ._aio import Budget
from ._config import MAX_PART_SIZE, MAX_PARTS, MiB, TransferConfig
from ._direct import Answer
from ._exceptions import InvalidRequest, NoSuchBucket, NoSuchKey, NotFound, S3Error
from ._info import (
    DeleteFailure,
    DeleteResult,
    ObjectInfo,
    Prefix,
    StoredObject,
    check_metadata,
    write_params,
)
from ._multipart import MultipartUpload
from ._names import Name, S3Name
from ._options import (
    NO_OPTIONS,
    ONCE,
    Payer,
    ReadOptions,
    RequestOptions,
    SSECustomerKey,
    WriteOptions,
    read_options,
    request_options,
    tagging,
    write_options,
)
from ._paging import TURN, pages
from ._presign import PresignOps
from ._progress import Meter, ProgressCallback

__all__ = ["ObjectOps"]

MAX_PRESIGN_SECONDS = 7 * 24 * 3600
DELETE_BATCH = 1000  # DeleteObjects' limit
_MIN_SPREAD = 100

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ._tree import Filter, TreeItem

_HEADER_FIELDS = (
    ("content_type", "ContentType"),
    ("content_disposition", "ContentDisposition"),
    ("content_encoding", "ContentEncoding"),
    ("content_language", "ContentLanguage"),
    ("cache_control", "CacheControl"),
)


class ObjectOps(PresignOps):
    """Object operations; see :class:`~aios3.S3`."""

    # -- describe ------------------------------------------------------------------

    async def head(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        version_id: str | None = None,
        **options: Unpack[ReadOptions],
    ) -> ObjectInfo:
        """The object's info (size, etag, last modified, headers, user metadata, version,
        storage class, checksums) without its bytes. Raises :class:`~aios3.NoSuchKey`,
        or :class:`~aios3.NoSuchBucket` when the bucket itself is missing. An object
        stored with a customer key needs it: ``sse_c=`` (see :class:`ReadOptions`)."""
        b, k = self.name(name, bucket=bucket)
        return await self._head(b, k, version_id, read_options(options, what="head()"))

    async def _head(
        self, b: str, k: str, version_id: str | None, options: RequestOptions
    ) -> ObjectInfo:
        params: dict[str, Any] = {"ChecksumMode": "ENABLED"}
        if version_id:
            params["VersionId"] = version_id
        try:
            resp = await self.call(
                "head_object", action="head", bucket=b, key=k, options=options, **params
            )
        except NotFound as err:
            # HEAD answers a bare 404 for both; tell them apart for the caller.
            if not await self.bucket_exists(b):
                raise NoSuchBucket(
                    f"head s3://{b}/{k} failed: the bucket {b!r} does not exist",
                    code="NoSuchBucket",
                    status=404,
                    bucket=b,
                    key=k,
                ) from err
            raise NoSuchKey(
                f"head s3://{b}/{k} failed: no such key",
                code="NoSuchKey",
                status=404,
                bucket=b,
                key=k,
            ) from err
        except S3Error as err:
            if err.status != 400 or "SSECustomerKey" in options.params:
                raise
            # HEAD's errors have no body: a bare 400 is what an SSE-C object answers
            raise InvalidRequest(
                f"head s3://{b}/{k} failed: 400 Bad Request (an object stored with a "
                "customer key, SSE-C, needs sse_c=aios3.SSECustomerKey(...))",
                code=err.code,
                status=400,
                bucket=b,
                key=k,
            ) from err
        return ObjectInfo.from_response(b, k, resp)

    async def stat(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        version_id: str | None = None,
        **options: Unpack[ReadOptions],
    ) -> ObjectInfo | None:
        """Existence and metadata in one request: the object's info, or ``None`` if the
        key does not exist (a missing bucket still raises)."""
        try:
            return await self.head(name, bucket=bucket, version_id=version_id, **options)
        except NoSuchKey:
            return None

    async def exists(
        self, name: Name, *, bucket: str | None = None, **options: Unpack[ReadOptions]
    ) -> bool:
        """Whether the object exists."""
        return await self.stat(name, bucket=bucket, **options) is not None

    async def bucket_exists(self, name: str) -> bool:
        """Whether the bucket exists (and is visible to these credentials)."""
        b, _ = self.name("", bucket=name, allow_empty_key=True)
        try:
            await self.call("head_bucket", action="head bucket", bucket=b)
        except NotFound:
            return False
        return True

    # -- copy and update -----------------------------------------------------------

    async def copy(
        self,
        source: Name,
        destination: Name,
        *,
        source_version_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
        content_encoding: str | None = None,
        content_language: str | None = None,
        cache_control: str | None = None,
        storage_class: str | None = None,
        extra: Mapping[str, Any] | None = None,
        transfer: TransferConfig | None = None,
        progress: ProgressCallback | None = None,
        source_sse_c: SSECustomerKey | None = None,
        **options: Unpack[WriteOptions],
    ) -> StoredObject:
        """Copy an object server-side, within or across buckets.

        With nothing else given the destination keeps the source's user metadata and
        headers. ``metadata`` replaces the user metadata (MetadataDirective REPLACE), and
        each header given replaces that header while the others are kept. The source is
        pinned to its ETag, so a concurrent overwrite fails the copy instead of mixing.
        Objects above ``copy_threshold`` (and all above 5 GiB) copy as concurrent
        UploadPartCopy parts, aborted on any error or cancellation. ``progress`` is
        called with a :class:`~aios3.Progress` as parts are copied (see :meth:`upload`).
        ``source_sse_c`` is the source's customer key; ``sse_c`` and the other
        :class:`WriteOptions` apply to the copy (``tags`` replace the source's).
        """
        sb, sk = self.name(source)
        db, dk = self.name(destination)
        per_request, written = write_options(options, what="copy()")
        # the source's HEAD: its own key and this call's payer (the expected owner is
        # the destination's: a cross-account copy's source has another)
        payer = {k: v for k, v in per_request.params.items() if k == "RequestPayer"}
        source_opts = RequestOptions(payer).merged(request_options(sse_c=source_sse_c))
        both = per_request.merged(request_options(source_sse_c=source_sse_c))
        headers = {
            "content_type": content_type,
            "content_disposition": content_disposition,
            "content_encoding": content_encoding,
            "content_language": content_language,
            "cache_control": cache_control,
        }
        src = await self._head(sb, sk, source_version_id, source_opts)
        replace = metadata is not None or any(v is not None for v in headers.values())
        params = _merged_params(src, dk, metadata, headers, storage_class, extra)
        params.update(written)
        return await self._copy(
            src,
            db,
            dk,
            params,
            replace=replace,
            version_id=source_version_id,
            transfer=transfer or self.transfer,
            meter=Meter(f"s3://{db}/{dk}", src.size or 0, progress),
            options=both,
        )

    async def update_metadata(
        self,
        name: Name,
        metadata: Mapping[str, str] | None = None,
        *,
        bucket: str | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
        content_encoding: str | None = None,
        content_language: str | None = None,
        cache_control: str | None = None,
        transfer: TransferConfig | None = None,
        **options: Unpack[ReadOptions],
    ) -> StoredObject:
        """Change user metadata and the named headers in place, keeping everything not
        named. ``metadata`` replaces the user metadata as a whole (``{}`` clears it);
        a header given as ``""`` is removed. Works for objects above 5 GiB too (by a
        multipart copy onto itself). In a versioned bucket this makes a new version."""
        b, k = self.name(name, bucket=bucket)
        headers = {
            "content_type": content_type,
            "content_disposition": content_disposition,
            "content_encoding": content_encoding,
            "content_language": content_language,
            "cache_control": cache_control,
        }
        opts = read_options(options, what="update_metadata()")
        src = await self._head(b, k, None, opts)
        params = _merged_params(src, k, metadata, headers, None, None)
        sse_c = options.get("sse_c")  # an SSE-C object is copied onto itself with its key
        both = opts.merged(request_options(source_sse_c=sse_c)) if sse_c else opts
        return await self._copy(
            src,
            b,
            k,
            params,
            replace=True,
            version_id=None,
            transfer=transfer or self.transfer,
            options=both,
        )

    async def _copy(
        self,
        src: ObjectInfo,
        bucket: str,
        key: str,
        params: dict[str, Any],
        *,
        replace: bool,
        version_id: str | None,
        transfer: TransferConfig,
        meter: Meter | None = None,
        options: RequestOptions = NO_OPTIONS,
    ) -> StoredObject:
        size = src.size or 0
        meter = meter or Meter(f"s3://{bucket}/{key}", size, None)
        if size <= transfer.copy_threshold:
            await meter.start()
            copy_source: dict[str, str] = {"Bucket": src.bucket, "Key": src.key}
            if version_id:
                copy_source["VersionId"] = version_id
            call_params: dict[str, Any] = {"CopySource": copy_source}
            if src.etag:
                call_params["CopySourceIfMatch"] = src.etag
            if replace:
                call_params["MetadataDirective"] = "REPLACE"
                call_params.update(params)
            else:  # kept: the source's headers and metadata; given: these
                for name in ("StorageClass", *ONCE):
                    if name in params:
                        call_params[name] = params[name]
                if "Tagging" in params:
                    call_params["TaggingDirective"] = "REPLACE"
            resp = await self.call(
                "copy_object", action="copy", bucket=bucket, key=key, options=options, **call_params
            )
            result = resp.get("CopyObjectResult") or {}
            info = StoredObject.from_write(
                bucket,
                key,
                params,
                {**resp, "ETag": result.get("ETag")},
                size=size,
                checksums={},
                checksum_type=None,
            )
            meter.done = size
            await meter.end()
            return dataclasses.replace(info, last_modified=result.get("LastModified"))
        part = max(transfer.copy_part_size, math.ceil(math.ceil(size / MAX_PARTS) / MiB) * MiB)
        part = min(part, MAX_PART_SIZE)
        up = MultipartUpload(
            self,  # type: ignore[arg-type]
            bucket,
            key,
            params=params,
            part_size=part,
            concurrency=None,
            size=size,
            if_none_match=None,
            if_match=None,
            transfer=dataclasses.replace(transfer, checksum_algorithm=None),
            meter=meter,
            options=options,
        )
        async with up:
            for number, start in enumerate(range(0, size, part), 1):
                await up.copy_part(
                    number,
                    (src.bucket, src.key),
                    start,
                    min(start + part, size),
                    if_match=src.etag,
                    version_id=version_id,
                )
        assert up.result is not None
        return up.result

    # -- tags ------------------------------------------------------------------------

    async def get_tags(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        version_id: str | None = None,
        **options: Unpack[Payer],
    ) -> dict[str, str]:
        """The object's tags (``{}`` when it has none)."""
        b, k = self.name(name, bucket=bucket)
        params = {"VersionId": version_id} if version_id else {}
        opts = read_options(options, what="get_tags()", payer_only=True)
        resp = await self.call(
            "get_object_tagging", action="get tags", bucket=b, key=k, options=opts, **params
        )
        return {t["Key"]: t["Value"] for t in resp.get("TagSet") or []}

    async def put_tags(
        self,
        name: Name,
        tags: Mapping[str, str],
        *,
        bucket: str | None = None,
        version_id: str | None = None,
        **options: Unpack[Payer],
    ) -> None:
        """Replace the object's tags with ``tags`` (at most 10; checked before the request)."""
        b, k = self.name(name, bucket=bucket)
        tagging(tags)  # S3's limits, checked here
        params: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        params["Tagging"] = {"TagSet": [{"Key": t, "Value": v} for t, v in tags.items()]}
        opts = read_options(options, what="put_tags()", payer_only=True)
        await self.call(
            "put_object_tagging", action="put tags", bucket=b, key=k, options=opts, **params
        )

    async def delete_tags(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        version_id: str | None = None,
        **options: Unpack[Payer],
    ) -> None:
        """Remove every tag of the object."""
        b, k = self.name(name, bucket=bucket)
        params = {"VersionId": version_id} if version_id else {}
        opts = read_options(options, what="delete_tags()", payer_only=True)
        await self.call(
            "delete_object_tagging", action="delete tags", bucket=b, key=k, options=opts, **params
        )

    # -- delete ----------------------------------------------------------------------

    async def delete(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        version_id: str | None = None,
        **options: Unpack[Payer],
    ) -> None:
        """Delete an object (or one version of it). Deleting a missing key succeeds, as
        in S3; in a versioned bucket, without ``version_id`` it adds a delete marker."""
        b, k = self.name(name, bucket=bucket)
        params = {"VersionId": version_id} if version_id else {}
        opts = read_options(options, what="delete()", payer_only=True)
        await self.call("delete_object", action="delete", bucket=b, key=k, options=opts, **params)

    async def delete_many(
        self,
        names: Iterable[Name | tuple[Name, str]] | AsyncIterable[Name | tuple[Name, str]],
        *,
        bucket: str | None = None,
        concurrency: int | None = None,
        on_item: Callable[[TreeItem], object] | None = None,
        **options: Unpack[Payer],
    ) -> DeleteResult:
        """Delete many objects: names (or ``(name, version_id)`` pairs) from a list or an
        async iterable, sent as DeleteObjects batches of up to 1,000, ``concurrency``
        batches at once (a list too short to fill them all is split evenly between
        them). Returns the count deleted and every key that failed, with why.
        ``on_item`` is called with a :class:`~aios3.TreeItem` for each key once its
        batch is answered: ``"delete"``, or ``"fail"`` with the error."""
        result = DeleteResult()
        opts = read_options(options, what="delete_many()", payer_only=True)
        lanes = concurrency or self.transfer.concurrency
        slots = Budget(lanes, 0)
        pending: dict[str, list[dict[str, str]]] = {}
        # A list shorter than `lanes` full batches is spread over `lanes` requests (of at
        # least _MIN_SPREAD keys), so the store deletes them in parallel.
        batch_size = DELETE_BATCH
        if isinstance(names, Sized):
            batch_size = min(DELETE_BATCH, max(_MIN_SPREAD, -(-len(names) // lanes)))

        async def send(b: str, batch: list[dict[str, str]]) -> None:
            try:
                await self._delete_batch(b, batch, result, opts, on_item)
            finally:
                slots.release(0)

        async with asyncio.TaskGroup() as group:

            async def add(item: Name | tuple[Name, str]) -> None:
                if isinstance(item, tuple) and not isinstance(item, S3Name):
                    item_name, version = item
                else:
                    item_name, version = item, None
                b, k = self.name(item_name, bucket=bucket)
                entry = {"Key": k, **({"VersionId": version} if version else {})}
                batch = pending.setdefault(b, [])
                batch.append(entry)
                if len(batch) == batch_size:
                    del pending[b]
                    await slots.acquire(0)  # back-pressure: never queue unbounded batches
                    group.create_task(send(b, batch))

            if isinstance(names, AsyncIterable):
                async for item in names:
                    await add(item)
            else:
                for item in names:
                    await add(item)
            for b, batch in pending.items():
                await slots.acquire(0)
                group.create_task(send(b, batch))
        return result

    async def _delete_batch(
        self,
        bucket: str,
        batch: list[dict[str, str]],
        result: DeleteResult,
        options: RequestOptions = NO_OPTIONS,
        on_item: Callable[[TreeItem], object] | None = None,
    ) -> None:
        failures: list[DeleteFailure] = []
        try:
            resp = await self.call(
                "delete_objects",
                action="delete batch",
                bucket=bucket,
                options=options,
                Delete={"Objects": batch, "Quiet": True},
            )
        except S3Error as err:
            for entry in batch:  # the whole request failed: every key in it failed
                failures.append(
                    DeleteFailure(
                        bucket,
                        entry["Key"],
                        err.code or "Error",
                        err.message,
                        entry.get("VersionId"),
                    )
                )
        else:
            for e in resp.get("Errors") or []:
                failures.append(
                    DeleteFailure(
                        bucket,
                        e.get("Key", ""),
                        e.get("Code", "Error"),
                        e.get("Message", ""),
                        e.get("VersionId"),
                    )
                )
            result.deleted += len(batch) - len(failures)
        result.failed.extend(failures)
        if on_item is not None:
            _report_batch(bucket, batch, failures, on_item)

    async def delete_prefix(
        self,
        prefix: Name,
        *,
        bucket: str | None = None,
        exclude: Iterable[str] = (),
        include: Iterable[str] = (),
        filters: Sequence[Filter] = (),
        dryrun: bool = False,
        on_item: Callable[[TreeItem], object] | None = None,
        **options: Unpack[Payer],
    ) -> DeleteResult:
        """Delete every object in the folder ``prefix`` (``aws s3 rm --recursive``).

        The prefix names a folder: ``"logs"`` deletes ``logs/...``, never ``logs.json``
        or ``logs-old/...``. An empty prefix empties the bucket. Listing and deleting
        overlap. Keys are matched by their path relative to the folder against
        ``exclude``, ``include`` and ``filters`` as in :meth:`upload_dir`; only those
        kept are deleted. ``on_item`` is called with a :class:`~aios3.TreeItem` per
        key (``"delete"`` with its size, or ``"fail"``). With ``dryrun`` nothing is
        deleted: each key that would be is reported, and counted in ``deleted``."""
        from ._tree import TreeItem, _included, _rules, folder

        rules = _rules(filters, exclude, include)
        b, p = self.name(prefix, bucket=bucket, allow_empty_key=True)
        p = folder(p)
        sizes: dict[str, int | None] = {}  # keys sent and not yet reported, for on_item

        def report(item: TreeItem) -> None:
            if on_item is not None:
                size = sizes.pop(item.source, None)
                on_item(dataclasses.replace(item, size=size) if item.action == "delete" else item)

        async def keys() -> AsyncIterator[Name]:
            async for item in self.list(p, bucket=b, **options):
                if not isinstance(item, ObjectInfo) or not _included(rules, item.key[len(p) :]):
                    continue
                if dryrun:
                    dry.deleted += 1
                    if on_item is not None:
                        on_item(TreeItem("delete", f"s3://{b}/{item.key}", size=item.size))
                    continue
                if on_item is not None:
                    sizes[f"s3://{b}/{item.key}"] = item.size
                yield S3Name(item.key, b)

        dry = DeleteResult()
        result = await self.delete_many(keys(), on_item=report if on_item else None, **options)
        return dry if dryrun else result

    # -- list ------------------------------------------------------------------------

    async def list(
        self,
        prefix: Name = "",
        *,
        bucket: str | None = None,
        delimiter: str | None = None,
        start_after: str | None = None,
        page_size: int = 1000,
        read_ahead: bool = True,
        **options: Unpack[Payer],
    ) -> AsyncIterator[ObjectInfo | Prefix]:
        """Objects under ``prefix``, in key order, fetched page by page as you iterate.

        With a ``delimiter`` (usually "/") keys below the next delimiter are rolled up
        into :class:`~aios3.Prefix` items ("folders"), yielded after each page's objects.
        Listed objects carry key, size, etag, last modified and storage class. Each
        next page is asked for while the current one is read (``read_ahead``; pass
        ``False`` to probe a prefix for its first keys without a second request).
        """
        b, p = self.name(prefix, bucket=bucket, allow_empty_key=True)
        opts = read_options(options, what="list()", payer_only=True)
        if not 1 <= page_size <= 1000:
            raise InvalidRequest("page_size must be from 1 to 1000")
        params: dict[str, Any] = {"Prefix": p, "MaxKeys": page_size}
        if delimiter:
            params["Delimiter"] = delimiter
        if start_after:
            params["StartAfter"] = start_after

        # The next page is asked for while this one is read (see _paging); a consumer
        # that never awaits would starve that request, so the loop gets a turn every
        # TURN items.
        markers = {"NextContinuationToken": "ContinuationToken"}
        listing = self._pages(
            "list_objects_v2", "list", b, params, markers, opts, read_ahead, objects=True
        )
        async with listing as each:
            async for page in each:
                for n, info in enumerate(page.get("Contents") or ()):
                    if n % TURN == 0:
                        await asyncio.sleep(0)
                    yield info
                for common in page.get("CommonPrefixes") or ():
                    yield Prefix(b, common["Prefix"])

    def _pages(
        self,
        operation: str,
        action: str,
        bucket: str,
        params: dict[str, Any],
        markers: dict[str, str],
        options: RequestOptions | None = None,
        ahead: bool = True,
        *,
        objects: bool = False,
    ) -> contextlib.aclosing[AsyncGenerator[dict[str, Any]]]:
        """The pages of listing ``operation``, each next one asked for while this one
        is read (:func:`~aios3._paging.pages`); leaving the block cancels it.
        ``objects``: ListObjectsV2's, each page's ``Contents`` as ObjectInfo items."""

        def fetch(params: dict[str, Any]) -> Awaitable[Answer]:
            return self.fetch(operation, action=action, bucket=bucket, options=options, **params)

        async def read(answer: Answer, asked: dict[str, Any]) -> dict[str, Any]:
            page: dict[str, Any] = await self.read_listing(
                answer, lambda: fetch(asked), action=action, bucket=bucket, objects=objects
            )
            return page

        return contextlib.aclosing(pages(fetch, read, params, markers, ahead=ahead))

    async def create_folder(self, name: Name, *, bucket: str | None = None) -> StoredObject:
        """Create a folder marker: a zero-byte object whose key ends in "/", as S3
        consoles do. A missing trailing "/" is added."""
        b, k = self.name(name, bucket=bucket)
        key = k if k.endswith("/") else k + "/"
        resp = await self.call("put_object", action="create folder", bucket=b, key=key, Body=b"")
        return StoredObject.from_write(b, key, {}, resp, size=0, checksums={}, checksum_type=None)

    # -- presign -----------------------------------------------------------------------

    async def presign(
        self,
        name: Name,
        method: Literal["GET", "PUT", "HEAD", "DELETE"] = "GET",
        *,
        bucket: str | None = None,
        expires: int | timedelta = 3600,
        content_type: str | None = None,
        version_id: str | None = None,
    ) -> str:
        """A URL that lets a plain HTTP client ``method`` the object until it expires
        (at most 7 days). For PUT, ``content_type`` binds the Content-Type the uploader
        must send."""
        b, k = self.name(name, bucket=bucket)
        seconds = expires.total_seconds() if isinstance(expires, timedelta) else expires
        if not 0 < seconds <= MAX_PRESIGN_SECONDS:
            raise InvalidRequest(
                f"expires={seconds:g} s: presigned URLs last from 1 s to 7 days (604800 s)"
            )
        operations = {
            "GET": "get_object",
            "PUT": "put_object",
            "HEAD": "head_object",
            "DELETE": "delete_object",
        }
        if method not in operations:
            raise InvalidRequest(f"method must be one of {sorted(operations)}")
        params: dict[str, Any] = {"Bucket": b, "Key": k}
        if content_type and method == "PUT":
            params["ContentType"] = content_type
        if version_id:
            params["VersionId"] = version_id
        url: str = await self._presigning_client().generate_presigned_url(
            operations[method], Params=params, ExpiresIn=int(seconds)
        )
        return url


def _merged_params(
    src: ObjectInfo,
    key: str,
    metadata: Mapping[str, str] | None,
    headers: Mapping[str, str | None],
    storage_class: str | None,
    extra: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The destination's write parameters: the source's headers and metadata, with the
    given ones replacing them ("" removes a header). Only what the caller gives is
    checked; what the source holds is the server's, and is kept as it is."""
    given: dict[str, Any] = {
        name: value for name, value in headers.items() if value is not None and value != ""
    }
    params = write_params(
        key,
        metadata=check_metadata(metadata) if metadata is not None else None,
        storage_class=storage_class,
        extra=extra,
        **given,
    )
    if "content_type" not in given and "ContentType" not in (extra or {}):
        params.pop("ContentType", None)  # keep "no content type" rather than guessing one
    for field_name, param in _HEADER_FIELDS:
        kept = getattr(src, field_name) if headers.get(field_name) is None else None
        if kept:
            params.setdefault(param, kept)
    if metadata is None and src.metadata:
        params.setdefault("Metadata", dict(src.metadata))
    return params


def _report_batch(
    bucket: str,
    batch: list[dict[str, str]],
    failures: Sequence[DeleteFailure],
    on_item: Callable[[TreeItem], object],
) -> None:
    """Report each key of an answered DeleteObjects batch: deleted, or failed with why."""
    from ._tree import TreeItem

    failed = {(f.key, f.version_id): f for f in failures}
    for entry in batch:
        url = f"s3://{bucket}/{entry['Key']}"
        problem = failed.get((entry["Key"], entry.get("VersionId")))
        if problem is None:
            on_item(TreeItem("delete", url))
        else:
            error = S3Error(f"delete {url} failed: {problem.code}: {problem.message}")
            on_item(TreeItem("fail", url, error=error, reason=str(error)))
