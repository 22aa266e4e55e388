"""Naming objects: ``S3Name``, ``s3://`` URLs, and the S3 rules for bucket names and keys."""

from __future__ import annotations

import re
from typing import NamedTuple, TypeAlias

from ._exceptions import InvalidRequest

__all__ = ["Name", "S3Name", "resolve", "validate_bucket", "validate_key"]

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_RE = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
MAX_KEY_BYTES = 1024


class S3Name(NamedTuple):
    """An object's name: a key, and the bucket it is in (``None``: the default bucket)."""

    key: str
    bucket: str | None = None

    @classmethod
    def parse(cls, url: str) -> S3Name:
        """Parse ``s3://bucket/key`` (or ``s3://bucket``, whose key is empty)."""
        if not url.startswith("s3://"):
            raise InvalidRequest(f"not an s3:// URL: {url!r}")
        bucket, _, key = url[5:].partition("/")
        if not bucket:
            raise InvalidRequest(f"no bucket in {url!r}; write s3://bucket/key")
        return cls(key, bucket)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.bucket else self.key


Name: TypeAlias = "str | S3Name"
"""Anything that names an object: a key, an ``s3://bucket/key`` URL, or an :class:`S3Name`."""


def validate_bucket(bucket: str) -> str:
    """Check ``bucket`` against S3's naming rules; raise :class:`InvalidRequest` if broken."""
    problem = None
    if not isinstance(bucket, str):
        problem = "must be a str"
    elif not 3 <= len(bucket) <= 63:
        problem = "must be 3 to 63 characters long"
    elif not _BUCKET_RE.match(bucket):
        problem = (
            "may hold only lowercase letters, digits, '.' and '-', "
            "and must begin and end with a letter or digit"
        )
    elif ".." in bucket or ".-" in bucket or "-." in bucket:
        problem = "must not hold '..', '.-' or '-.'"
    elif _IP_RE.match(bucket):
        problem = "must not look like an IP address"
    elif bucket.startswith(("xn--", "sthree-")) or bucket.endswith(("-s3alias", "--ol-s3")):
        problem = "uses a prefix or suffix that S3 reserves"
    if problem:
        raise InvalidRequest(f"invalid bucket name {bucket!r}: {problem}", bucket=str(bucket))
    return bucket


def validate_key(key: str, *, bucket: str | None = None, allow_empty: bool = False) -> str:
    """Check an object key: a non-empty str of at most 1,024 bytes in UTF-8."""
    if not isinstance(key, str):
        raise InvalidRequest(f"a key must be a str, not {type(key).__name__}", bucket=bucket)
    if not key and not allow_empty:
        raise InvalidRequest("the key is empty; name the object", bucket=bucket)
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidRequest(f"the key {key!r} is not valid UTF-8", bucket=bucket) from exc
    if size > MAX_KEY_BYTES:
        raise InvalidRequest(
            f"the key is {size} bytes in UTF-8; S3 allows at most {MAX_KEY_BYTES}",
            bucket=bucket,
            key=key[:64] + "...",
        )
    return key


def resolve(
    name: Name,
    default_bucket: str | None,
    *,
    bucket: str | None = None,
    allow_empty_key: bool = False,
) -> tuple[str, str]:
    """Turn a key, ``s3://`` URL or :class:`S3Name` into a checked ``(bucket, key)``.

    ``bucket`` (a call's explicit ``bucket=``) wins over the name's own and the default.
    """
    if isinstance(name, S3Name):
        key, own = name.key, name.bucket
    elif isinstance(name, str):
        if name.startswith("s3://"):
            key, own = S3Name.parse(name)
        else:
            key, own = name, None
    else:
        raise InvalidRequest(
            f"name an object with a key, an s3:// URL or an S3Name, not {type(name).__name__}"
        )
    chosen = bucket or own or default_bucket
    if not chosen:
        raise InvalidRequest(
            f"no bucket for {key!r}: pass an s3://bucket/key URL, S3Name(key, bucket) "
            "or bucket=, or connect with default_bucket="
        )
    validate_bucket(chosen)
    validate_key(key, bucket=chosen, allow_empty=allow_empty_key)
    return chosen, key
