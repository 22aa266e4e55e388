"""Request options that follow an operation to every request it makes.

A call such as ``download(key, sse_c=key)`` sends a HEAD and then one or many GETs;
``upload(..., sse_c=key)`` a CreateMultipartUpload, every UploadPart and the Complete;
``copy(..., source_sse_c=...)`` a HEAD of the source and CopyObject or UploadPartCopy
parts. Each of those requests must carry the customer key, and requester-pays or the
expected bucket owner apply to reads, lists, parts and deletes alike. So a call turns
its keywords into one :class:`RequestOptions` and hands it to every request it makes
(:meth:`S3.call`), which adds the parameters that request's operation takes, as
botocore's S3 model lists them (nothing is sent where S3 would refuse it).

What is written once, with the object (canned ACL, tags, SSE-S3 / SSE-KMS, object
lock) is checked here too (:func:`object_params`) and goes with the PutObject,
CreateMultipartUpload or CopyObject only.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias, TypedDict
from urllib.parse import urlencode

from ._exceptions import InvalidRequest

__all__ = [
    "NO_OPTIONS",
    "ONCE",
    "ObjectLock",
    "Payer",
    "ReadOptions",
    "RequestOptions",
    "SSECustomerKey",
    "WriteOptions",
    "object_params",
    "read_options",
    "request_options",
    "tagging",
    "write_options",
]

CannedACL: TypeAlias = Literal[
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
]
_ACLS = frozenset(CannedACL.__args__)  # type: ignore[attr-defined]
_SSE = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
_MAX_TAGS = 10  # S3's limits on an object's tags
_MAX_TAG_KEY = 128
_MAX_TAG_VALUE = 256
_TAG_TEXT = re.compile(r"[\w\s+\-=.:/@]*")  # letters, digits, spaces and + - = . _ : / @


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class SSECustomerKey:
    """A customer-provided encryption key (SSE-C): 32 bytes for AES-256.

    Give it as ``sse_c=`` to every call on an object stored with it (writes, reads,
    heads, downloads, copies, resumes), and as ``source_sse_c=`` for the source of a
    copy. The key is never logged, never in a ``repr`` or an error; its base64 form and
    MD5 are computed once, here.
    """

    __slots__ = ("_key", "_md5")

    def __init__(self, key: bytes | bytearray | memoryview) -> None:
        if isinstance(key, str) or not isinstance(key, bytes | bytearray | memoryview):
            raise InvalidRequest(
                f"an SSE-C key is 32 bytes, not {type(key).__name__} "
                "(os.urandom(32) makes one; keep it: S3 does not)"
            )
        raw = bytes(key)
        if len(raw) != 32:
            raise InvalidRequest(f"an SSE-C key is 32 bytes (AES-256); this one is {len(raw)}")
        self._key = _b64(raw)
        self._md5 = _b64(hashlib.md5(raw, usedforsecurity=False).digest())

    def __repr__(self) -> str:
        return "SSECustomerKey(<hidden>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SSECustomerKey) and other._md5 == self._md5

    def __hash__(self) -> int:
        return hash(self._md5)

    def __reduce__(self) -> Any:
        raise TypeError("an SSECustomerKey is not pickled (it would write the key out)")

    def params(self, prefix: str = "SSECustomer") -> dict[str, str]:
        """The request parameters (``SSECustomerAlgorithm``, ``...Key``, ``...KeyMD5``;
        ``prefix="CopySourceSSECustomer"`` for a copy's source)."""
        return {
            f"{prefix}Algorithm": "AES256",
            f"{prefix}Key": self._key,
            f"{prefix}KeyMD5": self._md5,
        }


@dataclass(frozen=True, slots=True)
class ObjectLock:
    """Object lock settings for a write: a retention ``mode`` ("GOVERNANCE" or
    "COMPLIANCE") until ``retain_until`` (an aware datetime), and/or a legal hold. The
    bucket must have object lock enabled."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"] | None = None
    retain_until: datetime | None = None
    legal_hold: bool | None = None

    def __post_init__(self) -> None:
        if self.mode not in (None, "GOVERNANCE", "COMPLIANCE"):
            raise InvalidRequest(f"object lock mode {self.mode!r}: GOVERNANCE or COMPLIANCE")
        if (self.mode is None) != (self.retain_until is None):
            raise InvalidRequest("object lock needs a mode and a retain_until date together")
        if self.retain_until is not None and (
            not isinstance(self.retain_until, datetime) or self.retain_until.tzinfo is None
        ):
            raise InvalidRequest("retain_until must be a timezone-aware datetime")

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.mode is not None:
            out["ObjectLockMode"] = self.mode
            out["ObjectLockRetainUntilDate"] = self.retain_until
        if self.legal_hold is not None:
            out["ObjectLockLegalHoldStatus"] = "ON" if self.legal_hold else "OFF"
        return out


def tagging(tags: Mapping[str, str]) -> str:
    """Tags as S3's ``Tagging`` value (URL-encoded), checked against S3's limits."""
    if not isinstance(tags, Mapping):
        raise InvalidRequest(f"tags must be a mapping of str to str, not {type(tags).__name__}")
    if len(tags) > _MAX_TAGS:
        raise InvalidRequest(f"{len(tags)} tags: S3 allows {_MAX_TAGS} on an object")
    for k, v in tags.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidRequest(f"tag {k!r}={v!r}: tag keys and values are str")
        if not k or len(k) > _MAX_TAG_KEY:
            raise InvalidRequest(f"tag key {k[:40]!r} must be 1 to {_MAX_TAG_KEY} characters")
        if len(v) > _MAX_TAG_VALUE:
            raise InvalidRequest(f"tag {k!r}: a value is at most {_MAX_TAG_VALUE} characters")
        if k.lower().startswith("aws:"):
            raise InvalidRequest(f"tag key {k!r}: the aws: prefix is reserved")
        for text in (k, v):
            if not _TAG_TEXT.fullmatch(text):
                raise InvalidRequest(
                    f"tag {k!r}={v!r}: S3 takes letters, digits, spaces and + - = . _ : / @"
                )
    return urlencode(dict(tags))


def object_params(
    *,
    sse_c: SSECustomerKey | None = None,
    sse: str | None = None,
    sse_kms_key_id: str | None = None,
    sse_kms_context: Mapping[str, str] | None = None,
    bucket_key: bool | None = None,
    acl: str | None = None,
    tags: Mapping[str, str] | None = None,
    object_lock: ObjectLock | None = None,
) -> dict[str, Any]:
    """The parameters written once with a new object, checked before any request."""
    out: dict[str, Any] = {}
    if sse_kms_key_id is not None or sse_kms_context is not None:
        sse = sse or "aws:kms"
        if not sse.startswith("aws:kms"):
            raise InvalidRequest(
                f"sse_kms_key_id / sse_kms_context need sse='aws:kms', not {sse!r}"
            )
    if sse is not None:
        if sse not in _SSE:
            raise InvalidRequest(f"sse={sse!r}: choose one of {sorted(_SSE)}")
        if sse_c is not None:
            raise InvalidRequest("sse_c (a customer key) and sse= are two encryptions; give one")
        out["ServerSideEncryption"] = sse
    if sse_kms_key_id is not None:
        out["SSEKMSKeyId"] = sse_kms_key_id
    if sse_kms_context is not None:
        import json  # (here: ~2 ms of every process's import otherwise)

        context = json.dumps(dict(sse_kms_context), separators=(",", ":"))
        out["SSEKMSEncryptionContext"] = _b64(context.encode())
    if bucket_key is not None:
        if not (sse or "").startswith("aws:kms"):
            raise InvalidRequest("bucket_key applies to SSE-KMS: give sse='aws:kms' too")
        out["BucketKeyEnabled"] = bool(bucket_key)
    if acl is not None:
        if acl not in _ACLS:
            raise InvalidRequest(f"acl={acl!r} is not a canned ACL: {sorted(_ACLS)}")
        out["ACL"] = acl
    if tags is not None:
        out["Tagging"] = tagging(tags)
    if object_lock is not None:
        if not isinstance(object_lock, ObjectLock):
            raise InvalidRequest("object_lock takes an aios3.ObjectLock")
        out.update(object_lock.params())
    return out


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """The parameters every request of one call carries where its operation takes
    them: the SSE-C key (``SSECustomer*``), the copy source's (``CopySource...``),
    ``RequestPayer``, ``ExpectedBucketOwner``."""

    params: Mapping[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"RequestOptions({sorted(self.params)})"  # names only: never a key

    def __reduce__(self) -> Any:
        raise TypeError("RequestOptions are not pickled (they may hold an SSE-C key)")

    def __bool__(self) -> bool:
        return bool(self.params)

    def for_operation(self, client: Any, operation: str) -> dict[str, Any]:
        """The parameters that ``operation`` (a client method name) takes."""
        members = _members(client, client.meta.method_to_api_mapping[operation])
        return {k: v for k, v in self.params.items() if k in members and v is not None}

    def merged(self, other: RequestOptions | None) -> RequestOptions:
        """These options, with ``other``'s on top."""
        if not other:
            return self
        if not self:
            return other
        return RequestOptions({**self.params, **other.params})


NO_OPTIONS = RequestOptions()


_MEMBERS: dict[str, frozenset[str]] = {}  # S3 operation -> its input members


def _members(client: Any, api_name: str) -> frozenset[str]:
    """The parameters ``api_name`` takes. Keyed by the operation alone: every client of
    this botocore has the same S3 model (a cache keyed by model kept one per session)."""
    members = _MEMBERS.get(api_name)
    if members is None:
        shape = client.meta.service_model.operation_model(api_name).input_shape
        members = _MEMBERS[api_name] = frozenset(shape.members)
    return members


def request_options(
    *,
    sse_c: SSECustomerKey | None = None,
    source_sse_c: SSECustomerKey | None = None,
    request_payer: bool | str | None = None,
    expected_bucket_owner: str | None = None,
) -> RequestOptions:
    """One call's :class:`RequestOptions`, from its keywords (checked)."""
    params: dict[str, Any] = {}
    for name, key, prefix in (
        ("sse_c", sse_c, "SSECustomer"),
        ("source_sse_c", source_sse_c, "CopySourceSSECustomer"),
    ):
        if key is None:
            continue
        if not isinstance(key, SSECustomerKey):
            raise InvalidRequest(f"{name} takes an aios3.SSECustomerKey(32 bytes)")
        params.update(key.params(prefix))
    if request_payer is False:
        params["RequestPayer"] = None  # this call declines the client's default
    elif request_payer is not None:
        if request_payer not in (True, "requester"):
            raise InvalidRequest(f"request_payer={request_payer!r}: True (or 'requester')")
        params["RequestPayer"] = "requester"
    if expected_bucket_owner is not None:
        owner = str(expected_bucket_owner)
        if not (owner.isdigit() and len(owner) == 12):
            raise InvalidRequest(
                f"expected_bucket_owner={owner!r} must be a 12-digit AWS account id"
            )
        params["ExpectedBucketOwner"] = owner
    return RequestOptions(params) if params else NO_OPTIONS


class Payer(TypedDict, total=False):
    """Keywords of every call that names a bucket, sent with each of its requests:

    - ``request_payer``: ``True`` accepts a requester-pays bucket's charges;
    - ``expected_bucket_owner``: the 12-digit account id that must own the bucket.

    Both default to the :class:`Config`'s.
    """

    request_payer: bool
    expected_bucket_owner: str


class ReadOptions(Payer, total=False):
    """Keywords every call on an object takes, sent with each of its requests: those
    of :class:`Payer`, and ``sse_c``, the :class:`SSECustomerKey` the object is (to
    be) stored with."""

    sse_c: SSECustomerKey


class WriteOptions(ReadOptions, total=False):
    """Keywords of the calls that write an object, on top of :class:`ReadOptions`;
    written once, with the object:

    - ``sse``: server-side encryption, ``"AES256"`` (SSE-S3) or ``"aws:kms"``
      (SSE-KMS; implied by ``sse_kms_key_id``), with ``sse_kms_key_id``,
      ``sse_kms_context`` (a mapping, sent as base64 JSON) and ``bucket_key``;
    - ``acl``: a canned ACL, e.g. ``"public-read"``;
    - ``tags``: the object's tags (at most 10; keys up to 128 characters, values 256);
    - ``object_lock``: an :class:`ObjectLock` (retention mode and date, legal hold).
    """

    sse: Literal["AES256", "aws:kms", "aws:kms:dsse"]
    sse_kms_key_id: str
    sse_kms_context: Mapping[str, str]
    bucket_key: bool
    acl: CannedACL
    tags: Mapping[str, str]
    object_lock: ObjectLock


_PAYER_KEYS = frozenset(Payer.__annotations__)
_READ_KEYS = frozenset(ReadOptions.__annotations__) | _PAYER_KEYS
_WRITE_KEYS = frozenset(WriteOptions.__annotations__) | _READ_KEYS
ONCE = frozenset(
    {
        "ACL",
        "Tagging",
        "ServerSideEncryption",
        "SSEKMSKeyId",
        "SSEKMSEncryptionContext",
        "BucketKeyEnabled",
        "ObjectLockMode",
        "ObjectLockRetainUntilDate",
        "ObjectLockLegalHoldStatus",
    }
)
"""The parameters :func:`object_params` makes: written once, with the object."""


def _check_keys(given: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise InvalidRequest(
            f"{what} got unexpected keyword(s) {unknown}; it takes {sorted(allowed)}"
        )


def read_options(
    given: Mapping[str, Any], *, what: str = "this call", payer_only: bool = False
) -> RequestOptions:
    """The :class:`RequestOptions` of a reading call's keywords (checked; only those
    of :class:`Payer` with ``payer_only``)."""
    if not given:
        return NO_OPTIONS
    _check_keys(given, _PAYER_KEYS if payer_only else _READ_KEYS, what)
    return request_options(**given)


def write_options(
    given: Mapping[str, Any], *, what: str = "this call"
) -> tuple[RequestOptions, dict[str, Any]]:
    """A writing call's keywords (checked): the options every request carries, and the
    parameters written with the object."""
    if not given:
        return NO_OPTIONS, {}
    _check_keys(given, _WRITE_KEYS, what)
    per_request = {k: v for k, v in given.items() if k in _READ_KEYS}
    once = {k: v for k, v in given.items() if k not in _READ_KEYS}
    return request_options(**per_request), object_params(sse_c=given.get("sse_c"), **once)
