"""aios3 as an fsspec filesystem: pandas, pyarrow, Dask and everything else that speaks
fsspec reads and writes S3 through aios3.

Install the extra (``pip install 'aios3[fsspec]'``) and name paths ``aios3://bucket/key``::

    import pandas as pd

    options = {"endpoint": "http://127.0.0.1:9000", "key": "...", "secret": "..."}
    df = pd.read_parquet("aios3://data/events.parquet", storage_options=options)
    df.to_csv("aios3://data/events.csv", storage_options=options)

    fs = fsspec.filesystem("aios3", **options)      # or aios3.fs.S3FileSystem(...)
    with fs.open("data/big.bin", "wb") as f:        # a MultipartUpload, flat memory
        f.write(chunk)

:func:`register_s3` lets a program hand ``s3://`` (and ``s3a://``) URLs to aios3 too.

How it maps S3 onto a file system:

- **Paths** are ``bucket/key``. A "directory" is a key prefix ending in ``/``: it exists
  while some object lies beneath it, or while a *folder marker* (a zero-byte object
  whose key ends in ``/``, as S3 consoles make) holds it. ``mkdir``/``makedirs`` make
  such markers, so empty directories exist; listings never show a marker as a file.
- **Reading** (``open(path, "rb")``) gives a seekable buffered file pinned to the
  object's ETag (and its version, with ``version_aware=True``): every ranged GET carries
  If-Match, so a concurrent overwrite raises :class:`FileExpired` instead of mixing two
  objects' bytes. Reads go through fsspec's ``"readahead"`` cache with 8 MiB blocks: a
  miss fetches what was asked plus 8 MiB more in one GET. A Parquet reader asks for the
  footer (the last 64 KiB or so) and then for column chunks in file order, so the
  footer costs one request and a row group's chunks mostly come out of one read-ahead.
  ``cat_ranges`` sends its ranges concurrently.
- **Writing** (``open(path, "wb")``) streams through an aios3
  :class:`~aios3.MultipartUpload` once more than one block (8 MiB) is written, so memory
  stays within about ``block + part_size * concurrency``; smaller files go in one
  PutObject at close. An exception inside ``with fs.open(...)``, or a file dropped
  without ``close()``, aborts the upload: nothing partial is ever stored. ``"xb"``
  writes only if the key is new (If-None-Match), ``"ab"`` rewrites the object with
  the new bytes appended (pinned to the old object's ETag).
- **Clients**: each event loop that uses a filesystem gets one aios3 :class:`~aios3.S3`
  client, made on first use on that loop. Synchronous calls all run on fsspec's IO
  loop; its client is closed when the filesystem is garbage collected or at interpreter
  exit. With ``asynchronous=True``, ``await fs.close_session()`` closes the running
  loop's client; ``asyncio.run()`` (any loop that shuts down its async generators)
  closes it too.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import errno
import functools
import hashlib
import io
import json
import logging
import os
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime
from glob import has_magic
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fsspec.asyn import AbstractAsyncStreamedFile, AsyncFileSystem, sync, sync_wrapper
from fsspec.callbacks import DEFAULT_CALLBACK
from fsspec.spec import AbstractBufferedFile

from ._client import S3, connect
from ._config import Config, MiB, TransferConfig
from ._exceptions import (
    AccessDenied,
    Conflict,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    S3Error,
)
from ._info import ObjectInfo, Prefix
from ._multipart import MultipartUpload, as_bytes_view
from ._names import S3Name
from ._options import (
    ReadOptions,
    RequestOptions,
    SSECustomerKey,
    WriteOptions,
    read_options,
    write_options,
)
from ._progress import Progress

__all__ = [
    "FileExpired",
    "S3AsyncFile",
    "S3File",
    "S3FileSystem",
    "close_all",
    "register_s3",
]

log = logging.getLogger("aios3.fs")

T = TypeVar("T")

DEFAULT_BLOCK_SIZE = 8 * MiB
_TEARDOWN_TIMEOUT = 30.0
_CONFIG_FIELDS = frozenset(Config.__dataclass_fields__)
# fsspec's own constructor options, passed on to AsyncFileSystem.
_FSSPEC_OPTIONS = frozenset(
    {"use_listings_cache", "listings_expiry_time", "max_paths", "batch_size", "loop"}
)


class FileExpired(OSError):
    """The object changed (or was deleted) after it was opened for reading: a ranged
    read pinned to the ETag it had then was refused (HTTP 412). Open it again."""

    def __init__(self, path: str, etag: str | None) -> None:
        super().__init__(
            errno.ESTALE,
            f"{path} changed since it was opened (ETag {etag} no longer matches); "
            "open it again to read the new object",
            path,
        )
        self.etag = etag


def register_s3(protocols: tuple[str, ...] = ("s3", "s3a")) -> None:
    """Make fsspec (and so pandas, pyarrow, Dask) send ``s3://`` and ``s3a://`` URLs
    to aios3's :class:`S3FileSystem` instead of s3fs, for this process. ``aios3://`` is
    registered through the package's entry point already (and here again, for a
    checkout that was not installed)."""
    import fsspec

    for protocol in ("aios3", *protocols):
        fsspec.register_implementation(protocol, S3FileSystem, clobber=True)


def close_all() -> None:
    """Close the aios3 clients of every :class:`S3FileSystem` in this process (each on
    the event loop it belongs to), e.g. before a program's event loops shut down.
    Filesystems stay usable: the next call makes a new client."""
    for sessions in list(_ALL_SESSIONS):
        sessions.close_all()


# --------------------------------------------------------------------------- errors


def _os_error(err: S3Error, path: str) -> Exception:
    """aios3's error as the OSError fsspec callers expect (the original as cause)."""
    if isinstance(err, NotFound):
        return FileNotFoundError(errno.ENOENT, err.message, path)
    if isinstance(err, AccessDenied):
        return PermissionError(errno.EACCES, err.message, path)
    if isinstance(err, InvalidRequest):
        return err  # already a ValueError
    return OSError(errno.EIO, err.message, path)


@contextlib.contextmanager
def _translated(path: str) -> Iterator[None]:
    try:
        yield
    except S3Error as err:
        mapped = _os_error(err, path)
        if mapped is err:
            raise
        raise mapped from err


# ------------------------------------------------------------------- clients per loop


@dataclass(eq=False)
class _LoopClient:
    opened: asyncio.Future[None]
    client: S3 | None = None
    hook: Any = None  # an async generator whose finalization closes the client


_ALL_SESSIONS: weakref.WeakSet[_Sessions] = weakref.WeakSet()
_DEFERRED: set[asyncio.Task[Any]] = set()


class _Sessions:
    """One filesystem's aios3 clients, one per event loop (a loop's client must only be
    used on that loop). Kept apart from the filesystem so a finalizer can close them."""

    def __init__(self, config: Config, transfer: TransferConfig) -> None:
        self.config = config
        self.transfer = transfer
        self._lock = threading.Lock()
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
        )
        _ALL_SESSIONS.add(self)

    async def get(self) -> S3:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                entry = self._by_loop.get(loop)
                if entry is None:
                    entry = _LoopClient(loop.create_future())
                    self._by_loop[loop] = entry
                    break
            if entry.client is not None:
                return entry.client
            await asyncio.shield(entry.opened)  # another task is opening it
        try:
            client = connect(self.config, transfer=self.transfer)
            await client.open()
            entry.client = client
            entry.hook = self._closer(loop)
            with contextlib.suppress(StopAsyncIteration):
                await entry.hook.__anext__()  # registers it with the loop's asyncgen hooks
        except BaseException:
            with self._lock:
                self._by_loop.pop(loop, None)
            raise
        finally:
            entry.opened.set_result(None)
        return client

    async def _closer(self, loop: asyncio.AbstractEventLoop) -> AsyncIterator[None]:
        # asyncio.run() and Runner.close() finalize async generators before closing
        # the loop: that closes this loop's client, while the loop can still run it.
        try:
            yield
        finally:
            await self.close_loop(loop, from_hook=True)

    async def close_loop(
        self, loop: asyncio.AbstractEventLoop | None = None, *, from_hook: bool = False
    ) -> None:
        """Close the client of ``loop`` (the running one), if it has one."""
        loop = loop or asyncio.get_running_loop()
        with self._lock:
            entry = self._by_loop.pop(loop, None)
        if entry is None:
            return
        client, hook = entry.client, entry.hook
        entry.client = entry.hook = None
        if client is not None:
            await client.close()
        if hook is not None and not from_hook:
            await hook.aclose()

    def close_all(self) -> None:
        """Close every loop's client, from any thread (or from a finalizer)."""
        with self._lock:
            loops = list(self._by_loop.keys())
        for loop in loops:
            _run_teardown(loop, functools.partial(self.close_loop, loop), "closing aios3 client")


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _run_teardown(
    loop: asyncio.AbstractEventLoop | None,
    make: Callable[[], Awaitable[Any]],
    what: str,
) -> None:
    """Run cleanup on ``loop`` from anywhere: a finalizer, ``__del__`` (which may run on
    the loop's own thread), or another thread. Waits for it unless that would deadlock."""
    if loop is None or loop.is_closed() or sys.is_finalizing():
        return

    async def guarded() -> None:
        try:
            await make()
        except Exception as exc:  # a finalizer has no caller to raise to
            log.warning("%s failed: %s", what, exc)

    if _on_loop_thread(loop):
        task = loop.create_task(guarded())
        _DEFERRED.add(task)
        task.add_done_callback(_DEFERRED.discard)
        return
    if loop.is_running():
        future = asyncio.run_coroutine_threadsafe(guarded(), loop)
        try:
            future.result(_TEARDOWN_TIMEOUT)
        except FutureTimeout:
            log.warning("%s did not finish within %s s", what, _TEARDOWN_TIMEOUT)
        return
    loop.run_until_complete(guarded())  # an idle loop that nobody runs: run it here


# -------------------------------------------------------------------- configuration


def _merge(settings: dict[str, Any], name: str, value: Any, given_as: str) -> None:
    if value is None:
        return
    if name in settings and settings[name] != value:
        raise TypeError(f"{given_as}={value!r} contradicts {name}={settings[name]!r}")
    settings[name] = value


def _config_from_options(options: dict[str, Any]) -> Config:
    """A :class:`Config` from aios3's field names plus s3fs's usual spellings."""
    settings: dict[str, Any] = {}
    for name in sorted(_CONFIG_FIELDS & options.keys()):
        value = options.pop(name)
        if value is not None:
            settings[name] = value
    _merge(settings, "access_key_id", options.pop("key", None), "key")
    _merge(settings, "secret_access_key", options.pop("secret", None), "secret")
    _merge(settings, "session_token", options.pop("token", None), "token")
    _merge(settings, "endpoint", options.pop("endpoint_url", None), "endpoint_url")
    anon = options.pop("anon", None)
    if anon is not None:
        _merge(settings, "anonymous", bool(anon), "anon")
    use_ssl = options.pop("use_ssl", None)
    client_kwargs = dict(options.pop("client_kwargs", None) or {})
    for option, name in (
        ("region_name", "region"),
        ("endpoint_url", "endpoint"),
        ("aws_access_key_id", "access_key_id"),
        ("aws_secret_access_key", "secret_access_key"),
        ("aws_session_token", "session_token"),
    ):
        _merge(settings, name, client_kwargs.pop(option, None), f"client_kwargs[{option!r}]")
    if "use_ssl" in client_kwargs:
        use_ssl = client_kwargs.pop("use_ssl")
    verify = client_kwargs.pop("verify", None)
    if isinstance(verify, str):
        _merge(settings, "ca_bundle", verify, "client_kwargs['verify']")
    elif verify is False:
        settings["verify_tls"] = False
    if client_kwargs:
        raise TypeError(
            f"client_kwargs {sorted(client_kwargs)} are not supported; aios3 takes "
            "region_name, endpoint_url, aws_access_key_id, aws_secret_access_key, "
            "aws_session_token, use_ssl and verify"
        )
    config_kwargs = dict(options.pop("config_kwargs", None) or {})
    for option in ("connect_timeout", "read_timeout", "max_pool_connections"):
        _merge(settings, option, config_kwargs.pop(option, None), f"config_kwargs[{option!r}]")
    s3_options = dict(config_kwargs.pop("s3", None) or {})
    _merge(
        settings,
        "addressing_style",
        s3_options.pop("addressing_style", None),
        "config_kwargs['s3']['addressing_style']",
    )
    retries = dict(config_kwargs.pop("retries", None) or {})
    attempts = retries.pop("total_max_attempts", None)
    if attempts is None and retries.get("max_attempts") is not None:
        attempts = retries.pop("max_attempts") + 1  # botocore's max_attempts are retries
    retries.pop("mode", None)
    _merge(settings, "max_attempts", attempts, "config_kwargs['retries']")
    if config_kwargs or s3_options or retries:
        raise TypeError(
            f"config_kwargs {sorted({*config_kwargs, *s3_options, *retries})} are not "
            "supported; aios3 takes connect_timeout, read_timeout, max_pool_connections, "
            "s3.addressing_style and retries"
        )
    endpoint = settings.get("endpoint")
    if use_ssl is not None and (endpoint is None or "://" not in endpoint):
        settings.setdefault("tls", bool(use_ssl))
    settings.pop("default_bucket", None)  # paths always name their bucket
    return Config(**settings)


# s3fs's s3_additional_kwargs name botocore's parameters; each as aios3's option.
_ADDITIONAL_WRITE = {
    "ServerSideEncryption": "sse",
    "SSEKMSKeyId": "sse_kms_key_id",
    "SSEKMSEncryptionContext": "sse_kms_context",
    "BucketKeyEnabled": "bucket_key",
    "ACL": "acl",
    "Tagging": "tags",
}
_ADDITIONAL_CONFIG = {
    "RequestPayer": "request_payer",
    "ExpectedBucketOwner": "expected_bucket_owner",
}
_ADDITIONAL_SSE_C = ("SSECustomerAlgorithm", "SSECustomerKey", "SSECustomerKeyMD5")
_OWN_WRITE = frozenset(WriteOptions.__annotations__) - {"request_payer", "expected_bucket_owner"}


@dataclass(frozen=True)
class _Additional:
    """``s3_additional_kwargs`` as aios3 takes them: Config settings (requester pays,
    the expected bucket owner: every request), the options of every call on an object
    (``sse_c``) and those of every write (encryption, ACL, tags, headers)."""

    config: dict[str, Any]
    read: ReadOptions
    write: dict[str, Any]


def _additional_kwargs(
    given: Mapping[str, Any] | None, *, what: str = "s3_additional_kwargs"
) -> _Additional:
    """s3fs's ``s3_additional_kwargs`` (botocore's names, or aios3's), checked: an
    unknown name is a TypeError, a bad value aios3's InvalidRequest, both before any
    request is made."""
    if given is None:
        return _Additional({}, {}, {})
    if not isinstance(given, Mapping):
        raise TypeError(f"{what} takes a mapping, not {type(given).__name__}")
    rest = dict(given)
    config: dict[str, Any] = {}
    write: dict[str, Any] = {}
    for botocore_name, name in _ADDITIONAL_CONFIG.items():
        for spelling in (botocore_name, name):
            if spelling in rest:
                _merge(config, name, rest.pop(spelling), f"{what}[{spelling!r}]")
    if "request_payer" in config:
        payer = config["request_payer"]
        if payer not in ("requester", True, False):
            raise InvalidRequest(f"RequestPayer={payer!r}: S3 takes 'requester'")
        config["request_payer"] = payer in ("requester", True)
    if "ObjectLockMode" in rest or "ObjectLockRetainUntilDate" in rest:
        raise TypeError(
            f"{what}: give object lock settings as "
            "object_lock=aios3.ObjectLock(mode=..., retain_until=...)"
        )
    for botocore_name, name in {**_ADDITIONAL_WRITE, **_S3FS_WRITE_KEYWORDS}.items():
        if botocore_name in rest:
            _merge(write, name, rest.pop(botocore_name), f"{what}[{botocore_name!r}]")
    for name in sorted((_OWN_WRITE | _WRITE_KEYWORDS) & rest.keys()):
        _merge(write, name, rest.pop(name), f"{what}[{name!r}]")
    tags = write.get("tags")
    if isinstance(tags, str):  # botocore's Tagging: URL-encoded
        try:
            write["tags"] = dict(parse_qsl(tags, keep_blank_values=True, strict_parsing=True))
        except ValueError as err:
            raise InvalidRequest(f"Tagging={tags!r} is not URL-encoded key=value pairs") from err
    context = write.get("sse_kms_context")
    if isinstance(context, str):  # botocore's: base64 JSON
        try:
            write["sse_kms_context"] = json.loads(base64.b64decode(context, validate=True))
        except (binascii.Error, ValueError) as err:
            raise InvalidRequest(
                "SSEKMSEncryptionContext is base64-encoded JSON (or give a mapping)"
            ) from err
    sse_c = _customer_key(rest)
    if sse_c is not None:
        _merge(write, "sse_c", sse_c, f"{what}['SSECustomerKey']")
    if rest:
        raise TypeError(
            f"{what}: {sorted(rest)} are not supported; aios3 takes "
            f"{sorted({*_ADDITIONAL_CONFIG, *_ADDITIONAL_SSE_C, *_ADDITIONAL_WRITE})}, "
            f"{sorted(_S3FS_WRITE_KEYWORDS)} and aios3's own names "
            f"{sorted(_OWN_WRITE | _WRITE_KEYWORDS | set(_ADDITIONAL_CONFIG.values()))}"
        )
    own = {k: v for k, v in write.items() if k in _OWN_WRITE}
    write_options(own, what=what)  # checks every value now
    read: ReadOptions = {"sse_c": write["sse_c"]} if "sse_c" in write else {}
    return _Additional(config, read, write)


def _customer_key(rest: dict[str, Any]) -> SSECustomerKey | None:
    """botocore's SSECustomerAlgorithm / SSECustomerKey (the raw 32-byte key, bytes or
    str, as botocore takes it) / SSECustomerKeyMD5, popped from ``rest``."""
    algorithm = rest.pop("SSECustomerAlgorithm", None)
    raw = rest.pop("SSECustomerKey", None)
    md5 = rest.pop("SSECustomerKeyMD5", None)
    own = rest.pop("sse_c", None)
    if raw is None:
        if algorithm is not None or md5 is not None:
            raise InvalidRequest("SSECustomerAlgorithm / SSECustomerKeyMD5 need SSECustomerKey")
        if own is not None and not isinstance(own, SSECustomerKey):
            raise InvalidRequest("sse_c takes an aios3.SSECustomerKey(32 bytes)")
        return own
    if own is not None:
        raise TypeError("give sse_c or SSECustomerKey, not both")
    if algorithm not in (None, "AES256"):
        raise InvalidRequest(f"SSECustomerAlgorithm={algorithm!r}: S3 takes 'AES256'")
    if isinstance(raw, str):
        raw = raw.encode("utf-8")  # as botocore does with a str key
    key = SSECustomerKey(raw)
    if md5 is not None and md5 != key.params()["SSECustomerKeyMD5"]:
        raise InvalidRequest("SSECustomerKeyMD5 is not the MD5 of SSECustomerKey")
    return key


def _transfer_from(value: Any, max_concurrency: int | None) -> TransferConfig:
    if value is None:
        transfer = TransferConfig()
    elif isinstance(value, TransferConfig):
        transfer = value
    elif isinstance(value, Mapping):
        transfer = TransferConfig(**dict(value))
    else:
        raise TypeError(f"transfer must be a TransferConfig or a mapping, not {value!r}")
    if max_concurrency is not None:
        import dataclasses

        transfer = dataclasses.replace(transfer, concurrency=max_concurrency)
    return transfer


# ----------------------------------------------------------------------- info dicts


def _file_entry(bucket: str, info: ObjectInfo) -> dict[str, Any]:
    return {
        "name": f"{bucket}/{info.key}",
        "type": "file",
        "size": info.size or 0,
        "ETag": info.etag,
        "LastModified": info.last_modified,
        "mtime": info.last_modified,
        "StorageClass": info.storage_class or "STANDARD",
        "VersionId": info.version_id,
        "ContentType": info.content_type,
    }


def _version_entry(bucket: str, version: Mapping[str, Any]) -> dict[str, Any]:
    """One version from a ListObjectVersions page, as ``ls(..., versions=True)`` lists
    it: named ``bucket/key?versionId=...`` (as s3fs names them) unless its version is
    S3's ``"null"`` (written while versioning was off), so the name opens that version."""
    version_id = version.get("VersionId") or "null"
    name = f"{bucket}/{version['Key']}"
    if version_id != "null":
        name += f"?versionId={version_id}"
    return {
        "name": name,
        "type": "file",
        "size": version.get("Size") or 0,
        "ETag": version.get("ETag"),
        "LastModified": version.get("LastModified"),
        "mtime": version.get("LastModified"),
        "StorageClass": version.get("StorageClass") or "STANDARD",
        "VersionId": version_id,
        "IsLatest": bool(version.get("IsLatest")),
    }


def _dir_entry(name: str, storage_class: str = "DIRECTORY") -> dict[str, Any]:
    return {"name": name, "type": "directory", "size": 0, "StorageClass": storage_class}


# ------------------------------------------------------------------------ filesystem


class S3FileSystem(AsyncFileSystem):  # type: ignore[misc]
    """S3 as an fsspec file system, on aios3.

    Options (fsspec's ``storage_options``) take every :class:`aios3.Config` field
    (``endpoint``, ``access_key_id``, ``secret_access_key``, ``session_token``,
    ``region``, ``profile``, ``anonymous``, ``addressing_style``, ``checksum``,
    ``tls``, ``ca_bundle``, ...) and s3fs's spellings: ``key``, ``secret``, ``token``,
    ``endpoint_url``, ``anon``, ``use_ssl``, ``client_kwargs={"region_name": ...,
    "endpoint_url": ..., "verify": ...}`` and ``config_kwargs`` timeouts.
    Unset settings come from the standard AWS environment, as for :func:`aios3.connect`.

    - ``transfer``: a :class:`aios3.TransferConfig` (or a mapping of its fields) for
      part sizes and concurrency; ``max_concurrency`` sets its ``concurrency``.
    - ``version_aware``: paths may name a version (``bucket/key?versionId=...``) and
      files opened for reading pin the version they found; ``ls``/``find(...,
      versions=True)`` list every stored version (named with its ``?versionId=``), and
      :meth:`object_version_info` one object's.
    - ``s3_additional_kwargs``: parameters for every request, by botocore's names as
      s3fs takes them (or by aios3's: ``sse_c``, ``sse``, ``tags``, ...).
      ``SSECustomerKey`` (the raw 32-byte key; ``SSECustomerAlgorithm`` and
      ``SSECustomerKeyMD5`` checked if given) goes with every call on an object, as a
      copy's source key too; ``ServerSideEncryption``, ``SSEKMSKeyId``,
      ``SSEKMSEncryptionContext``, ``BucketKeyEnabled``, ``ACL``, ``Tagging`` and
      ``StorageClass`` with every write, copy and folder marker; ``ContentType``,
      ``CacheControl``, ``Metadata`` (...) with every file written; ``RequestPayer`` and
      ``ExpectedBucketOwner`` with every request. Any other name is a TypeError and a
      bad value an :class:`~aios3.InvalidRequest`, when the filesystem is made.
    - ``default_block_size`` (8 MiB) and ``default_cache_type`` ("readahead"): what
      :meth:`open` uses when not told.
    - ``asynchronous=True``: for use from a running event loop (``await fs._ls(...)``,
      :meth:`open_async`).
    """

    protocol = ("aios3", "s3", "s3a")
    root_marker = ""
    default_block_size = DEFAULT_BLOCK_SIZE

    def __init__(
        self,
        *,
        transfer: TransferConfig | Mapping[str, Any] | None = None,
        max_concurrency: int | None = None,
        version_aware: bool = False,
        default_block_size: int | None = None,
        default_cache_type: str = "readahead",
        asynchronous: bool = False,
        **options: Any,
    ) -> None:
        fsspec_options = {k: options.pop(k) for k in _FSSPEC_OPTIONS & options.keys()}
        options.pop("default_fill_cache", None)  # s3fs's; the caches here always fill
        additional = _additional_kwargs(options.pop("s3_additional_kwargs", None))
        for name, value in additional.config.items():
            _merge(options, name, value, f"s3_additional_kwargs' {name}")
        config = _config_from_options(options)
        if options:
            raise TypeError(
                f"S3FileSystem got unknown options {sorted(options)}; it takes aios3's "
                f"Config fields {sorted(_CONFIG_FIELDS - {'default_bucket'})} and s3fs's "
                "key, secret, token, endpoint_url, anon, use_ssl, client_kwargs, "
                "config_kwargs, s3_additional_kwargs"
            )
        super().__init__(asynchronous=asynchronous, **fsspec_options)
        self.config = config
        self.transfer = _transfer_from(transfer, max_concurrency)
        self.version_aware = version_aware
        self.default_block_size = default_block_size or DEFAULT_BLOCK_SIZE
        self.default_cache_type = default_cache_type
        self._sessions = _Sessions(config, self.transfer)
        weakref.finalize(self, self._sessions.close_all)
        # s3_additional_kwargs: sse_c for every call on an object, the rest for writes
        self._read_kw: ReadOptions = additional.read
        self._head_options: RequestOptions = read_options(additional.read)
        self._write_kw: dict[str, Any] = additional.write

    def _writes(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """A write's keywords: the filesystem's (``s3_additional_kwargs``), with this
        call's headers (``ContentType=`` ..., as s3fs takes them) on top."""
        return {**self._write_kw, **_write_keywords(kwargs)}

    def _object_kw(self) -> dict[str, Any]:
        """What a copy or a folder marker is written with: encryption, ACL, tags and the
        storage class (not the content headers: a copy keeps its source's)."""
        return {k: v for k, v in self._write_kw.items() if k in _OWN_WRITE or k == "storage_class"}

    # -- clients ---------------------------------------------------------------------

    async def set_session(self) -> S3:
        """The aios3 client of the running event loop, made (and opened) on first use."""
        return await self._sessions.get()

    async def close_session(self) -> None:
        """Close the running event loop's aios3 client (the next call makes another)."""
        await self._sessions.close_loop()

    def close(self) -> None:
        """Close every aios3 client of this filesystem, each on its own loop. Call it
        from synchronous code; a later call makes a new client."""
        self._sessions.close_all()

    # -- paths -----------------------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        for protocol in cls.protocol:
            if path.startswith(f"{protocol}://"):
                path = path[len(protocol) + 3 :]
                break
        return path.lstrip("/").rstrip("/")

    @staticmethod
    def _get_kwargs_from_urls(urlpath: str) -> dict[str, Any]:
        return {"version_aware": True} if "?versionId=" in urlpath else {}

    def split_path(self, path: str) -> tuple[str, str, str | None]:
        """``bucket/key`` (any protocol, ``?versionId=`` when version aware) as
        ``(bucket, key, version_id)``."""
        path = self._strip_protocol(path)
        bucket, _, key = path.partition("/")
        version: str | None = None
        if self.version_aware and "?versionId=" in key:
            key, _, version = key.partition("?versionId=")
        return bucket, key, version or None

    def _split_key(self, path: str) -> tuple[str, str, str | None]:
        bucket, key, version = self.split_path(path)
        if not bucket:
            raise ValueError(f"{path!r} names no bucket; write bucket/key")
        if not key:
            raise IsADirectoryError(errno.EISDIR, "a bucket is a directory, not a file", path)
        return bucket, key, version

    # -- describing ------------------------------------------------------------------

    async def _head(self, bucket: str, key: str, version_id: str | None) -> ObjectInfo | None:
        s3 = await self.set_session()
        params: dict[str, Any] = {"VersionId": version_id} if version_id else {}
        try:
            resp = await s3.call(
                "head_object",
                action="head",
                bucket=bucket,
                key=key,
                options=self._head_options,
                **params,
            )
        except NotFound:
            return None
        return ObjectInfo.from_response(bucket, key, resp)

    async def _info(self, path: str, version_id: str | None = None, **kwargs: Any) -> Any:
        path = self._strip_protocol(path)
        bucket, key, version = self.split_path(path)
        version = version_id or version
        if not bucket:
            return _dir_entry("", "ROOT")
        s3 = await self.set_session()
        with _translated(path):
            if not key:
                if await s3.bucket_exists(bucket):
                    return _dir_entry(bucket, "BUCKET")
                raise FileNotFoundError(errno.ENOENT, "no such bucket", path)
            found = await self._head(bucket, key, version)
            if found is not None:
                return _file_entry(bucket, found)
            probe = s3.list(S3Name(key + "/", bucket), page_size=1, read_ahead=False)
            if version is None and await _take(probe, 1):
                return _dir_entry(f"{bucket}/{key}")
        raise FileNotFoundError(errno.ENOENT, "no such key or prefix", path)

    async def _exists(self, path: str, **kwargs: Any) -> bool:
        try:
            await self._info(path, **kwargs)
        except FileNotFoundError:
            return False
        except InvalidRequest:
            return False  # a name S3 could not hold does not exist
        return True

    async def _checksum(self, path: str) -> int:
        info = await self._info(path)
        token = f"{info.get('ETag')}:{info.get('VersionId')}:{info['size']}"
        return int(hashlib.sha256(token.encode()).hexdigest()[:16], 16)

    def checksum(self, path: str) -> int:
        """A number that changes when the object does (from its ETag and version)."""
        return int(sync(self.loop, self._checksum, path))

    def ukey(self, path: str) -> str:
        """A hash that names this object's current content (path, ETag, version, size)."""
        info = self.info(path)
        token = f"{info['name']}:{info.get('ETag')}:{info.get('VersionId')}:{info['size']}"
        return hashlib.sha256(token.encode()).hexdigest()

    def modified(self, path: str) -> datetime:
        """The object's LastModified (a timezone-aware datetime)."""
        info = self.info(path)
        if info["type"] != "file" or info.get("LastModified") is None:
            raise IsADirectoryError(errno.EISDIR, "directories have no modified time", path)
        value: datetime = info["LastModified"]
        return value

    # -- listing ---------------------------------------------------------------------

    async def _lsbuckets(self) -> list[dict[str, Any]]:
        s3 = await self.set_session()
        with _translated(""):
            buckets = await s3.list_buckets()
        return [_dir_entry(b.name, "BUCKET") for b in buckets]

    async def _list_level(
        self, bucket: str, prefix: str, name_prefix: str = ""
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], bool]:
        """One directory level: (files, directories, whether a marker of it exists)."""
        s3 = await self.set_session()
        files: list[dict[str, Any]] = []
        dirs: list[dict[str, Any]] = []
        marker = False
        with _translated(f"{bucket}/{prefix}"):
            async for item in s3.list(S3Name(prefix + name_prefix, bucket), delimiter="/"):
                if isinstance(item, Prefix):
                    dirs.append(_dir_entry(f"{bucket}/{item.prefix[:-1]}"))
                elif item.key == prefix:
                    marker = True
                elif item.key.endswith("/"):
                    dirs.append(_dir_entry(f"{bucket}/{item.key[:-1]}"))
                else:
                    files.append(_file_entry(bucket, item))
        return files, dirs, marker

    async def _ls(
        self, path: str, detail: bool = True, versions: bool = False, **kwargs: Any
    ) -> Any:
        """One directory level (or the file ``path`` names). With ``versions=True`` (a
        ``version_aware`` filesystem) every stored version of each file, newest first,
        each named ``bucket/key?versionId=...`` with its ``VersionId`` and ``IsLatest``;
        versions of keys whose latest is a delete marker too, delete markers never."""
        path = self._strip_protocol(path)
        bucket, key, version = self.split_path(path)
        if versions:
            self._need_versions("ls(versions=True)")
            if not bucket:
                raise ValueError("versions=True lists a bucket's objects: name a bucket")
            entries = await self._ls_versions(bucket, key, version, path)
        elif not bucket:
            entries = await self._lsbuckets()
        else:
            prefix = f"{key}/" if key else ""
            files, dirs, marker = await self._list_level(bucket, prefix)
            entries = sorted(files + dirs, key=lambda e: str(e["name"]))
            if not entries and not marker and key:
                found = await self._head(bucket, key, version)
                if found is None:
                    raise FileNotFoundError(errno.ENOENT, "no such key or prefix", path)
                entries = [_file_entry(bucket, found)]
        return entries if detail else [e["name"] for e in entries]

    # -- versions --------------------------------------------------------------------

    def _need_versions(self, what: str) -> None:
        if not self.version_aware:
            raise ValueError(
                f"{what} needs a version-aware filesystem: S3FileSystem(version_aware=True, ...)"
            )

    async def _version_pages(
        self, bucket: str, prefix: str, delimiter: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """ListObjectVersions pages under ``prefix``, fetched as they are consumed."""
        s3 = await self.set_session()
        params: dict[str, Any] = {"Prefix": prefix}
        if delimiter:
            params["Delimiter"] = delimiter
        while True:
            with _translated(f"{bucket}/{prefix}"):
                page = await s3.call(
                    "list_object_versions", action="list versions", bucket=bucket, **params
                )
            yield page
            if not page.get("IsTruncated"):
                return
            if not page.get("NextKeyMarker"):
                raise OSError(
                    errno.EIO,
                    "a truncated version listing gave no marker to go on from",
                    f"{bucket}/{prefix}",
                )
            params["KeyMarker"] = page["NextKeyMarker"]
            params["VersionIdMarker"] = page.get("NextVersionIdMarker") or ""

    async def _key_versions(self, bucket: str, key: str) -> list[dict[str, Any]]:
        """Every version of exactly ``key`` (not of keys it is a prefix of), newest
        first, as ListObjectVersions gives them. Listing stops past the key."""
        found: list[dict[str, Any]] = []
        pages = self._version_pages(bucket, key)
        try:
            async for page in pages:
                found += [v for v in page.get("Versions") or [] if v["Key"] == key]
                listed = [*(page.get("Versions") or []), *(page.get("DeleteMarkers") or [])]
                if any(v["Key"] > key for v in listed):
                    break  # keys come in order: the rest are other keys
        finally:
            await _aclose(pages)
        return found

    async def _ls_versions(
        self, bucket: str, key: str, version: str | None, path: str
    ) -> list[dict[str, Any]]:
        if version is not None:
            named = [v for v in await self._key_versions(bucket, key) if v["VersionId"] == version]
            if not named:
                raise FileNotFoundError(errno.ENOENT, "no such version", path)
            return [_version_entry(bucket, named[0])]
        prefix = f"{key}/" if key else ""
        entries: list[dict[str, Any]] = []
        marker = False
        pages = self._version_pages(bucket, prefix, "/")
        try:
            async for page in pages:
                entries += [
                    _dir_entry(f"{bucket}/{p['Prefix'][:-1]}")
                    for p in page.get("CommonPrefixes") or []
                ]
                for v in page.get("Versions") or []:
                    if v["Key"] == prefix:
                        marker = True  # the directory's own folder marker
                    else:
                        entries.append(_version_entry(bucket, v))
        finally:
            await _aclose(pages)
        if not entries and not marker and key:
            entries = [_version_entry(bucket, v) for v in await self._key_versions(bucket, key)]
            if not entries:
                raise FileNotFoundError(errno.ENOENT, "no such key or prefix", path)
        # By name; a key's versions stay in the server's order, newest first.
        return sorted(entries, key=_unversioned)

    async def _object_version_info(self, path: str, **kwargs: Any) -> list[dict[str, Any]]:
        """Every stored version of the object ``path`` names, newest first: S3's
        ListObjectVersions entries (``Key``, ``VersionId``, ``IsLatest``,
        ``LastModified``, ``ETag``, ``Size``, ``StorageClass``), of that key only
        (s3fs's also hold the keys that begin with it), delete markers left out. Needs
        ``version_aware=True``."""
        self._need_versions("object_version_info()")
        bucket, key, _ = self._split_key(path)
        return await self._key_versions(bucket, key)

    object_version_info = sync_wrapper(_object_version_info)

    async def _list_objects(
        self, bucket: str, prefix: str, *, read_ahead: bool = True
    ) -> AsyncIterator[ObjectInfo]:
        s3 = await self.set_session()
        listing = s3.list(S3Name(prefix, bucket), read_ahead=read_ahead)
        try:
            with _translated(f"{bucket}/{prefix}"):
                async for item in listing:
                    if isinstance(item, ObjectInfo):
                        yield item
        finally:
            await _aclose(listing)

    async def _find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        prefix: str = "",
        versions: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Everything below ``path`` (files; with ``withdirs`` directories too) in
        name order: one flat listing, or with ``maxdepth`` one listing per directory
        level. ``prefix`` keeps only names under ``path`` that begin with it.
        ``versions=True`` (version-aware filesystems) lists every stored version of
        each file, as :meth:`ls` does."""
        path = self._strip_protocol(path)
        bucket, key, _ = self.split_path(path)
        if not bucket:
            raise ValueError("cannot search every bucket at once: name a bucket")
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        if versions:
            self._need_versions("find(versions=True)")
        base = f"{key}/" if key else ""
        out: dict[str, dict[str, Any]] = {}
        dirs: dict[str, dict[str, Any]] = {}
        found_any = False
        if versions:
            pages = self._version_pages(bucket, base + prefix)
            try:
                async for page in pages:
                    for v in page.get("Versions") or []:
                        found_any = True
                        parts = v["Key"][len(base) :].split("/")
                        for i in range(1, min(len(parts), (maxdepth or len(parts)) + 1)):
                            name = f"{bucket}/{base}{'/'.join(parts[:i])}"
                            dirs.setdefault(name, _dir_entry(name))
                        if not v["Key"].endswith("/") and len(parts) <= (maxdepth or len(parts)):
                            entry = _version_entry(bucket, v)
                            out[entry["name"]] = entry
            finally:
                await _aclose(pages)
        elif maxdepth is None:
            async for obj in self._list_objects(bucket, base + prefix):
                found_any = True
                rel = obj.key[len(base) :]
                parts = rel.split("/")
                for i in range(1, len(parts)):
                    name = f"{bucket}/{base}{'/'.join(parts[:i])}"
                    dirs.setdefault(name, _dir_entry(name))
                if not obj.key.endswith("/"):
                    out[f"{bucket}/{obj.key}"] = _file_entry(bucket, obj)
        else:
            level = [(base, prefix)]
            for depth in range(1, maxdepth + 1):
                results = await asyncio.gather(*(self._list_level(bucket, p, n) for p, n in level))
                level = []
                for files, subdirs, marker in results:
                    found_any = found_any or marker or bool(files or subdirs)
                    out.update((f["name"], f) for f in files)
                    for d in subdirs:
                        dirs[d["name"]] = d
                        if depth < maxdepth:
                            level.append((d["name"][len(bucket) + 1 :] + "/", ""))
        if withdirs:
            out.update(dirs)
            if found_any and not prefix:
                out[path] = _dir_entry(path, "BUCKET" if not key else "DIRECTORY")
        if not out and key and not prefix and not found_any:
            if versions:
                for v in await self._key_versions(bucket, key):
                    entry = _version_entry(bucket, v)
                    out[entry["name"]] = entry
            else:
                found = await self._head(bucket, key, None)
                if found is not None:
                    out[path] = _file_entry(bucket, found)
        # By name; with versions, a key's versions stay newest first (as listed).
        names = sorted(out, key=lambda n: _unversioned(out[n])) if versions else sorted(out)
        return {n: out[n] for n in names} if detail else names

    async def _expand_path(
        self, path: Any, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any
    ) -> Any:
        # "?" is a glob character to fsspec: a path naming a version is taken literally.
        paths = [path] if isinstance(path, str) else list(path)
        pinned = [p for p in paths if self.version_aware and "?versionId=" in p]
        if not pinned:
            return await super()._expand_path(
                path, recursive=recursive, maxdepth=maxdepth, **kwargs
            )
        rest = [p for p in paths if p not in pinned]
        out = {self._strip_protocol(p) for p in pinned}
        if rest:
            out.update(await super()._expand_path(rest, recursive=recursive, maxdepth=maxdepth))
        return sorted(out)

    async def _du(
        self, path: str, total: bool = True, maxdepth: int | None = None, **kwargs: Any
    ) -> Any:
        found = await self._find(path, maxdepth=maxdepth, detail=True, **kwargs)
        sizes = {name: info["size"] for name, info in found.items()}
        return sum(sizes.values()) if total else sizes

    # -- reading ---------------------------------------------------------------------

    async def _cat_file(
        self,
        path: str,
        start: int | None = None,
        end: int | None = None,
        version_id: str | None = None,
        **kwargs: Any,
    ) -> bytes:
        bucket, key, version = self._split_key(path)
        version = version_id or version
        if (start is not None and start < 0) or (end is not None and end < 0):
            size = (await self._info(path, version_id=version))["size"]
            start = max(0, size + start) if start is not None and start < 0 else start
            end = max(0, size + end) if end is not None and end < 0 else end
        s3 = await self.set_session()
        with _translated(path):
            return await s3.get_bytes(
                S3Name(key, bucket), start=start, end=end, version_id=version, **self._read_kw
            )

    async def _read_range(
        self,
        path: str,
        start: int,
        end: int,
        etag: str | None,
        version_id: str | None,
    ) -> bytes:
        """``object[start:end]``, only from the object whose ETag is ``etag``."""
        if end <= start:
            return b""
        bucket, key, _ = self._split_key(path)
        s3 = await self.set_session()
        try:
            async with s3.stream(
                S3Name(key, bucket),
                start=start,
                end=end,
                if_match=etag,
                version_id=version_id,
                chunk_size=min(end - start, 16 * MiB),
                **self._read_kw,
            ) as body:
                return await body.read()
        except PreconditionFailed as err:
            raise FileExpired(path, etag) from err
        except S3Error as err:
            raise _os_error(err, path) from err

    async def _get_file(
        self,
        rpath: str,
        lpath: str,
        callback: Any = DEFAULT_CALLBACK,
        version_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        if await asyncio.to_thread(os.path.isdir, lpath):
            return  # a directory of the tree, made already
        bucket, key, version = self.split_path(rpath)
        if not key:  # the root of a recursive get: a bucket is a directory
            await self._info(bucket)
            await asyncio.to_thread(os.makedirs, lpath, exist_ok=True)
            return
        s3 = await self.set_session()
        parent = os.path.dirname(os.path.abspath(lpath))  # noqa: ASYNC240 (no I/O)
        await asyncio.to_thread(os.makedirs, parent, exist_ok=True)
        try:
            await s3.download(
                S3Name(key, bucket),
                lpath,
                version_id=version_id or version,
                progress=_fsspec_progress(callback),
                **self._read_kw,
            )
        except NotFound as err:
            if await self._isdir(rpath):
                await asyncio.to_thread(os.makedirs, lpath, exist_ok=True)
                return
            raise _os_error(err, rpath) from err
        except S3Error as err:
            raise _os_error(err, rpath) from err

    # -- writing ---------------------------------------------------------------------

    async def _pipe_file(
        self, path: str, value: Any, mode: str = "overwrite", **kwargs: Any
    ) -> None:
        bucket, key, _ = self._split_key(path)
        s3 = await self.set_session()
        try:
            await s3.upload(
                S3Name(key, bucket),
                bytes(value) if isinstance(value, bytearray | memoryview) else value,
                if_none_match="*" if mode == "create" else None,
                **self._writes(kwargs),
            )
        except PreconditionFailed as err:
            raise FileExistsError(errno.EEXIST, "the key exists already", path) from err
        except S3Error as err:
            raise _os_error(err, path) from err

    async def _put_file(
        self,
        lpath: str,
        rpath: str,
        callback: Any = DEFAULT_CALLBACK,
        mode: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        if await asyncio.to_thread(os.path.isdir, lpath):
            await self._makedirs(rpath, exist_ok=True)
            return
        bucket, key, _ = self._split_key(rpath)
        s3 = await self.set_session()
        try:
            await s3.upload(
                S3Name(key, bucket),
                lpath,
                if_none_match="*" if mode == "create" else None,
                progress=_fsspec_progress(callback),
                **self._writes(kwargs),
            )
        except PreconditionFailed as err:
            raise FileExistsError(errno.EEXIST, "the key exists already", rpath) from err
        except S3Error as err:
            raise _os_error(err, rpath) from err

    async def _touch(self, path: str, truncate: bool = True, **kwargs: Any) -> None:
        if not truncate and await self._isfile(path):
            bucket, key, _ = self._split_key(path)
            s3 = await self.set_session()
            with _translated(path):
                await s3.update_metadata(S3Name(key, bucket), **self._read_kw)  # a new LastModified
            return
        await self._pipe_file(path, b"", **kwargs)

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        b1, k1, version = self.split_path(path1)
        if not k1:  # the root of a recursive copy: a bucket holds nothing to copy itself
            if not await self._exists(b1):
                raise FileNotFoundError(errno.ENOENT, "no such bucket", path1)
            return
        b2, k2, _ = self._split_key(path2)
        s3 = await self.set_session()
        # The filesystem's customer key (if any) is the source's and the copy's.
        written = self._object_kw()
        source_sse_c = written.get("sse_c")
        try:
            await s3.copy(
                S3Name(k1, b1),
                S3Name(k2, b2),
                source_version_id=version,
                source_sse_c=source_sse_c,
                **written,
            )
            return
        except NotFound as err:
            missing = err
        except S3Error as err:
            raise _os_error(err, path1) from err
        if version is None and await self._isdir(path1):
            # A directory: its marker, if it has one, is what there is to copy.
            with _translated(path1), contextlib.suppress(NotFound):
                await s3.copy(
                    S3Name(k1 + "/", b1),
                    S3Name(k2 + "/", b2),
                    source_sse_c=source_sse_c,
                    **written,
                )
            return
        raise _os_error(missing, path1) from missing

    async def _mv(
        self,
        path1: Any,
        path2: Any,
        recursive: bool = False,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        if path1 == path2:
            return
        await self._copy(path1, path2, recursive=recursive, maxdepth=maxdepth, on_error="raise")
        await self._rm(path1, recursive=recursive)

    mv = sync_wrapper(_mv)
    touch = sync_wrapper(_touch)

    # -- directories -----------------------------------------------------------------

    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        path = self._strip_protocol(path)
        bucket, key, _ = self.split_path(path)
        if not bucket:
            raise ValueError("name a bucket (or bucket/folder) to make")
        s3 = await self.set_session()
        with _translated(path):
            if not await s3.bucket_exists(bucket):
                if key and not create_parents:
                    raise FileNotFoundError(errno.ENOENT, "no such bucket", bucket)
                await s3.create_bucket(bucket, region=kwargs.get("region"))
            elif not key:
                raise FileExistsError(errno.EEXIST, "the bucket exists", path)
            if key:
                if await self._exists(path):
                    raise FileExistsError(errno.EEXIST, "the path exists", path)
                written = self._object_kw()
                if written:  # encrypted (tagged, ...) as the filesystem's objects are
                    await s3.upload(S3Name(key + "/", bucket), b"", **written)
                else:
                    await s3.create_folder(S3Name(key + "/", bucket))

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        try:
            await self._mkdir(path, create_parents=True)
        except FileExistsError:
            if not exist_ok or not await self._isdir(path):
                raise

    async def _rmdir(self, path: str) -> None:
        path = self._strip_protocol(path)
        bucket, key, _ = self.split_path(path)
        s3 = await self.set_session()
        if not key:
            try:
                await s3.delete_bucket(bucket)
            except Conflict as err:
                raise OSError(errno.ENOTEMPTY, "the bucket is not empty", path) from err
            except S3Error as err:
                raise _os_error(err, path) from err
            return
        contents = [
            o.key for o in await _take(self._list_objects(bucket, key + "/", read_ahead=False), 2)
        ]
        if not contents:
            if await self._isfile(path):
                raise NotADirectoryError(errno.ENOTDIR, "a file, not a directory", path)
            raise FileNotFoundError(errno.ENOENT, "no such directory", path)
        if contents != [key + "/"]:
            raise OSError(errno.ENOTEMPTY, "the directory is not empty", path)
        with _translated(path):
            await s3.delete(S3Name(key + "/", bucket))

    rmdir = sync_wrapper(_rmdir)

    # -- deleting --------------------------------------------------------------------

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        bucket, key, version = self._split_key(path)
        s3 = await self.set_session()
        with _translated(path):
            await s3.delete(S3Name(key, bucket), version_id=version)

    async def _rm(
        self,
        path: Any,
        recursive: bool = False,
        maxdepth: int | None = None,
        **kwargs: Any,
    ) -> None:
        """Delete files, or with ``recursive`` whole directories (every object under
        the prefix, folder markers too; a bucket named alone is deleted as well). A
        directory without ``recursive`` goes only if it is empty.

        The folder keys (``dir/``) of a directory deleted recursively are deleted too,
        deepest first, once its objects are gone: stores with real directories
        (SeaweedFS's filer) otherwise keep listing the empty directories."""
        paths = [path] if isinstance(path, str) else list(path)
        keys: set[tuple[str, str, str | None]] = set()  # bucket, key, version (if named)
        folders: set[tuple[str, str]] = set()
        buckets: list[str] = []
        if maxdepth is not None:
            # Depth-limited: what fsspec's expansion finds, files only.
            names = await self._expand_path(paths, recursive=recursive, maxdepth=maxdepth)
            infos = await asyncio.gather(*(self._info(n) for n in names), return_exceptions=True)
            for name, info in zip(names, infos, strict=True):
                if isinstance(info, dict) and info["type"] == "file":
                    keys.add(self.split_path(name))
        else:
            for p in self._strip_protocol(paths):
                # "?" is a glob character to fsspec: a path naming a version is literal.
                if has_magic(p) and not (self.version_aware and "?versionId=" in p):
                    found = await self._glob(p, detail=True)
                else:
                    try:
                        found = {p: await self._info(p)}
                    except FileNotFoundError:
                        found = {}
                for name, info in found.items():
                    await self._rm_collect(name, info, recursive, keys, folders, buckets)
            if not keys and not folders and not buckets:
                raise FileNotFoundError(errno.ENOENT, "nothing to delete", str(path))
        s3 = await self.set_session()
        with _translated(str(path)):
            # A path naming a version deletes that version (not the key's latest).
            def order(t: tuple[str, str, str | None]) -> tuple[str, str, str]:
                return t[0], t[1], t[2] or ""

            batches = [sorted(keys, key=order)]
            by_depth: dict[int, list[tuple[str, str, str | None]]] = {}
            for b, k in folders:
                by_depth.setdefault(k.count("/"), []).append((b, k, None))
            batches += [sorted(by_depth[d], key=order) for d in sorted(by_depth, reverse=True)]
            for batch in batches:
                if not batch:
                    continue
                result = await s3.delete_many(
                    [(S3Name(k, b), v) if v else S3Name(k, b) for b, k, v in batch]
                )
                if not result.ok:
                    failure = result.failed[0]
                    raise OSError(
                        errno.EIO,
                        f"{len(result.failed)} objects were not deleted, the first "
                        f"{failure.key}: {failure.code} {failure.message}",
                        f"{failure.bucket}/{failure.key}",
                    )
            for bucket in buckets:
                await s3.delete_bucket(bucket)

    async def _rm_collect(
        self,
        name: str,
        info: dict[str, Any],
        recursive: bool,
        keys: set[tuple[str, str, str | None]],
        folders: set[tuple[str, str]],
        buckets: list[str],
    ) -> None:
        bucket, key, version = self.split_path(name)
        if info["type"] == "file":
            keys.add((bucket, key, version))
            if not recursive or version is not None:
                return
        base = f"{key}/" if key else ""
        if not recursive:
            contents = [
                o.key for o in await _take(self._list_objects(bucket, base, read_ahead=False), 2)
            ]
            if contents in ([], [base]) and key:
                folders.add((bucket, base))  # an empty directory: its marker
                return
            raise IsADirectoryError(
                errno.EISDIR, "a directory: pass recursive=True to delete it", name
            )
        if key:
            folders.add((bucket, base))
        async for obj in self._list_objects(bucket, base):
            # Markers go with the folders, after the objects inside them.
            if obj.key.endswith("/"):
                folders.add((bucket, obj.key))
            else:
                keys.add((bucket, obj.key, None))
            parts = obj.key[len(base) :].split("/")[:-1]
            for i in range(1, len(parts) + 1):
                folders.add((bucket, base + "/".join(parts[:i]) + "/"))
        if not key:
            buckets.append(bucket)

    # -- links -----------------------------------------------------------------------

    async def _sign(self, path: str, expiration: int = 3600, **kwargs: Any) -> str:
        bucket, key, version = self._split_key(path)
        s3 = await self.set_session()
        with _translated(path):
            return await s3.presign(S3Name(key, bucket), expires=expiration, version_id=version)

    def sign(self, path: str, expiration: int = 3600, **kwargs: Any) -> str:
        """A presigned GET URL for the object, valid for ``expiration`` seconds."""
        return str(sync(self.loop, self._sign, path, expiration=expiration, **kwargs))

    # -- files -----------------------------------------------------------------------

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | None = None,
        autocommit: bool = True,
        cache_type: str | None = None,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> S3File:
        if self.asynchronous and self._loop is None:
            raise RuntimeError(
                "an asynchronous S3FileSystem opens files with 'await fs.open_async(...)'"
            )
        return S3File(
            self,
            path,
            mode,
            block_size=block_size or self.default_block_size,
            autocommit=autocommit,
            cache_type=cache_type or self.default_cache_type,
            cache_options=cache_options,
            **kwargs,
        )

    async def open_async(self, path: str, mode: str = "rb", **kwargs: Any) -> S3AsyncFile:
        """Open a file from a running event loop: ``async with await
        fs.open_async(path, "rb") as f: data = await f.read()``. Modes: rb, wb, xb, ab;
        the same ETag pinning and abort-on-error as :meth:`open`."""
        if "b" not in mode or kwargs.get("compression"):
            raise ValueError("open_async opens binary files only, without compression")
        path = self._strip_protocol(path)
        bucket, key, version = self._split_key(path)
        version = kwargs.pop("version_id", None) or version
        block_size = kwargs.pop("block_size", None) or self.default_block_size
        if mode == "rb":
            details = await self._info(path, version_id=version)
            if details["type"] != "file":
                raise IsADirectoryError(errno.EISDIR, "a directory, not a file", path)
            return S3AsyncFile(self, path, mode, block_size, details=details, version_id=version)
        existing: dict[str, Any] | None = None
        if mode == "xb" and await self._exists(path):
            raise FileExistsError(errno.EEXIST, "the key exists already", path)
        if mode == "ab":
            found = await self._head(bucket, key, None)
            existing = _file_entry(bucket, found) if found is not None else None
        return S3AsyncFile(
            self,
            path,
            mode,
            block_size,
            details=existing,
            version_id=None,
            write_options=self._writes(kwargs),
        )


def _unversioned(entry: Mapping[str, Any]) -> str:
    """An entry's name without its ``?versionId=``: what listings sort versions by."""
    return str(entry["name"]).partition("?versionId=")[0]


async def _aclose(items: AsyncIterator[Any]) -> None:
    aclose = getattr(items, "aclose", None)
    if aclose is not None:
        await aclose()


async def _take(items: AsyncIterator[T], count: int) -> list[T]:
    """The first ``count`` of ``items``; the rest is never fetched (and the iterator
    is closed here, not left to the garbage collector)."""
    out: list[T] = []
    try:
        async for item in items:
            out.append(item)
            if len(out) >= count:
                break
    finally:
        await _aclose(items)
    return out


_WRITE_KEYWORDS = frozenset(
    {
        "content_type",
        "content_disposition",
        "content_encoding",
        "content_language",
        "cache_control",
        "metadata",
        "storage_class",
    }
)
_S3FS_WRITE_KEYWORDS = {
    "ContentType": "content_type",
    "ContentDisposition": "content_disposition",
    "ContentEncoding": "content_encoding",
    "ContentLanguage": "content_language",
    "CacheControl": "cache_control",
    "Metadata": "metadata",
    "StorageClass": "storage_class",
}


_PER_WRITE = frozenset(
    {*_ADDITIONAL_WRITE, *_S3FS_WRITE_KEYWORDS, *_ADDITIONAL_SSE_C, *_OWN_WRITE, *_WRITE_KEYWORDS}
)
"""What one write call (``open``, ``pipe_file``, ``put_file``) may be given itself."""


def _write_keywords(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A write call's own options, by botocore's names (as s3fs takes them) or aios3's:
    headers, storage class, encryption, ACL, tags, the SSE-C key (checked)."""
    given = {k: v for k, v in kwargs.items() if k in _PER_WRITE}
    return _additional_kwargs(given, what="this write").write if given else {}


# ----------------------------------------------------------------------------- files


class _Discarded(Exception):
    """Passed to a MultipartUpload's exit to abort it: the file was discarded."""


class _Writer:
    """The write side of a file, on the filesystem's client: one PutObject for a small
    file, else a MultipartUpload fed as the file's buffer fills. ``discard`` aborts."""

    def __init__(
        self,
        fs: S3FileSystem,
        path: str,
        mode: str,
        existing: dict[str, Any] | None,
        write_options: dict[str, Any],
    ) -> None:
        self.fs = fs
        self.path = path
        self.bucket, self.key, _ = fs._split_key(path)
        self.if_none_match = "*" if mode == "xb" else None
        self.existing = existing  # "ab": the object the new bytes are appended to
        self.options = write_options
        self.upload: MultipartUpload | None = None
        self.held: bytes | None = None  # a small file's bytes, for commit()
        self.info: ObjectInfo | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # where the upload runs

    def _errors(self, err: S3Error) -> Exception:
        if isinstance(err, PreconditionFailed):
            if self.existing is not None:
                return FileExpired(self.path, self.existing.get("ETag"))
            return FileExistsError(errno.EEXIST, "the key exists already", self.path)
        return _os_error(err, self.path)

    async def begin(self) -> None:
        if self.upload is not None:
            return
        s3 = await self.fs.set_session()
        self.loop = asyncio.get_running_loop()
        etag = self.existing.get("ETag") if self.existing else None
        upload = s3.multipart_upload(
            S3Name(self.key, self.bucket),
            if_none_match=self.if_none_match,
            if_match=etag,
            **self.options,
        )
        try:
            await upload.__aenter__()
            self.upload = upload
            if self.existing is not None:
                source = S3Name(self.key, self.bucket)
                async with s3.stream(source, if_match=etag, **self.fs._read_kw) as body:
                    async for chunk in body:
                        await upload.write(chunk)
        except BaseException as exc:
            await self.abort(exc)
            if isinstance(exc, S3Error):
                raise self._errors(exc) from exc
            raise

    async def write(self, data: Any) -> None:
        await self.begin()
        assert self.upload is not None
        try:
            await self.upload.write(data)
        except BaseException as exc:
            await self.abort(exc)
            if isinstance(exc, S3Error):
                raise self._errors(exc) from exc
            raise

    async def finish(self, data: Any, *, commit: bool) -> None:
        """The last bytes: complete now (``commit``), or hold them for :meth:`commit`."""
        if self.upload is None and self.existing is None:
            if not commit:
                self.held = bytes(data)
                return
            await self._put(data)
            return
        if as_bytes_view(data).nbytes:
            await self.write(data)
        else:
            await self.begin()
        if commit:
            await self.commit()

    async def _put(self, data: Any) -> None:
        s3 = await self.fs.set_session()
        try:
            self.info = await s3.upload(
                S3Name(self.key, self.bucket),
                data,
                if_none_match=self.if_none_match,
                **self.options,
            )
        except S3Error as err:
            raise self._errors(err) from err

    async def commit(self) -> None:
        if self.held is not None:
            held, self.held = self.held, None
            await self._put(held)
            return
        upload, self.upload = self.upload, None
        if upload is None:
            return
        try:
            await upload.__aexit__(None, None, None)  # completes (or aborts, and raises)
        except S3Error as err:
            raise self._errors(err) from err
        self.info = upload.result

    async def abort(self, exc: BaseException | None = None) -> None:
        self.held = None
        upload, self.upload = self.upload, None
        if upload is not None:
            error = exc or _Discarded(f"{self.path} was discarded")
            await upload.__aexit__(type(error), error, error.__traceback__)


class S3File(AbstractBufferedFile):  # type: ignore[misc]
    """A file of an :class:`S3FileSystem`, from :meth:`S3FileSystem.open`.

    Reading (``"rb"``): seekable, through a block cache; every GET is pinned to the
    ETag (and version) the object had when opened, so a concurrent overwrite raises
    :class:`FileExpired`. Writing (``"wb"``, ``"xb"``, ``"ab"``): bytes stream through
    a multipart upload once past one block; leaving a ``with`` block by an exception,
    :meth:`discard`, or dropping the file unclosed aborts it, so nothing is stored.
    With ``autocommit=False`` (fsspec transactions) :meth:`commit` stores the object.
    """

    # Set by fsspec's AbstractBufferedFile (untyped): declared for the type checker.
    fs: S3FileSystem
    path: str
    mode: str
    size: int
    loc: int
    blocksize: int
    autocommit: bool
    offset: int | None
    forced: bool
    buffer: io.BytesIO
    closed: bool

    def __init__(
        self,
        fs: S3FileSystem,
        path: str,
        mode: str = "rb",
        block_size: int = DEFAULT_BLOCK_SIZE,
        autocommit: bool = True,
        cache_type: str = "readahead",
        cache_options: dict[str, Any] | None = None,
        size: int | None = None,
        version_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        path = fs._strip_protocol(path)
        _, _, version = fs._split_key(path)
        self.version_id = version_id or version
        self.etag: str | None = None
        self._writer: _Writer | None = None
        details: dict[str, Any] | None = None
        if mode == "rb":
            details = fs.info(path, version_id=self.version_id)
            if details["type"] != "file":
                raise IsADirectoryError(errno.EISDIR, "a directory, not a file", path)
            self.etag = details.get("ETag")
            if fs.version_aware:
                self.version_id = self.version_id or details.get("VersionId")
            size = details["size"]
        elif mode in ("wb", "xb", "ab"):
            if mode == "xb" and fs.exists(path):
                raise FileExistsError(errno.EEXIST, "the key exists already", path)
            existing = None
            if mode == "ab":
                with contextlib.suppress(FileNotFoundError):
                    found = fs.info(path)
                    existing = found if found["type"] == "file" else None
            write_options = fs._writes(kwargs)
            kwargs = {k: v for k, v in kwargs.items() if k not in _PER_WRITE}
            self._writer = _Writer(fs, path, mode, existing, write_options)
        super().__init__(
            fs,
            path,
            mode=mode,
            block_size=block_size,
            autocommit=autocommit,
            cache_type=cache_type,
            cache_options=cache_options,
            size=size,
            **kwargs,
        )
        if details is not None:
            self._details = details
        if self._writer is not None and self._writer.existing is not None:
            self.loc = self._writer.existing["size"]

    def _call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        result: T = sync(self.fs.loop, fn, *args, **kwargs)
        return result

    # -- reading ---------------------------------------------------------------------

    def _fetch_range(self, start: int, end: int) -> bytes:
        return self._call(
            self.fs._read_range, self.path, start, min(end, self.size), self.etag, self.version_id
        )

    # -- writing ---------------------------------------------------------------------

    def write(self, data: Any) -> int:
        """Write ``data``; sent on as each block fills. Returns the bytes taken."""
        view = as_bytes_view(data)
        if (
            self.writable()
            and not self.forced
            and self.buffer.tell() == 0
            and view.nbytes >= self.blocksize
        ):
            # A big write goes straight to the upload, not through the buffer.
            assert self._writer is not None
            self._call(self._writer.write, view)
            self.offset = (self.offset or 0) + view.nbytes
            self.loc += view.nbytes
            return view.nbytes
        written: int = super().write(view)
        return written

    def _initiate_upload(self) -> None:
        """The upload begins with the first block sent (see ``_upload_chunk``)."""

    def _upload_chunk(self, final: bool = False) -> bool:
        assert self._writer is not None
        try:
            with self.buffer.getbuffer() as view:
                if final:
                    self._call(self._writer.finish, view, commit=self.autocommit)
                elif view.nbytes:
                    self._call(self._writer.write, view)
        except BaseException:
            self._abort()
            raise
        return True

    def commit(self) -> None:
        """Store the object (for files opened with ``autocommit=False``)."""
        if self._writer is not None:
            self._call(self._writer.commit)

    def discard(self) -> None:
        """Throw away what was written: abort the multipart upload, store nothing."""
        self._abort()

    def _abort(self) -> None:
        writer = self._writer
        if writer is None:
            return
        self.closed = True
        _run_teardown(self.fs.loop, writer.abort, f"aborting the upload of {self.path}")

    @property
    def info_written(self) -> ObjectInfo | None:
        """The stored object's info, once a write is committed."""
        return self._writer.info if self._writer is not None else None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and self.writable():
            self.discard()  # an error inside the block: nothing is stored
            return
        self.close()

    def __del__(self) -> None:
        if getattr(self, "closed", True):
            return
        if self.mode == "rb":
            self.closed = True
            return
        self._abort()  # dropped without close(): abort, never commit half a file


class S3AsyncFile(AbstractAsyncStreamedFile):  # type: ignore[misc]
    """A file for use from a running event loop (:meth:`S3FileSystem.open_async`).

    ``await f.read(n)`` fetches ranges pinned to the ETag the object had when opened;
    ``await f.write(data)`` streams through a multipart upload. An exception inside
    ``async with``, or :meth:`discard`, aborts the upload."""

    fs: S3FileSystem
    path: str
    mode: str
    size: int
    loc: int
    blocksize: int
    offset: int | None
    forced: bool
    buffer: io.BytesIO
    closed: bool

    def __init__(
        self,
        fs: S3FileSystem,
        path: str,
        mode: str,
        block_size: int,
        *,
        details: dict[str, Any] | None,
        version_id: str | None,
        write_options: dict[str, Any] | None = None,
    ) -> None:
        self.version_id = version_id
        self.etag: str | None = None
        self._writer: _Writer | None = None
        if mode == "rb":
            assert details is not None
            self.etag = details.get("ETag")
            if fs.version_aware:
                self.version_id = version_id or details.get("VersionId")
            super().__init__(fs, path, mode, block_size, cache_type="none", size=details["size"])
            self._details = details
        else:
            options = write_options if write_options is not None else fs._writes({})
            self._writer = _Writer(fs, path, mode, details if mode == "ab" else None, options)
            super().__init__(fs, path, mode, block_size)
            if details is not None and mode == "ab":
                self.loc = details["size"]

    def writable(self) -> bool:
        return self.mode in {"wb", "xb", "ab"} and not self.closed

    async def _fetch_range(self, start: int, end: int) -> bytes:
        return await self.fs._read_range(
            self.path, start, min(end, self.size), self.etag, self.version_id
        )

    async def write(self, data: Any) -> int:
        """Write ``data``; sent on as each block fills. Returns the bytes taken."""
        if not self.writable():
            raise ValueError("File not in write mode")
        if self.forced:
            raise ValueError("This file has been force-flushed, can only close")
        view = as_bytes_view(data)
        self.buffer.write(view)
        self.loc += view.nbytes
        if self.buffer.tell() >= self.blocksize:
            await self.flush()
        return view.nbytes

    async def flush(self, force: bool = False) -> None:
        if self.closed:
            raise ValueError("Flush on closed file")
        if force and self.forced:
            raise ValueError("Force flush cannot be called more than once")
        if force:
            self.forced = True
        if self.mode == "rb" or (not force and self.buffer.tell() < self.blocksize):
            return
        self.offset = self.offset or 0
        await self._upload_chunk(final=force)
        self.offset += self.buffer.seek(0, 2)
        self.buffer = io.BytesIO()

    async def _upload_chunk(self, final: bool = False) -> bool:
        assert self._writer is not None
        try:
            with self.buffer.getbuffer() as view:
                if final:
                    await self._writer.finish(view, commit=True)
                elif view.nbytes:
                    await self._writer.write(view)
        except BaseException:
            await self.discard()
            raise
        return True

    async def discard(self) -> None:
        """Throw away what was written: abort the multipart upload, store nothing."""
        self.closed = True
        if self._writer is not None:
            await self._writer.abort()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None and self.writable():
            await self.discard()
            return
        await self.close()

    def __del__(self) -> None:
        if getattr(self, "closed", True):
            return
        self.closed = True
        writer = self._writer
        if writer is None or writer.upload is None:
            return
        # Dropped unclosed: abort, on the loop the upload runs on.
        _run_teardown(writer.loop, writer.abort, f"aborting the upload of {self.path}")


def _fsspec_progress(callback: Any) -> Any:
    """aios3's ``progress=`` for an fsspec ``Callback``: its size set from the first
    event that knows it, then ``relative_update`` as bytes are acknowledged (parts the
    server answered, ranges written), so a progress bar moves during a 1 GiB transfer,
    not only at its end. ``None`` for fsspec's no-op default (no events at all)."""
    if callback is DEFAULT_CALLBACK or callback is None:
        return None
    seen = 0
    sized = False

    def on_progress(event: Progress) -> None:
        nonlocal seen, sized
        if not sized and event.bytes_total is not None:
            callback.set_size(event.bytes_total)
            sized = True
        if event.bytes_done > seen:
            callback.relative_update(event.bytes_done - seen)
            seen = event.bytes_done

    return on_progress
