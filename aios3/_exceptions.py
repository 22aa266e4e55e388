"""The exceptions aios3 raises, and the translation of botocore's errors into them.

The hierarchy::

    S3Error                      every error aios3 raises derives from this
    ├── InvalidRequest           bad names or arguments (also a ValueError); raised
    │   │                        before any request where the mistake can be seen locally
    │   └── ConfigError          an unusable configuration (file, mapping, environment)
    ├── NotFound                 404: the bucket, key, version or upload does not exist
    │   ├── NoSuchBucket
    │   ├── NoSuchKey
    │   ├── NoSuchUpload
    │   └── SourceNotFound   a directory call's source folder or prefix is missing
    ├── AccessDenied             403: wrong credentials, signature, or no permission
    ├── PreconditionFailed       412: If-Match / If-None-Match did not hold
    ├── Conflict                 409: a concurrent write won, or the bucket is not empty
    ├── ServiceError             any other answer of the server that is an error
    ├── EndpointError            the endpoint could not be reached or did not answer
    └── TransferError            a transfer failed; carries bucket, key, upload id, part
        └── IntegrityError       received bytes do not match their length or checksum

Server-side errors keep the S3 error ``code``, the HTTP ``status`` and the
``request_id``; the original botocore exception is chained as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AccessDenied",
    "ConfigError",
    "Conflict",
    "EndpointError",
    "IntegrityError",
    "InvalidRequest",
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchUpload",
    "NotFound",
    "PreconditionFailed",
    "S3Error",
    "ServiceError",
    "SourceNotFound",
    "TransferError",
]


class S3Error(Exception):
    """Base class of every error aios3 raises.

    Attributes that do not apply are ``None``: ``code`` (the S3 error code, such as
    ``NoSuchKey``), ``status`` (HTTP status), ``request_id``, ``bucket`` and ``key``.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        bucket: str | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.bucket = bucket
        self.key = key


class InvalidRequest(S3Error, ValueError):
    """A name or argument is not acceptable; nothing was sent."""


class ConfigError(InvalidRequest):
    """The configuration (keywords, mapping, TOML file or environment) is unusable."""


class NotFound(S3Error):
    """The bucket, key, version or multipart upload does not exist (HTTP 404)."""


class NoSuchBucket(NotFound):
    """The bucket does not exist. Create it first, or check its name and region."""


class NoSuchKey(NotFound):
    """The object does not exist in the bucket."""


class NoSuchUpload(NotFound):
    """The multipart upload id is unknown: completed, aborted, or never created."""


class SourceNotFound(NotFound):
    """The source of a directory transfer does not exist: a local folder that is
    missing or is not a folder, or an S3 prefix that holds no objects. Raised before
    anything is written or deleted."""


class AccessDenied(S3Error):
    """The server refused the credentials or the permission (HTTP 403)."""


class PreconditionFailed(S3Error):
    """A conditional request's If-Match / If-None-Match did not hold (HTTP 412)."""


class Conflict(S3Error):
    """A concurrent operation conflicted, or a bucket is not empty (HTTP 409)."""


class ServiceError(S3Error):
    """The server answered with an error that has no more specific class."""


class EndpointError(S3Error):
    """The endpoint could not be reached, or did not answer in time."""


class TransferError(S3Error):
    """Moving bytes failed after the retries allowed.

    Besides ``bucket`` and ``key`` it carries ``upload_id`` and ``part_number``
    where they apply. The underlying error is chained as ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        upload_id: str | None = None,
        part_number: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.upload_id = upload_id
        self.part_number = part_number


class IntegrityError(TransferError):
    """Bytes received or stored do not match their expected length or checksum."""


_BY_CODE: dict[str, type[S3Error]] = {
    "NoSuchBucket": NoSuchBucket,
    "NoSuchKey": NoSuchKey,
    "NoSuchUpload": NoSuchUpload,
    "NoSuchVersion": NotFound,
    "NotFound": NotFound,
    "404": NotFound,
    "AccessDenied": AccessDenied,
    "InvalidAccessKeyId": AccessDenied,
    "SignatureDoesNotMatch": AccessDenied,
    "ExpiredToken": AccessDenied,
    "InvalidToken": AccessDenied,
    "AllAccessDisabled": AccessDenied,
    "403": AccessDenied,
    "PreconditionFailed": PreconditionFailed,
    "412": PreconditionFailed,
    "ConditionalRequestConflict": Conflict,
    "BucketNotEmpty": Conflict,
    "BucketAlreadyExists": Conflict,
    "BucketAlreadyOwnedByYou": Conflict,
    "OperationAborted": Conflict,
    "InvalidBucketName": InvalidRequest,
    "KeyTooLongError": InvalidRequest,
    "InvalidArgument": InvalidRequest,
    "InvalidRange": InvalidRequest,
    "EntityTooSmall": InvalidRequest,
    "EntityTooLarge": InvalidRequest,
    "InvalidPart": TransferError,
    "InvalidPartOrder": TransferError,
    "BadDigest": IntegrityError,
    "InvalidDigest": IntegrityError,
    "XAmzContentSHA256Mismatch": IntegrityError,
}

_BY_STATUS: dict[int, type[S3Error]] = {
    403: AccessDenied,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
}

_HINTS: dict[type[S3Error], str] = {
    NoSuchBucket: "create the bucket first, or check its name",
    NoSuchKey: "check the key; keys are case-sensitive",
    AccessDenied: "check the credentials, the region and the bucket's policy",
    PreconditionFailed: "the object changed (or exists); read it again before writing",
}


def closed_error(bucket: str, key: str, upload_id: str | None = None) -> TransferError:
    """What a transfer stopped by :meth:`S3.close` raises to its task."""
    return TransferError(
        "the S3 client was closed while this transfer was in progress; "
        "it was stopped and cleaned up (an upload aborted, a download removed)",
        bucket=bucket,
        key=key,
        upload_id=upload_id,
    )


class ErrorAnswer(Exception):
    """An error answer read without botocore (a 404 to one of the first requests, see
    :mod:`._first`): ``response`` is the dict botocore's parser makes of it, as a
    ``ClientError`` carries it, and :func:`translate` reads it the same way."""

    def __init__(self, response: dict[str, Any], operation_name: str) -> None:
        error = response.get("Error") or {}
        super().__init__(
            f"An error occurred ({error.get('Code')}) when calling the {operation_name} "
            f"operation: {error.get('Message') or 'Unknown'}"
        )
        self.response = response
        self.operation_name = operation_name

    def __reduce__(self) -> tuple[type[ErrorAnswer], tuple[dict[str, Any], str]]:
        return type(self), (self.response, self.operation_name)


def _target(bucket: str | None, key: str | None) -> str:
    """What an error names: " s3://bucket/key", " s3://bucket", or nothing."""
    where = f"s3://{bucket}/{key}" if bucket and key else (f"s3://{bucket}" if bucket else "")
    return f" {where}" if where else ""


def _answered(
    response: Mapping[str, Any], *, action: str, bucket: str | None, key: str | None
) -> S3Error:
    """The :class:`S3Error` of an error answer (botocore's parsed dict of it)."""
    target = _target(bucket, key)
    err = response.get("Error", {}) or {}
    meta = response.get("ResponseMetadata", {}) or {}
    code = str(err.get("Code") or "")
    status = meta.get("HTTPStatusCode")
    cls = _BY_CODE.get(code) or _BY_STATUS.get(status or 0) or ServiceError
    if cls is NotFound and code in ("404", "NotFound") and key is None and bucket:
        cls = NoSuchBucket
    text = err.get("Message") or code or "error"
    hint = _HINTS.get(cls)
    if status is not None and 300 <= status < 400:
        location = (meta.get("HTTPHeaders") or {}).get("location")
        hint = (
            f"the endpoint redirected{f' to {location}' if location else ''}; a signed "
            "request is never sent on to another host: check the endpoint and region"
        )
    msg = f"{action}{target} failed: {code or status}: {text}"
    if hint:
        msg += f" ({hint})"
    return cls(
        msg,
        code=code or None,
        status=status,
        request_id=meta.get("RequestId"),
        bucket=bucket,
        key=key,
    )


def translate(
    exc: BaseException,
    *,
    action: str,
    bucket: str | None = None,
    key: str | None = None,
) -> S3Error:
    """Turn a botocore / aiohttp exception into the matching :class:`S3Error`.

    ``action`` names what was attempted ("get", "upload part 3"); it starts the message.
    An :class:`S3Error` passes through unchanged.
    """
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, ErrorAnswer):
        return _answered(exc.response, action=action, bucket=bucket, key=key)
    from botocore import exceptions as bex

    target = _target(bucket, key)
    if isinstance(exc, bex.ClientError):
        return _answered(exc.response, action=action, bucket=bucket, key=key)
    if isinstance(exc, bex.ParamValidationError):  # botocore refused it; nothing was sent
        return InvalidRequest(f"{action}{target}: {exc}", bucket=bucket, key=key)
    if isinstance(exc, bex.NoCredentialsError | bex.PartialCredentialsError):
        return ConfigError(
            f"{action}{target}: no usable credentials; pass access_key_id/secret_access_key, "
            "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use anonymous=True",
            bucket=bucket,
            key=key,
        )
    if isinstance(
        exc,
        bex.EndpointConnectionError
        | bex.ConnectTimeoutError
        | bex.ReadTimeoutError
        | bex.ConnectionClosedError
        | TimeoutError
        | OSError,
    ):
        return EndpointError(
            f"{action}{target} failed: the endpoint did not answer ({type(exc).__name__}: {exc})",
            bucket=bucket,
            key=key,
        )
    return TransferError(
        f"{action}{target} failed: {type(exc).__name__}: {exc}", bucket=bucket, key=key
    )
