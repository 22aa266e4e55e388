"""aios3: an asyncio S3 SDK for moving big objects fast, with flat memory.

    async with aios3.connect(endpoint="http://127.0.0.1:9000", default_bucket="data") as s3:
        await s3.upload("backups/db.dump", "db.dump")
        await s3.download("backups/db.dump", "restored.dump")

Everything public is importable from here; modules whose names begin with ``_`` are
private. ``aios3.testing`` runs real S3 servers on loopback for tests and examples;
``aios3.web`` serves objects to browsers and stores request bodies from Starlette /
FastAPI and aiohttp apps.
"""

import typing as _typing

from ._client import S3, connect
from ._config import Config, GiB, KiB, MiB, TransferConfig
from ._exceptions import (
    AccessDenied,
    ConfigError,
    Conflict,
    EndpointError,
    IntegrityError,
    InvalidRequest,
    NoSuchBucket,
    NoSuchKey,
    NoSuchUpload,
    NotFound,
    PreconditionFailed,
    S3Error,
    ServiceError,
    SourceNotFound,
    TransferError,
)
from ._info import (
    BucketInfo,
    DeleteFailure,
    DeleteResult,
    ObjectInfo,
    Prefix,
    StoredObject,
    UploadInfo,
    VersionInfo,
    content_disposition,
)
from ._multipart import MultipartUpload
from ._names import S3Name
from ._options import ObjectLock, Payer, ReadOptions, SSECustomerKey, WriteOptions
from ._presign import PresignedPart, PresignedPost, PresignedUpload
from ._progress import Progress, ProgressCallback
from ._redact import log_redaction
from ._stream import ObjectStream

if _typing.TYPE_CHECKING:
    from ._tree import TreeItem, TreeResult

__version__ = "0.1.0"

# names whose module loads at their first use: the folder calls' (~3 ms of import that
# a process that moves no folder never needs)
_LATER = {"TreeItem": "._tree", "TreeResult": "._tree"}


if not _typing.TYPE_CHECKING:  # (a checker that saw it would take any name for one)

    def __getattr__(name: str) -> object:
        module = _LATER.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}", name=name)
        from importlib import import_module

        value = getattr(import_module(module, __name__), name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LATER})


__all__ = [
    # the client
    "connect",
    "S3",
    "Config",
    "TransferConfig",
    # naming and describing objects
    "S3Name",
    "ObjectInfo",
    "StoredObject",
    "Prefix",
    "VersionInfo",
    "UploadInfo",
    "BucketInfo",
    "DeleteResult",
    "DeleteFailure",
    "content_disposition",
    # request options
    "SSECustomerKey",
    "ObjectLock",
    "ReadOptions",
    "WriteOptions",
    "Payer",
    # transfers
    "ObjectStream",
    "MultipartUpload",
    "TreeResult",
    "TreeItem",
    "Progress",
    "ProgressCallback",
    # browser uploads
    "PresignedPost",
    "PresignedUpload",
    "PresignedPart",
    # errors
    "S3Error",
    "InvalidRequest",
    "ConfigError",
    "NotFound",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchUpload",
    "SourceNotFound",
    "AccessDenied",
    "PreconditionFailed",
    "Conflict",
    "ServiceError",
    "EndpointError",
    "TransferError",
    "IntegrityError",
    # logging
    "log_redaction",
    # sizes
    "KiB",
    "MiB",
    "GiB",
]
