"""The client: :func:`connect` and the :class:`S3` object it yields.

``S3`` owns one aiobotocore session and client and is safe to share between tasks.
Its methods resolve names, then hand the work to the module that holds it:
``_stream`` (reading), ``_download`` (to a file), ``_upload`` (any source) and
``_multipart`` (the multipart state machine).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._config import Config, TransferConfig
from ._exceptions import InvalidRequest, translate
from ._info import ObjectInfo
from ._names import Name, resolve

if TYPE_CHECKING:
    from ._multipart import MultipartUpload
    from ._sources import Source
    from ._stream import ObjectStream

__all__ = ["S3", "connect"]


def connect(
    config: Config | Mapping[str, Any] | str | os.PathLike[str] | None = None,
    *,
    transfer: TransferConfig | None = None,
    **settings: Any,
) -> S3:
    """Make an :class:`S3` client; use it as ``async with aios3.connect(...) as s3:``.

    ``config`` is a :class:`Config`, a mapping of its fields, or the path of a TOML file
    holding them; keyword ``settings`` (any :class:`Config` field, e.g. ``endpoint=``,
    ``default_bucket=``) override it. Whatever is left unset comes from the standard
    AWS environment variables and profiles. ``transfer`` tunes part sizes and concurrency.
    """
    if config is None:
        base = Config()
    elif isinstance(config, Config):
        base = config
    elif isinstance(config, Mapping):
        base = Config.from_mapping(config)
    elif isinstance(config, str | os.PathLike):
        base = Config.from_toml(config)
    else:
        raise InvalidRequest(f"config must be a Config, mapping or TOML path, not {config!r}")
    unknown = sorted(set(settings) - set(Config.__dataclass_fields__))
    if unknown:
        raise InvalidRequest(f"connect() got unknown settings {unknown}")
    return S3(base.merged(**settings), transfer or TransferConfig())


class S3:
    """An S3 client bound to one endpoint and set of credentials.

    Make one with :func:`connect` and share it between tasks. Every method that names an
    object takes a key (in the default bucket), an ``s3://bucket/key`` URL, or an
    :class:`~aios3.S3Name`; ``bucket=`` overrides all.
    """

    def __init__(self, config: Config, transfer: TransferConfig | None = None) -> None:
        self.config = config
        self.transfer = transfer or TransferConfig()
        self._stack: AsyncExitStack | None = None
        self._client: Any = None

    def __repr__(self) -> str:
        state = "open" if self._client is not None else "closed"
        return f"<aios3.S3 {state} endpoint={self.config.endpoint_url() or 'aws'}>"

    # -- lifecycle -----------------------------------------------------------------

    async def __aenter__(self) -> S3:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Create the aiobotocore session and client (``async with`` does this)."""
        if self._client is not None:
            return
        from aiobotocore.session import AioSession

        cfg = self.config
        stack = AsyncExitStack()
        try:
            session = AioSession(profile=cfg.profile)
            kwargs: dict[str, Any] = {
                "region_name": cfg.region_name()
                or session.get_config_variable("region")
                or "us-east-1",
                "endpoint_url": cfg.endpoint_url(),
                "config": self._botocore_config(),
            }
            if cfg.access_key_id is not None:
                kwargs["aws_access_key_id"] = cfg.access_key_id
                kwargs["aws_secret_access_key"] = cfg.secret_access_key
                kwargs["aws_session_token"] = cfg.session_token
            if cfg.ca_bundle is not None:
                kwargs["verify"] = cfg.ca_bundle
            elif not cfg.verify_tls:
                kwargs["verify"] = False
            client = await stack.enter_async_context(session.create_client("s3", **kwargs))
        except BaseException:
            await stack.aclose()
            raise
        self._stack, self._client = stack, client

    async def close(self) -> None:
        """Close the client and its connections. Transfers still running fail."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    def _botocore_config(self) -> Any:
        from aiobotocore.config import AioConfig
        from botocore import UNSIGNED

        cfg = self.config
        style = cfg.addressing_style or ("path" if cfg.endpoint_url() else "auto")
        s3: dict[str, Any] = {"addressing_style": style}
        if cfg.sign_payload is not None:
            s3["payload_signing_enabled"] = cfg.sign_payload
        options: dict[str, Any] = {
            "s3": s3,
            "retries": {"max_attempts": cfg.max_attempts, "mode": "standard"},
            "connect_timeout": cfg.connect_timeout,
            "read_timeout": cfg.read_timeout,
            "max_pool_connections": cfg.max_pool_connections
            or max(64, 4 * self.transfer.concurrency),
        }
        if cfg.checksum is not None:
            options["request_checksum_calculation"] = cfg.checksum
            options["response_checksum_validation"] = cfg.checksum
        if cfg.anonymous:
            options["signature_version"] = UNSIGNED
        return AioConfig(**options)

    @property
    def client(self) -> Any:
        """The underlying aiobotocore S3 client, for operations aios3 does not wrap."""
        if self._client is None:
            raise RuntimeError("the S3 client is closed; use 'async with aios3.connect(...)'")
        return self._client

    # -- plumbing shared by the operation modules ------------------------------------

    def name(
        self, name: Name, *, bucket: str | None = None, allow_empty_key: bool = False
    ) -> tuple[str, str]:
        """Resolve ``name`` (key, ``s3://`` URL or :class:`S3Name`) to ``(bucket, key)``."""
        return resolve(
            name, self.config.default_bucket, bucket=bucket, allow_empty_key=allow_empty_key
        )

    async def call(
        self, operation: str, *, action: str, bucket: str, key: str | None = None, **params: Any
    ) -> Any:
        """Call a botocore operation, turning its errors into aios3's."""
        client = self.client
        if key is not None:
            params["Key"] = key
        try:
            return await getattr(client, operation)(Bucket=bucket, **params)
        except Exception as exc:
            raise translate(exc, action=action, bucket=bucket, key=key) from exc

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
    ) -> ObjectStream:
        """Stream an object's bytes: ``async with s3.stream(key) as body: async for chunk
        in body: ...``. Nothing is held in memory beyond one chunk.

        ``start``/``end`` select ``object[start:end]`` (``end`` exclusive). The
        ``ObjectStream``'s ``info`` describes the object once opened. A connection cut
        mid-body resumes from where it stopped, pinned to the object's ETag. Leaving the
        ``async with`` (or breaking out of a bare ``async for``) releases the connection.
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
        )

    async def get_bytes(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        start: int | None = None,
        end: int | None = None,
        version_id: str | None = None,
    ) -> bytes:
        """Read a (small) object, or ``object[start:end]``, into memory."""
        return (await self.get(name, bucket=bucket, start=start, end=end, version_id=version_id))[0]

    async def get(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        start: int | None = None,
        end: int | None = None,
        version_id: str | None = None,
    ) -> tuple[bytes, ObjectInfo]:
        """Read a (small) object into memory; return its bytes and its info."""
        chunks = bytearray()
        async with self.stream(
            name, bucket=bucket, start=start, end=end, version_id=version_id, chunk_size=1 << 20
        ) as body:
            async for chunk in body:
                chunks += chunk
            return bytes(chunks), body.info

    async def download(
        self,
        name: Name,
        path: str | os.PathLike[str],
        *,
        bucket: str | None = None,
        version_id: str | None = None,
        transfer: TransferConfig | None = None,
    ) -> ObjectInfo:
        """Download an object to ``path``, atomically.

        Bytes go to a temporary file beside ``path``, which is renamed into place only
        once the length (and the whole-object checksum, where the object has one)
        matched. On any failure or cancellation no partial file remains and an existing
        file at ``path`` is untouched. Objects above ``download_threshold`` arrive by
        concurrent ranged GETs pinned to one ETag, ``concurrency`` at a time.
        """
        from ._download import download

        b, k = self.name(name, bucket=bucket)
        return await download(
            self, b, k, Path(path), version_id=version_id, transfer=transfer or self.transfer
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
    ) -> ObjectInfo:
        """Store ``source`` as an object and return the stored object's info.

        ``source`` is bytes / bytearray / memoryview, a local path, a binary file object
        (plain or aiofiles), an object with an async ``read(n)`` (``asyncio.StreamReader``,
        aiohttp's request content), or an (async) iterable of bytes of unknown length.
        Small known sizes go in one PutObject; others stream through a
        :class:`MultipartUpload`, so memory stays flat. ``size`` declares a stream's
        length (checked). ``if_none_match="*"`` writes only if the key is new;
        ``if_match=etag`` only if the object is unchanged. ``content_type`` is guessed
        from the file or key name when not given.
        """
        from ._upload import upload

        b, k = self.name(name, bucket=bucket)
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
            },
            if_none_match=if_none_match,
            if_match=if_match,
            transfer=transfer or self.transfer,
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
        is kept, and a size it cannot fit is refused before any request.
        """
        from ._info import write_params
        from ._multipart import MultipartUpload

        b, k = self.name(name, bucket=bucket)
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
        )
