"""What aios3 knows about a stored object, and the headers a write sends."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from functools import cache, lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._exceptions import InvalidRequest

__all__ = ["ObjectInfo", "StoredObject", "write_params"]

CHECKSUM_FIELDS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
_DIGEST_SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}
_MULTIPART_ETAG = re.compile(r'(?:W/)?"?[^"]*-[0-9]+"?')
_EMPTY: Mapping[str, str] = MappingProxyType({})
MAX_METADATA_BYTES = 2048


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """A stored object's description, as returned by uploads, downloads, streams and
    ``head()``. Fields the server did not report are ``None``.

    ``etag`` is quoted as S3 sends it; ``metadata`` holds the user metadata
    (``x-amz-meta-*``) with lowercase keys; ``checksums`` maps an algorithm ("CRC32",
    "SHA256", ...) to its base64 value, which ends in ``-N`` for composite checksums.
    ``parts`` is the part count of a multipart object when known. ``encryption`` is
    how the server encrypted it: ``"AES256"`` (SSE-S3), ``"aws:kms"`` (with
    ``kms_key_id``) or ``"SSE-C"`` (a customer key, needed to read it).
    """

    bucket: str
    key: str
    size: int | None = None
    etag: str | None = None
    last_modified: datetime | None = None
    content_type: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    cache_control: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    version_id: str | None = None
    storage_class: str | None = None
    checksums: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    checksum_type: str | None = None
    parts: int | None = None
    encryption: str | None = None
    kms_key_id: str | None = None

    @classmethod
    def from_response(
        cls, bucket: str, key: str, resp: Mapping[str, Any], *, size: int | None = None
    ) -> ObjectInfo:
        """Build from a HeadObject / GetObject / PutObject response dict."""
        if size is None:
            size = _total_size(resp)
        checksums = {
            algo: resp[f"Checksum{algo}"] for algo in CHECKSUM_FIELDS if resp.get(f"Checksum{algo}")
        }
        version = resp.get("VersionId")
        return cls(
            bucket=bucket,
            key=key,
            size=size,
            etag=quote_etag(resp.get("ETag")),
            last_modified=resp.get("LastModified"),
            content_type=resp.get("ContentType"),
            content_disposition=resp.get("ContentDisposition"),
            content_encoding=resp.get("ContentEncoding"),
            content_language=resp.get("ContentLanguage"),
            cache_control=resp.get("CacheControl"),
            metadata=MappingProxyType(
                {k.lower(): v for k, v in (resp.get("Metadata") or {}).items()}
            ),
            version_id=None if version in (None, "null") else version,
            storage_class=resp.get("StorageClass"),
            checksums=MappingProxyType(checksums),
            checksum_type=resp.get("ChecksumType"),
            parts=resp.get("PartsCount"),
            encryption="SSE-C"
            if resp.get("SSECustomerAlgorithm")
            else resp.get("ServerSideEncryption"),
            kms_key_id=resp.get("SSEKMSKeyId"),
        )

    @classmethod
    def listed(
        cls,
        bucket: str,
        key: str,
        size: int | None,
        etag: str | None,
        last_modified: datetime | None,
        storage_class: str | None,
        checksum_type: str | None,
    ) -> ObjectInfo:
        """What a listing reports of an object, built at a third of the cost of
        ``ObjectInfo(...)`` (a listing builds a thousand a page): only these fields are
        set; the others read as their defaults (``__getattr__``)."""
        info = _new(cls)
        set_bucket, set_key, set_size, set_etag, set_modified, set_class, set_type = _LISTED
        set_bucket(info, bucket)
        set_key(info, key)
        set_size(info, size)
        set_etag(info, etag)
        set_modified(info, last_modified)
        set_class(info, storage_class)
        set_type(info, checksum_type)
        return info

    if not TYPE_CHECKING:  # hidden from type checkers: a misspelt field stays an error

        def __getattr__(self, name: str) -> Any:
            # A field a fast constructor (listed()) left unset: its default.
            try:
                return _UNSET_DEFAULTS[name]
            except KeyError:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}"
                ) from None

    @property
    def full_object_checksum(self) -> tuple[str, str] | None:
        """``(algorithm, value)`` of a checksum over the whole object's bytes, if the
        server reports one, else ``None``.

        The server's ``checksum_type`` decides where it reports one: FULL_OBJECT is,
        COMPOSITE (a checksum of the part checksums) is not. Where it reports none, a
        multipart object's checksum (ETag ``"...-N"``, or a part count) is taken as
        composite, as S3 makes them by default (some servers leave out the ``-N``),
        and a single-part object's as full. A value that is not the base64 of a digest
        of the algorithm's size is not one either: downloads check only what this
        returns (and always the length)."""
        kind = self.checksum_type
        if kind not in (None, "FULL_OBJECT"):
            return None
        if kind is None and (
            self.parts is not None
            or (self.etag is not None and _MULTIPART_ETAG.fullmatch(self.etag) is not None)
        ):
            return None
        for algo in CHECKSUM_FIELDS:
            value = self.checksums.get(algo)
            if value and _digest_size(value) == _DIGEST_SIZES[algo]:
                return algo, value
        return None


_new = object.__new__
# the slots' own setters of the fields listed() sets: past the frozen __setattr__, as
# object.__setattr__ is, at two thirds of its cost
_LISTED = tuple(
    ObjectInfo.__dict__[name].__set__
    for name in (
        "bucket",
        "key",
        "size",
        "etag",
        "last_modified",
        "storage_class",
        "checksum_type",
    )
)
# what ObjectInfo.listed() leaves unset reads as: each field's default
_UNSET_DEFAULTS: dict[str, Any] = {
    **{f.name: f.default for f in fields(ObjectInfo) if f.default is not MISSING},
    "metadata": _EMPTY,
    "checksums": _EMPTY,
}


@dataclass(frozen=True, slots=True)
class StoredObject(ObjectInfo):
    """The object a write just stored (:meth:`S3.upload`, a multipart upload's
    ``result``, :meth:`S3.copy`, ...): an :class:`ObjectInfo` whose ``size`` and
    ``etag`` are always there, typed ``int`` and ``str``."""

    size: int = 0
    etag: str = ""

    @classmethod
    def from_write(
        cls,
        bucket: str,
        key: str,
        params: Mapping[str, Any],
        resp: Mapping[str, Any],
        *,
        size: int,
        checksums: Mapping[str, str],
        checksum_type: str | None,
        parts: int | None = None,
    ) -> StoredObject:
        """Describe an object just written with ``params`` (botocore write parameters)."""
        version = resp.get("VersionId")
        return cls(
            bucket=bucket,
            key=key,
            size=size,
            etag=quote_etag(resp.get("ETag")) or "",
            content_type=params.get("ContentType"),
            content_disposition=params.get("ContentDisposition"),
            content_encoding=params.get("ContentEncoding"),
            content_language=params.get("ContentLanguage"),
            cache_control=params.get("CacheControl"),
            metadata=MappingProxyType(dict(params.get("Metadata") or {})),
            version_id=None if version in (None, "null") else version,
            storage_class=params.get("StorageClass"),
            checksums=MappingProxyType(dict(checksums)),
            checksum_type=checksum_type,
            parts=parts,
            encryption="SSE-C"
            if resp.get("SSECustomerAlgorithm")
            else resp.get("ServerSideEncryption"),
            kms_key_id=resp.get("SSEKMSKeyId"),
        )


def _digest_size(value: str) -> int | None:
    """The size of the digest ``value`` encodes in base64, or ``None`` if it is not
    base64 (a composite ``value-N``, say)."""
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return None


def quote_etag(etag: str | None) -> str | None:
    """ETags in S3's quoted form (some stores answer some operations unquoted)."""
    if not etag or etag.startswith(('"', 'W/"')):
        return etag
    return f'"{etag}"'


def _total_size(resp: Mapping[str, Any]) -> int | None:
    content_range = resp.get("ContentRange")
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    length = resp.get("ContentLength")
    return int(length) if length is not None else None


def guess_type(name: str) -> str | None:
    """The content type ``aws s3 cp`` would give ``name``, from its extension."""
    base = name.rpartition("/")[2]
    dot = base.find(".")
    return None if dot < 0 else _guess_suffix(base[dot:])


@lru_cache(maxsize=512)
def _guess_suffix(suffix: str) -> str | None:
    import mimetypes

    return mimetypes.guess_type("f" + suffix, strict=False)[0]


def write_params(
    key: str,
    *,
    content_type: str | None = None,
    content_disposition: str | None = None,
    content_encoding: str | None = None,
    content_language: str | None = None,
    cache_control: str | None = None,
    metadata: Mapping[str, str] | None = None,
    storage_class: str | None = None,
    extra: Mapping[str, Any] | None = None,
    written: Mapping[str, Any] | None = None,
    guess_from: str | None = None,
) -> dict[str, Any]:
    """The botocore parameters that describe a new object, checked before any request.

    With no ``content_type`` it is guessed from ``guess_from`` (a local file name) or the
    key's extension, as ``aws s3 cp`` does; an unknown extension leaves S3's default.
    ``extra`` passes further botocore parameters through (SSE, ACL, tagging, ...),
    checked as botocore checks them (a parameter of PutObject, CreateMultipartUpload or
    CopyObject, of the type its model gives) and as the keywords are (header values
    printable ASCII, metadata as ``metadata``): a mistake raises
    :class:`~aios3.InvalidRequest` here, whichever way the request is sent later.
    """
    params: dict[str, Any] = {}
    if content_type is None and not (extra and "ContentType" in extra):
        content_type = guess_type(guess_from or key)
    for name, value in (
        ("ContentType", content_type),
        ("ContentDisposition", content_disposition),
        ("ContentEncoding", content_encoding),
        ("ContentLanguage", content_language),
        ("CacheControl", cache_control),
        ("StorageClass", storage_class),
    ):
        if value is not None:
            _check_header(name, value)
            params[name] = value
    if metadata:
        params["Metadata"] = check_metadata(metadata)
    params.update(written or {})  # acl, tags, sse...: checked by _options.object_params
    if extra:
        clash = sorted(set(extra) & set(params))
        if clash:
            raise InvalidRequest(f"extra repeats parameters given by keyword: {clash}")
        params.update(check_extra(extra))
    return params


_OWN_PARAMS = frozenset({"Bucket", "Key", "Body", "CopySource"})
_WRITE_OPERATIONS = ("PutObject", "CreateMultipartUpload", "CopyObject")


@cache
def _write_shapes() -> tuple[Any, ...]:
    """The input shapes of the operations ``extra`` may go to (botocore's S3 model,
    loaded once)."""
    from botocore.loaders import create_loader
    from botocore.model import ServiceModel

    model = ServiceModel(create_loader().load_service_model("s3", "service-2"), "s3")
    return tuple(model.operation_model(name).input_shape for name in _WRITE_OPERATIONS)


def check_extra(extra: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``extra`` botocore parameters of an object write before any request: each
    a parameter of PutObject, CreateMultipartUpload or CopyObject, valid for its type by
    botocore's own validator, header values printable ASCII and user metadata as
    :func:`check_metadata` wants it. Returns them (metadata keys lower-cased)."""
    from botocore.validate import ParamValidator

    shapes = _write_shapes()
    checked: dict[str, Any] = {}
    for name, value in extra.items():
        if name in _OWN_PARAMS:
            raise InvalidRequest(f"extra must not give {name!r}: the call itself sets it")
        shape = next((s for s in shapes if name in s.members), None)
        if shape is None:
            known = ", ".join(_WRITE_OPERATIONS)
            raise InvalidRequest(f"extra parameter {name!r} is not a parameter of {known}")
        dummies = {required: "x" for required in shape.required_members}
        report = ParamValidator().validate({**dummies, name: value}, shape)
        if report.has_errors():
            raise InvalidRequest(f"extra parameter {name!r}: {report.generate_report()}")
        where = shape.members[name].serialization.get("location")
        if where == "headers":
            value = check_metadata(value)
        elif where == "header" and isinstance(value, str):
            _check_header(f"extra parameter {name!r}", value)
        checked[name] = value
    return checked


def check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Check user metadata: str keys and values, ASCII, 2 KiB in all (S3's limit)."""
    checked: dict[str, str] = {}
    total = 0
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidRequest(f"metadata keys and values must be str: {k!r}: {v!r}")
        if not k or not k.isascii() or not k.replace("-", "").replace("_", "").isalnum():
            raise InvalidRequest(f"metadata key {k!r}: use ASCII letters, digits, '-' and '_' only")
        _check_header(f"metadata {k!r}", v)
        total += len(k) + len(v)
        checked[k.lower()] = v
    if total > MAX_METADATA_BYTES:
        raise InvalidRequest(f"user metadata is {total} bytes; S3 allows {MAX_METADATA_BYTES}")
    return checked


# What an HTTP header value may not hold: control characters other than tab, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _check_header(name: str, value: str) -> None:
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a str, not {type(value).__name__}")
    if not value.isascii() or _CONTROL.search(value):
        raise InvalidRequest(
            f"{name} {value!r} must be printable ASCII (no control characters); encode "
            "non-ASCII text first (aios3.content_disposition() does it for file names)"
        )


def content_disposition(disposition: str = "attachment", *, filename: str) -> str:
    """A Content-Disposition value for ``filename``, safe for any Unicode name.

    ``content_disposition(filename="résumé.pdf")`` gives
    ``attachment; filename="resume.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf``
    (RFC 6266: an ASCII fallback plus the exact UTF-8 name that browsers prefer).
    In the fallback, accents are dropped and each run of other non-ASCII characters
    becomes ``_``; a name with no ASCII letter or digit left falls back to
    ``download`` with the name's extension (``報告.txt``: ``download.txt``).
    """
    from urllib.parse import quote

    if disposition not in ("attachment", "inline"):
        raise InvalidRequest('disposition must be "attachment" or "inline"')
    if not filename or "/" in filename or "\\" in filename:
        raise InvalidRequest(f"filename {filename!r} must be a bare, non-empty file name")
    fallback = _ascii_fallback(filename)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def _ascii_fallback(filename: str) -> str:
    """``filename`` in printable ASCII for a quoted ``filename="..."``."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", filename)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    ascii_only = re.sub(r'[^\x20-\x7e]+|["\\;]', "_", bare)
    if bare.isascii():
        return ascii_only
    stem, dot, extension = ascii_only.rpartition(".")
    if not dot:
        stem, extension = ascii_only, ""
    if any(c.isalnum() for c in stem):
        return ascii_only
    return "download" + (f".{extension}" if extension.isalnum() else "")


@dataclass(frozen=True, slots=True)
class Prefix:
    """A common prefix (a "folder") that :meth:`S3.list` yields when given a delimiter."""

    bucket: str
    prefix: str


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One version of a key, or a delete marker, in a versioned bucket."""

    bucket: str
    key: str
    version_id: str
    is_latest: bool
    is_delete_marker: bool
    size: int | None = None
    etag: str | None = None
    last_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """A multipart upload in progress (not yet completed or aborted)."""

    bucket: str
    key: str
    upload_id: str
    initiated: datetime | None = None


@dataclass(frozen=True, slots=True)
class BucketInfo:
    """A bucket, as :meth:`S3.list_buckets` reports it."""

    name: str
    created: datetime | None = None


@dataclass(frozen=True, slots=True)
class DeleteFailure:
    """A key that a delete did not remove, with the server's reason."""

    bucket: str
    key: str
    code: str
    message: str
    version_id: str | None = None


@dataclass(slots=True)
class DeleteResult:
    """What :meth:`S3.delete_many` and :meth:`S3.delete_prefix` did: the count of keys
    deleted, and each key that was not, with why. Nothing is dropped silently."""

    deleted: int = 0
    failed: list[DeleteFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every key was deleted."""
        return not self.failed

    def raise_for_failures(self) -> None:
        """Raise :class:`~aios3.S3Error` naming the first failures, if there were any."""
        if self.failed:
            from ._exceptions import S3Error

            shown = ", ".join(f"{f.key} ({f.code})" for f in self.failed[:5])
            more = f" and {len(self.failed) - 5} more" if len(self.failed) > 5 else ""
            raise S3Error(f"{len(self.failed)} keys were not deleted: {shown}{more}")
