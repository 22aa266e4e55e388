"""The client: :func:`connect` and the :class:`S3` object it yields.

``S3`` owns one aiobotocore session and client (see ``_core``) and is safe to share
between tasks. Object and bucket operations come from ``_objects`` and ``_buckets``;
the transfers defined here resolve names, then hand the work to the module that holds
it: ``_stream`` (reading), ``_download`` (to a file), ``_upload`` (any source) and
``_multipart`` (the multipart state machine).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from ._buckets import BucketOps
from ._config import Config, TransferConfig
from ._exceptions import InvalidRequest
from ._info import ObjectInfo, StoredObject
from ._names import Name, S3Name
from ._options import (
    ReadOptions,
    RequestOptions,
    SSECustomerKey,
    WriteOptions,
    read_options,
    request_options,
    write_options,
)
from ._progress import ProgressCallback

if TYPE_CHECKING:
    from ._multipart import MultipartUpload
    from ._sources import Source
    from ._stream import ObjectStream
    from ._tree import Filter, TreeItem, TreeResult, _Run

__all__ = ["S3", "connect"]


def connect(
    config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    transfer: TransferConfig | None = None,
    env_file: str | os.PathLike[str] | None = None,
    **settings: Any,
) -> S3:
    """Make an :class:`S3` client; use it as ``async with aios3.connect(...) as s3:``.

    ``config`` is a :class:`Config`, a mapping of its fields, or the path of a TOML file
    holding them (a ``.yaml`` / ``.yml`` path is read as YAML, with PyYAML); keyword
    ``settings`` (any :class:`Config` field, e.g. ``endpoint=``, ``default_bucket=``)
    override it. ``env_file`` names a ``.env`` file whose ``AWS_*`` variables fill what
    is still unset, never overriding a variable the environment already sets (see
    :meth:`Config.with_env_file`). Whatever is left unset comes from the standard AWS
    environment variables and profiles. ``transfer`` tunes part sizes and concurrency.
    """
    if config is None:
        base = Config()
    elif isinstance(config, Config):
        base = config
    elif isinstance(config, Mapping):
        base = Config.from_mapping(config)
    elif isinstance(config, str | os.PathLike):
        base = Config.from_file(config)
    else:
        raise InvalidRequest(
            f"config must be a Config, mapping or TOML/YAML path, not {type(config).__name__}"
        )
    if env_file is not None:
        base = base.with_env_file(env_file)
    unknown = sorted(set(settings) - set(Config.__dataclass_fields__))
    if unknown:
        raise InvalidRequest(f"connect() got unknown settings {unknown}")
    return S3(base.merged(**settings), transfer or TransferConfig())


class S3(BucketOps):
    """An S3 client bound to one endpoint and set of credentials.

    Make one with :func:`connect` and share it between tasks. Every method that names an
    object takes a key (in the default bucket), an ``s3://bucket/key`` URL, or an
    :class:`~aios3.S3Name`; ``bucket=`` overrides all.
    """

    async def __aenter__(self) -> S3:
        await self.open()
        return self

    # -- reading -----------------------------------------------------------------------

    def stream(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        chunk_size: int | None = None,
        start: int | None = None,
        end: int | None = None,
        version_id: str | None = None,
        if_match: str | None = None,
        progress: ProgressCallback | None = None,
        **options: Unpack[ReadOptions],
    ) -> ObjectStream:
        """Stream an object's bytes: ``async with s3.stream(key) as body: async for chunk
        in body: ...``. Nothing is held in memory beyond one chunk.

        ``start``/``end`` select ``object[start:end]`` (``end`` exclusive). The
        ``ObjectStream``'s ``info`` describes the object once opened. A connection cut
        mid-body resumes from where it stopped, pinned to the object's ETag. Leaving the
        ``async with`` (or breaking out of a bare ``async for``) releases the connection.
        ``progress`` counts the bytes handed to the reader (see :meth:`upload`).
        """
        from ._stream import ObjectStream

        b, k = self.name(name, bucket=bucket)
        return ObjectStream(
            self,
            b,
            k,
            chunk_size=chunk_size or self.transfer.chunk_size,
            start=start,
            end=end,
            version_id=version_id,
            if_match=if_match,
            progress=progress,
            options=read_options(options, what="stream()"),
        )

    async def get_bytes(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        start: int | None = None,
        end: int | None = None,
        version_id: str | None = None,
        **options: Unpack[ReadOptions],
    ) -> bytes:
        """Read a (small) object, or ``object[start:end]``, into memory."""
        got = await self.get(
            name, bucket=bucket, start=start, end=end, version_id=version_id, **options
        )
        return got[0]

    async def get(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        start: int | None = None,
        end: int | None = None,
        version_id: str | None = None,
        **options: Unpack[ReadOptions],
    ) -> tuple[bytes, ObjectInfo]:
        """Read a (small) object, or ``object[start:end]`` (slice semantics: a range past
        the end is empty, never an error), into memory; return its bytes and its info.
        A body cut short is fetched again (``part_retries`` times); one that fails its
        checksum raises :class:`~aios3.IntegrityError`."""
        from ._exceptions import S3Error
        from ._retry import with_retries
        from ._stream import (
            check_range,
            describe,
            empty_range,
            range_header,
            unsatisfiable,
        )

        check_range(start, end)
        b, k = self.name(name, bucket=bucket)
        opts = read_options(options, what="get()")
        params: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        if empty_range(start, end):
            return b"", await describe(self, b, k, params, opts)
        if start or end is not None:
            params["Range"] = range_header(start or 0, end)

        async def attempt() -> tuple[bytes, ObjectInfo]:
            try:
                data, resp = await self._get_whole(b, k, params, opts)
            except S3Error as err:
                if not unsatisfiable(err):
                    raise
                return b"", await describe(self, b, k, params, opts)  # starts at or past the end
            return data, ObjectInfo.from_response(b, k, resp)

        result, _ = await with_retries(attempt, transfer=self.transfer, what=f"get of {k}")
        return result

    async def _get_whole(
        self,
        b: str,
        k: str,
        params: dict[str, Any],
        opts: RequestOptions,
        most: int | None = None,
    ) -> tuple[bytes, dict[str, Any]]:
        """One GetObject, its body read into memory (over plain http, whole on aios3's
        own connections); a body that breaks off raises a
        :class:`~aios3.TransferError`, and so does one over ``most`` bytes (where
        given), before it is read. Returns the bytes and botocore's response."""
        from ._exceptions import TransferError
        from ._stream import body_error

        answer = await self.fetch(
            "get_object",
            action="get",
            bucket=b,
            key=k,
            options=opts,
            whole=True,
            most=most,
            **params,
        )
        resp = self.read(answer, action="get", bucket=b, key=k)
        body = resp["Body"]
        try:
            length = resp.get("ContentLength")
            if most is None:
                data: bytes = await body.read()
            elif length is not None and length > most:
                raise TransferError(_too_long(b, k, length, most), bucket=b, key=k)
            else:  # read at most one byte more than allowed, to tell a longer answer
                data = await _read_at_most(body, most + 1)
                if len(data) > most:
                    raise TransferError(_too_long(b, k, len(data), most), bucket=b, key=k)
        except Exception as exc:
            error = body_error(exc, action="get", bucket=b, key=k)
            if error is None:
                raise
            raise error from exc
        finally:
            body.close()
        return data, resp

    async def download(
        self,
        name: Name,
        path: str | os.PathLike[str],
        *,
        bucket: str | None = None,
        version_id: str | None = None,
        transfer: TransferConfig | None = None,
        progress: ProgressCallback | None = None,
        **options: Unpack[ReadOptions],
    ) -> ObjectInfo:
        """Download an object to ``path``, atomically.

        Bytes go to a temporary file beside ``path``, which is renamed into place only
        once the length (and the whole-object checksum, where the object has one)
        matched. On any failure or cancellation no partial file remains and an existing
        file at ``path`` is untouched. Objects above ``download_threshold`` arrive by
        concurrent ranged GETs pinned to one ETag, ``concurrency`` at a time.
        ``progress`` counts the bytes written (see :meth:`upload`).
        """
        from ._download import download

        b, k = self.name(name, bucket=bucket)
        return await download(
            self,
            b,
            k,
            Path(path),
            version_id=version_id,
            transfer=transfer or self.transfer,
            progress=progress,
            options=read_options(options, what="download()"),
        )

    # -- writing -----------------------------------------------------------------------

    async def upload(
        self,
        name: Name,
        source: Source,
        *,
        bucket: str | None = None,
        size: int | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
        content_encoding: str | None = None,
        content_language: str | None = None,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        if_none_match: str | None = None,
        if_match: str | None = None,
        extra: Mapping[str, Any] | None = None,
        transfer: TransferConfig | None = None,
        progress: ProgressCallback | None = None,
        **options: Unpack[WriteOptions],
    ) -> StoredObject:
        """Store ``source`` as an object and return the stored object's info.

        ``source`` is bytes / bytearray / memoryview, a local path, a binary file object
        (plain or aiofiles), an object with an async ``read(n)`` (``asyncio.StreamReader``,
        aiohttp's request content), or an (async) iterable of bytes of unknown length.
        Small known sizes go in one PutObject; others stream through a
        :class:`MultipartUpload`, so memory stays flat. ``size`` declares a stream's
        length (checked). ``if_none_match="*"`` writes only if the key is new;
        ``if_match=etag`` only if the object is unchanged. ``content_type`` is guessed
        from the file or key name when not given.

        ``progress`` (a function or coroutine function) is called with a
        :class:`~aios3.Progress` at the start, at most every 0.1 s as the server
        acknowledges parts (a retried part counts once), and at the end, once every byte
        is acknowledged and before the upload is completed. An exception it raises stops
        the upload like any other error: the upload is aborted and nothing is stored
        (an object small enough for one PutObject is stored once that is answered).
        """
        from ._upload import upload

        b, k = self.name(name, bucket=bucket)
        per_request, written = write_options(options, what="upload()")
        return await upload(
            self,
            b,
            k,
            source,
            size=size,
            headers={
                "content_type": content_type,
                "content_disposition": content_disposition,
                "content_encoding": content_encoding,
                "content_language": content_language,
                "cache_control": cache_control,
                "metadata": metadata,
                "storage_class": storage_class,
                "extra": extra,
                "written": written,
            },
            if_none_match=if_none_match,
            if_match=if_match,
            transfer=transfer or self.transfer,
            progress=progress,
            options=per_request,
        )

    def multipart_upload(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        part_size: int | None = None,
        concurrency: int | None = None,
        size: int | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
        content_encoding: str | None = None,
        content_language: str | None = None,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        if_none_match: str | None = None,
        if_match: str | None = None,
        extra: Mapping[str, Any] | None = None,
        transfer: TransferConfig | None = None,
        progress: ProgressCallback | None = None,
        **options: Unpack[WriteOptions],
    ) -> MultipartUpload:
        """A multipart upload as an async context manager::

            async with s3.multipart_upload("backups/db.dump") as up:
                async for chunk in source:
                    await up.write(chunk)
            print(up.result)

        Entering creates the upload; ``write()`` cuts parts and sends up to
        ``concurrency`` at once, waiting (back-pressure) when that many are in flight;
        leaving completes it. An exception in the block, a part that failed after its
        retries, or cancellation aborts the upload and re-raises. ``size`` (the total,
        if known) picks a part size that fits 10,000 parts and is checked at the end;
        without it the part size grows as the stream goes on. An explicit ``part_size``
        is kept, and a size it cannot fit is refused before any request. ``progress``
        reports acknowledged parts (see :meth:`upload`).
        """
        from ._info import write_params
        from ._multipart import MultipartUpload
        from ._progress import Meter

        b, k = self.name(name, bucket=bucket)
        per_request, written = write_options(options, what="multipart_upload()")
        params = write_params(
            k,
            content_type=content_type,
            content_disposition=content_disposition,
            content_encoding=content_encoding,
            content_language=content_language,
            cache_control=cache_control,
            metadata=metadata,
            storage_class=storage_class,
            extra=extra,
            written=written,
        )
        return MultipartUpload(
            self,
            b,
            k,
            params=params,
            part_size=part_size,
            concurrency=concurrency,
            size=size,
            if_none_match=if_none_match,
            if_match=if_match,
            transfer=transfer or self.transfer,
            meter=Meter(f"s3://{b}/{k}", size, progress),
            options=per_request,
        )

    async def resume_upload(
        self,
        name: Name,
        upload_id: str,
        source: Any,
        *,
        bucket: str | None = None,
        transfer: TransferConfig | None = None,
        progress: ProgressCallback | None = None,
        **options: Unpack[ReadOptions],
    ) -> StoredObject:
        """Finish a multipart upload that an interrupted process left behind.

        Lists the parts the server holds (all pages), checks each against the same range
        of ``source`` (a path, bytes, or a seekable binary file read from its current
        position, as :meth:`upload` reads it), sends only the parts
        that are missing or differ, then completes. Find upload ids with
        :meth:`list_multipart_uploads`. On failure the upload is aborted, as always.
        ``progress`` counts the parts already stored as done (see :meth:`upload`).
        """
        from ._resume import resume_upload

        b, k = self.name(name, bucket=bucket)
        return await resume_upload(
            self,
            b,
            k,
            upload_id,
            source,
            transfer=transfer or self.transfer,
            progress=progress,
            options=read_options(options, what="resume_upload()"),
        )

    # -- folders -----------------------------------------------------------------------

    def _tree_run(
        self,
        *,
        filters: Sequence[Filter],
        exclude: Iterable[str],
        include: Iterable[str],
        jobs: int | None,
        dryrun: bool,
        on_item: Callable[[TreeItem], object] | None,
        progress: ProgressCallback | None,
        transfer: TransferConfig | None,
        options: Mapping[str, Any],
    ) -> tuple[list[Filter], _Run]:
        """A folder call's checked filter rules, and the run that will carry it out
        (its listings and deletes take the call's payer and owner keywords too)."""
        from ._tree import DEFAULT_JOBS, _rules, _Run

        rules = _rules(filters, exclude, include)
        transfer = transfer or self.transfer
        if jobs is None:
            jobs = min(DEFAULT_JOBS, transfer.concurrency)
        if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
            raise InvalidRequest(f"jobs={jobs!r}: give a whole number of files at once, >= 1")
        run = _Run(self, transfer, jobs, dryrun, on_item, progress, payer=_payer(options))
        run.result.dryrun = dryrun
        return rules, run

    async def upload_dir(
        self,
        local_dir: str | os.PathLike[str],
        prefix: Name = "",
        *,
        bucket: str | None = None,
        exclude: Iterable[str] = (),
        include: Iterable[str] = (),
        filters: Sequence[Filter] = (),
        dryrun: bool = False,
        jobs: int | None = None,
        on_item: Callable[[TreeItem], object] | None = None,
        progress: ProgressCallback | None = None,
        content_type: str | None = None,
        content_disposition: str | None = None,
        content_encoding: str | None = None,
        content_language: str | None = None,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        extra: Mapping[str, Any] | None = None,
        transfer: TransferConfig | None = None,
        **options: Unpack[WriteOptions],
    ) -> TreeResult:
        """Upload every file under ``local_dir`` to the folder ``prefix``
        (``aws s3 cp --recursive DIR s3://...``); return what was done.

        ``prefix`` names a folder (``"backups"`` means ``backups/``). Files are matched
        by their path relative to ``local_dir`` against ``exclude`` then ``include``
        patterns (``fnmatch``, ``*`` crossing ``/``), then ``filters``, a sequence of
        ``("exclude" | "include", pattern)`` applied in order, later ones winning, as
        aws applies ``--exclude`` / ``--include``. ``jobs`` files move at once (default
        4), sharing ``transfer.concurrency`` for their parts. ``on_item`` is called with
        each file's :class:`TreeItem` as it is done; ``progress`` with a
        :class:`~aios3.Progress` for the whole tree (bytes and files done of the total,
        and the files in flight as ``active``), at most every 0.1 s. Special and
        unreadable files are skipped and reported; a failed file never stops the others (see
        :meth:`TreeResult.raise_for_failures`). A missing ``local_dir`` raises
        :class:`~aios3.SourceNotFound` before any request. Headers and ``metadata``
        apply to every object written (``content_type`` is guessed per file when not
        given).
        """
        from ._tree import _Choice, remote_side, upload_dir

        rules, run = self._tree_run(
            filters=filters,
            exclude=exclude,
            include=include,
            jobs=jobs,
            dryrun=dryrun,
            on_item=on_item,
            progress=progress,
            transfer=transfer,
            options=options,
        )
        write = _write_options(
            content_type=content_type,
            content_disposition=content_disposition,
            content_encoding=content_encoding,
            content_language=content_language,
            cache_control=cache_control,
            metadata=metadata,
            storage_class=storage_class,
            extra=extra,
            **_checked(options, write=True, what="upload_dir()"),
        )
        return await upload_dir(
            self,
            local_dir,
            remote_side(self, prefix, bucket),
            choice=_Choice(rules),
            write=write,
            run=run,
        )

    async def download_dir(
        self,
        prefix: Name,
        local_dir: str | os.PathLike[str],
        *,
        bucket: str | None = None,
        exclude: Iterable[str] = (),
        include: Iterable[str] = (),
        filters: Sequence[Filter] = (),
        dryrun: bool = False,
        jobs: int | None = None,
        on_item: Callable[[TreeItem], object] | None = None,
        progress: ProgressCallback | None = None,
        transfer: TransferConfig | None = None,
        **options: Unpack[ReadOptions],
    ) -> TreeResult:
        """Download every object under the folder ``prefix`` into ``local_dir``
        (``aws s3 cp --recursive s3://... DIR``); return what was done.

        Nothing is ever written outside ``local_dir``: a key that would land there
        (``../x``, ``/abs``, ``a//b``, a symlinked folder leading out) is skipped and
        reported in :attr:`TreeResult.skipped`. Each file is written atomically and
        gets the object's LastModified as its mtime. A prefix holding no objects raises
        :class:`~aios3.SourceNotFound`. Filters, ``jobs``, ``on_item`` and ``progress``
        as in :meth:`upload_dir`.
        """
        from ._tree import _Choice, download_dir, remote_side

        rules, run = self._tree_run(
            filters=filters,
            exclude=exclude,
            include=include,
            jobs=jobs,
            dryrun=dryrun,
            on_item=on_item,
            progress=progress,
            transfer=transfer,
            options=options,
        )
        read = _checked(options, write=False, what="download_dir()")
        return await download_dir(
            self,
            remote_side(self, prefix, bucket),
            local_dir,
            choice=_Choice(rules),
            run=run,
            read=read,
        )

    async def copy_prefix(
        self,
        source: Name,
        destination: Name,
        *,
        exclude: Iterable[str] = (),
        include: Iterable[str] = (),
        filters: Sequence[Filter] = (),
        dryrun: bool = False,
        jobs: int | None = None,
        on_item: Callable[[TreeItem], object] | None = None,
        progress: ProgressCallback | None = None,
        metadata: Mapping[str, str] | None = None,
        content_type: str | None = None,
        cache_control: str | None = None,
        storage_class: str | None = None,
        extra: Mapping[str, Any] | None = None,
        transfer: TransferConfig | None = None,
        source_sse_c: SSECustomerKey | None = None,
        **options: Unpack[WriteOptions],
    ) -> TreeResult:
        """Copy every object under the folder ``source`` to the folder ``destination``,
        server-side (``aws s3 cp --recursive s3://... s3://...``). Objects keep their
        headers and metadata unless new ones are given. A source prefix holding no
        objects raises :class:`~aios3.SourceNotFound`. Filters, ``jobs``, ``on_item`` and
        ``progress`` as in :meth:`upload_dir`; ``source_sse_c`` and the
        :class:`~aios3.WriteOptions` as in :meth:`copy`, for every object."""
        from ._tree import _Choice, copy_prefix, remote_side

        request_options(source_sse_c=source_sse_c)  # checked before any request
        rules, run = self._tree_run(
            filters=filters,
            exclude=exclude,
            include=include,
            jobs=jobs,
            dryrun=dryrun,
            on_item=on_item,
            progress=progress,
            transfer=transfer,
            options=options,
        )
        write = _write_options(
            metadata=metadata,
            content_type=content_type,
            cache_control=cache_control,
            storage_class=storage_class,
            extra=extra,
            source_sse_c=source_sse_c,
            **_checked(options, write=True, what="copy_prefix()"),
        )
        return await copy_prefix(
            self,
            remote_side(self, source),
            remote_side(self, destination),
            choice=_Choice(rules),
            write=write,
            run=run,
        )

    async def sync(
        self,
        source: str | os.PathLike[str] | S3Name,
        destination: str | os.PathLike[str] | S3Name,
        *,
        delete: bool = False,
        size_only: bool = False,
        exact_timestamps: bool = False,
        exclude: Iterable[str] = (),
        include: Iterable[str] = (),
        filters: Sequence[Filter] = (),
        dryrun: bool = False,
        jobs: int | None = None,
        on_item: Callable[[TreeItem], object] | None = None,
        progress: ProgressCallback | None = None,
        content_type: str | None = None,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        storage_class: str | None = None,
        extra: Mapping[str, Any] | None = None,
        transfer: TransferConfig | None = None,
        **options: Unpack[WriteOptions],
    ) -> TreeResult:
        """Make ``destination`` hold what ``source`` holds (``aws s3 sync``); each side
        is a local folder or an ``s3://`` URL / :class:`S3Name` (a folder): local->S3,
        S3->local or S3->S3.

        A file is copied when it is missing at the destination or its size differs,
        or by time as aws does: an upload or copy when the source is newer than the
        destination, a download when the local file is newer than the object
        (``exact_timestamps``: when the times differ at all); ``size_only`` compares
        sizes alone. Downloads set the local mtime from LastModified, so syncing back
        transfers nothing. ``delete`` removes what the source does not have (never a
        file the source still has, nor one an unsafe key could stand for, nor one the
        filters exclude). A missing source raises :class:`~aios3.SourceNotFound` before
        anything is written or deleted.
        """
        from ._tree import sync

        rules, run = self._tree_run(
            filters=filters,
            exclude=exclude,
            include=include,
            jobs=jobs,
            dryrun=dryrun,
            on_item=on_item,
            progress=progress,
            transfer=transfer,
            options=options,
        )
        write = _write_options(
            content_type=content_type,
            cache_control=cache_control,
            metadata=metadata,
            storage_class=storage_class,
            extra=extra,
            **_checked(options, write=True, what="sync()"),
        )
        return await sync(
            self,
            source,
            destination,
            rules=rules,
            delete=delete,
            size_only=size_only,
            exact_timestamps=exact_timestamps,
            write=write,
            run=run,
        )


def _payer(options: Mapping[str, Any]) -> dict[str, Any]:
    """The keywords a folder call's listings and deletes take too."""
    return {k: v for k, v in options.items() if k in ("request_payer", "expected_bucket_owner")}


def _checked(options: Mapping[str, Any], *, write: bool, what: str) -> dict[str, Any]:
    """A folder call's request keywords, checked once before any request, to pass on
    to each file's call."""
    if write:
        write_options(options, what=what)
    else:
        read_options(options, what=what)
    return dict(options)


def _write_options(**given: Any) -> dict[str, Any]:
    """The write keywords a folder call passes on to each upload or copy: those given."""
    return {name: value for name, value in given.items() if value is not None}


def _too_long(bucket: str, key: str, size: int, most: int) -> str:
    return f"get s3://{bucket}/{key}: an answer of {size} bytes, where at most {most} were expected"


async def _read_at_most(body: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``body`` (fewer where it ends first)."""
    pieces: list[bytes] = []
    have = 0
    while have < limit and (piece := await body.read(limit - have)):
        pieces.append(piece)
        have += len(piece)
    return b"".join(pieces)
