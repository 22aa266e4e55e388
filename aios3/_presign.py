"""Uploads a browser sends straight to S3: a presigned POST form
(:meth:`~aios3.S3.presign_post`) and the presigned parts of a multipart upload
(:meth:`~aios3.S3.presign_multipart`, :meth:`~aios3.S3.presign_upload_part`,
:meth:`~aios3.S3.complete_upload`, :meth:`~aios3.S3.abort_upload`). Mixed into
:class:`~aios3.S3`.

Both are signed with SigV4, whatever botocore would pick: in us-east-1 it presigns with
SigV2 unless told otherwise, which signs the Content-Type a browser adds to a part's PUT
(so the part is refused) and which newer regions do not accept at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ._config import MAX_PARTS, MIN_PART_SIZE
from ._core import ClientCore
from ._exceptions import ConfigError, IntegrityError, InvalidRequest, NoSuchUpload, translate
from ._info import ObjectInfo, _check_header, check_metadata, quote_etag, write_params
from ._multipart import PartPlan
from ._names import Name

__all__ = ["PresignOps", "PresignedPart", "PresignedPost", "PresignedUpload"]

MAX_PRESIGN_SECONDS = 7 * 24 * 3600
MAX_POST_SIZE = 5 * 1024**3  # S3 takes POST uploads of up to 5 GiB
FILENAME = "${filename}"
_POST_STATUSES = (200, 201, 204)
# Form fields the signing sets (or that carry the file): not the caller's to give.
_SIGNED_FIELDS = frozenset(
    {
        "key",
        "policy",
        "file",
        "awsaccesskeyid",
        "signature",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-signature",
        "x-amz-security-token",
    }
)
_CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
)


@dataclass(frozen=True, slots=True)
class PresignedPost:
    """A presigned POST: an HTML form (or ``FormData``) posted to ``url`` with every
    entry of ``fields``, then the file as the last field, named ``file``, uploads it.

    ``key`` is the key the form writes, or a template ending in ``${filename}`` that S3
    fills with the uploaded file's name. ``fields`` holds the policy and its signature,
    a credential that lets anyone upload until ``expires_at``: it is kept out of the
    ``repr``.
    """

    url: str
    fields: Mapping[str, str] = field(repr=False)
    bucket: str
    key: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PresignedPart:
    """One part of a :class:`PresignedUpload`: PUT the bytes ``[start:end]`` of the file
    to ``url`` (no other header is needed) and keep the response's ``ETag``."""

    number: int
    url: str = field(repr=False)
    start: int
    end: int

    @property
    def size(self) -> int:
        """The part's length in bytes."""
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """A multipart upload created for a browser to fill: one presigned PUT per part.

    Hand ``upload_id``, ``key`` and ``parts`` (number, url, byte range) to the page;
    once it has sent every part, finish with :meth:`S3.complete_upload` (or give up
    with :meth:`S3.abort_upload`). The URLs work until ``expires_at``.
    """

    bucket: str
    key: str
    upload_id: str
    size: int
    part_size: int
    parts: tuple[PresignedPart, ...]
    expires_at: datetime


def _seconds(expires: int | timedelta) -> int:
    seconds = expires.total_seconds() if isinstance(expires, timedelta) else expires
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidRequest(f"expires must be seconds or a timedelta, not {expires!r}")
    if not 1 <= seconds <= MAX_PRESIGN_SECONDS:
        raise InvalidRequest(
            f"expires={seconds:g} s: presigned requests last from 1 s to 7 days (604800 s)"
        )
    return int(seconds)


def _sigv4(signature_version: Any, **_: Any) -> str | None:
    """botocore's choose-signer hook: presign this client's URLs and POST forms with
    SigV4 (botocore picks SigV2 for presigning in regions that still take it, and AWS
    has retired SigV2 for new buckets)."""
    if not isinstance(signature_version, str):
        return None
    if signature_version.startswith(("v4a", "v4-s3express")):  # botocore's own choice
        return None
    for suffix in ("-presign-post", "-query"):
        if signature_version.endswith(suffix):
            return f"s3v4{suffix}"
    return None


class PresignOps(ClientCore):
    """Presigned browser uploads; see :class:`~aios3.S3`."""

    def _presigning_client(self) -> Any:
        if self.config.anonymous:
            raise ConfigError(
                "presigning needs credentials; this client is anonymous (anonymous=True)"
            )
        client = self.client
        events = client.meta.events
        for operation in ("PutObject", "UploadPart", "GetObject", "HeadObject", "DeleteObject"):
            events.register_first(
                f"choose-signer.s3.{operation}", _sigv4, unique_id=f"aios3-presign-v4-{operation}"
            )
        return client

    async def presign_post(
        self,
        name: Name,
        *,
        bucket: str | None = None,
        expires: int | timedelta = 3600,
        content_length_range: tuple[int, int] | None = None,
        content_type: str | None = None,
        content_type_prefix: str | None = None,
        content_disposition: str | None = None,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
        acl: str | None = None,
        success_action_status: int | None = None,
        fields: Mapping[str, str] | None = None,
        conditions: Sequence[Mapping[str, Any] | Sequence[Any]] = (),
    ) -> PresignedPost:
        """A presigned POST that lets a browser upload one file straight to S3 with an
        HTML form, within the limits set here, until it expires (at most 7 days).

        ``name`` is the key to write, or a key prefix: a name ending in ``/`` (or in
        ``${filename}``) lets the form write any key under that prefix, S3 putting the
        uploaded file's name in place of ``${filename}``.
        ``content_length_range=(min, max)`` bounds the file's size in bytes;
        ``content_type`` fixes the object's Content-Type, ``content_type_prefix``
        (``"image/"``) lets the form send any type starting with it (the form must then
        carry a ``Content-Type`` field). ``content_disposition``, ``cache_control``,
        ``metadata`` (``x-amz-meta-*``) and a canned ``acl`` are fixed fields of the
        form. ``fields`` adds more form fields, each bound to its exact value;
        ``conditions`` adds more POST policy conditions as S3 spells them. Everything is
        checked before any signing; nothing is sent to the server.
        """
        b, k = self.name(name, bucket=bucket)
        seconds = _seconds(expires)
        if FILENAME in k and not k.endswith(FILENAME):
            raise InvalidRequest(f"key {k!r}: ${{filename}} may only end the key")
        if k.endswith("/"):
            k += FILENAME
        form: dict[str, str] = {}
        policy: list[Any] = []

        def fixed(field_name: str, value: str) -> None:
            _check_header(field_name, value)
            form[field_name] = value
            policy.append({field_name: value})

        if content_length_range is not None:
            low, high = _length_range(content_length_range)
            policy.append(["content-length-range", low, high])
        if content_type is not None and content_type_prefix is not None:
            raise InvalidRequest("give content_type or content_type_prefix, not both")
        if content_type is not None:
            fixed("Content-Type", content_type)
        if content_type_prefix is not None:
            _check_header("content_type_prefix", content_type_prefix)
            policy.append(["starts-with", "$Content-Type", content_type_prefix])
        if content_disposition is not None:
            fixed("Content-Disposition", content_disposition)
        if cache_control is not None:
            fixed("Cache-Control", cache_control)
        for meta_key, value in check_metadata(metadata or {}).items():
            fixed(f"x-amz-meta-{meta_key}", value)
        if acl is not None:
            if acl not in _CANNED_ACLS:
                raise InvalidRequest(f"acl={acl!r}: choose one of {', '.join(_CANNED_ACLS)}")
            fixed("acl", acl)
        if success_action_status is not None:
            if success_action_status not in _POST_STATUSES:
                raise InvalidRequest("success_action_status must be 200, 201 or 204")
            fixed("success_action_status", str(success_action_status))
        for field_name, value in (fields or {}).items():
            if not isinstance(field_name, str) or not field_name:
                raise InvalidRequest(f"form field names must be non-empty str: {field_name!r}")
            if field_name.lower() in _SIGNED_FIELDS:
                raise InvalidRequest(f"fields must not give {field_name!r}: the form sets it")
            if field_name in form:
                raise InvalidRequest(f"fields repeats {field_name!r}, given by keyword")
            fixed(field_name, value)
        for condition in conditions:
            policy.append(_condition(condition))
        client = self._presigning_client()
        now = datetime.now(UTC)
        try:
            post = await client.generate_presigned_post(
                b, k, Fields=form, Conditions=policy, ExpiresIn=seconds
            )
        except Exception as exc:
            raise translate(exc, action="presign post", bucket=b, key=k) from exc
        return PresignedPost(
            url=post["url"],
            fields=dict(post["fields"]),
            bucket=b,
            key=k,
            expires_at=now + timedelta(seconds=seconds),
        )

    async def presign_upload_part(
        self,
        name: Name,
        upload_id: str,
        part_number: int,
        *,
        bucket: str | None = None,
        expires: int | timedelta = 3600,
    ) -> str:
        """A URL that lets a plain HTTP client PUT part ``part_number`` (1 to 10,000) of
        the multipart upload ``upload_id`` until it expires. The response's ``ETag`` is
        the part's; :meth:`complete_upload` can also find it on the server."""
        b, k = self.name(name, bucket=bucket)
        seconds = _seconds(expires)
        _check_upload_id(upload_id)
        if (
            not isinstance(part_number, int)
            or isinstance(part_number, bool)
            or not 1 <= part_number <= MAX_PARTS
        ):
            raise InvalidRequest(f"part_number={part_number!r} must be 1 to {MAX_PARTS}")
        return await self._part_url(b, k, upload_id, part_number, seconds)

    async def _part_url(
        self, bucket: str, key: str, upload_id: str, number: int, seconds: int
    ) -> str:
        client = self._presigning_client()
        params = {"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number}
        try:
            url: str = await client.generate_presigned_url(
                "upload_part", Params=params, ExpiresIn=seconds
            )
        except Exception as exc:
            raise translate(exc, action="presign upload part", bucket=bucket, key=key) from exc
        return url

    async def presign_multipart(
        self,
        name: Name,
        *,
        size: int,
        bucket: str | None = None,
        part_size: int | None = None,
        expires: int | timedelta = 3600,
        content_type: str | None = None,
        content_disposition: str | None = None,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> PresignedUpload:
        """Start a multipart upload of ``size`` bytes for a browser to send, part by
        part, each to its own presigned URL (a file too big for one POST, or sent in
        parallel and resumed part by part).

        The parts are ``part_size`` bytes (default: the transfer part size, raised to fit
        10,000 parts), the last one shorter. Headers and ``metadata`` are those of the
        object; ``content_type`` is guessed from the key when not given. Finish with
        :meth:`complete_upload`; an upload never completed stays (and is billed) until
        :meth:`abort_upload` or :meth:`abort_multipart_uploads` removes it.
        """
        b, k = self.name(name, bucket=bucket)
        seconds = _seconds(expires)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise InvalidRequest(f"size={size!r} must be a positive int (bytes)")
        plan = PartPlan(part_size=part_size, default=self.transfer.part_size, size=size)
        piece = plan.size_of(1)
        params = write_params(
            k,
            content_type=content_type,
            content_disposition=content_disposition,
            cache_control=cache_control,
            metadata=metadata,
        )
        self._presigning_client()  # refuse an anonymous client before creating anything
        resp = await self.call(
            "create_multipart_upload",
            action="create multipart upload",
            bucket=b,
            key=k,
            **params,
        )
        upload_id: str = resp["UploadId"]
        now = datetime.now(UTC)
        parts = []
        try:
            for number, start in enumerate(range(0, size, piece), 1):
                url = await self._part_url(b, k, upload_id, number, seconds)
                parts.append(PresignedPart(number, url, start, min(start + piece, size)))
        except BaseException:
            await self.abort_upload(k, upload_id, bucket=b)
            raise
        return PresignedUpload(
            bucket=b,
            key=k,
            upload_id=upload_id,
            size=size,
            part_size=piece,
            parts=tuple(parts),
            expires_at=now + timedelta(seconds=seconds),
        )

    async def complete_upload(
        self,
        name: Name,
        upload_id: str,
        *,
        bucket: str | None = None,
        size: int | None = None,
        etags: Mapping[int, str] | None = None,
    ) -> ObjectInfo:
        """Complete a multipart upload whose parts someone else sent (a browser, through
        :meth:`presign_multipart` or :meth:`presign_upload_part`); return the object's
        info.

        The parts are those the server holds (ListParts, every page), unless ``etags``
        maps each part number to the ETag its PUT answered. They must be numbered 1, 2,
        3... with none missing, and with ``size`` add up to it exactly: otherwise
        :class:`~aios3.IntegrityError` is raised and the upload is left open, so the
        missing parts can still be sent (abort it with :meth:`abort_upload`).
        """
        b, k = self.name(name, bucket=bucket)
        _check_upload_id(upload_id)
        listed = await self._list_parts(b, k, upload_id)
        if etags is not None:
            chosen = {}
            for number, etag in etags.items():
                if number not in listed:
                    raise IntegrityError(
                        f"complete s3://{b}/{k}: part {number} is not on the server",
                        bucket=b,
                        key=k,
                        upload_id=upload_id,
                        part_number=number,
                    )
                if quote_etag(etag) != listed[number][0]:
                    raise IntegrityError(
                        f"complete s3://{b}/{k}: part {number}'s ETag {etag!r} is not the "
                        "one the server holds",
                        bucket=b,
                        key=k,
                        upload_id=upload_id,
                        part_number=number,
                    )
                chosen[number] = listed[number]
            listed = chosen
        numbers = sorted(listed)
        missing = sorted(set(range(1, (numbers[-1] if numbers else 0) + 1)) - set(numbers))
        if not numbers or missing:
            raise IntegrityError(
                f"complete s3://{b}/{k}: "
                + (f"parts {missing[:10]} are missing" if numbers else "no part was sent"),
                bucket=b,
                key=k,
                upload_id=upload_id,
            )
        total = sum(listed[n][1] for n in numbers)
        if size is not None and total != size:
            raise IntegrityError(
                f"complete s3://{b}/{k}: the parts hold {total} bytes, not {size}",
                bucket=b,
                key=k,
                upload_id=upload_id,
            )
        small = [n for n in numbers[:-1] if listed[n][1] < MIN_PART_SIZE]
        if small:
            raise IntegrityError(
                f"complete s3://{b}/{k}: parts {small[:10]} are under 5 MiB; only the last "
                "part may be smaller",
                bucket=b,
                key=k,
                upload_id=upload_id,
            )
        await self.call(
            "complete_multipart_upload",
            action="complete multipart upload",
            bucket=b,
            key=k,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": listed[n][0]} for n in numbers]},
        )
        resp = await self.call("head_object", action="head", bucket=b, key=k)
        return ObjectInfo.from_response(b, k, resp)

    async def _list_parts(
        self, bucket: str, key: str, upload_id: str
    ) -> dict[int, tuple[str, int]]:
        """Part number -> (quoted ETag, size) of every part the server holds."""
        parts: dict[int, tuple[str, int]] = {}
        params: dict[str, Any] = {"UploadId": upload_id}
        while True:
            page = await self.call(
                "list_parts", action="list parts", bucket=bucket, key=key, **params
            )
            for p in page.get("Parts") or []:
                parts[int(p["PartNumber"])] = (quote_etag(p["ETag"]) or "", int(p.get("Size") or 0))
            marker = page.get("NextPartNumberMarker")
            if not page.get("IsTruncated") or not marker:
                return parts
            params["PartNumberMarker"] = marker

    async def abort_upload(self, name: Name, upload_id: str, *, bucket: str | None = None) -> None:
        """Abort a multipart upload: its parts are deleted and it can no longer complete.
        Aborting one that is already gone succeeds."""
        b, k = self.name(name, bucket=bucket)
        _check_upload_id(upload_id)
        with contextlib.suppress(NoSuchUpload):
            await self.call(
                "abort_multipart_upload",
                action="abort multipart upload",
                bucket=b,
                key=k,
                UploadId=upload_id,
            )


def _length_range(value: Any) -> tuple[int, int]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise InvalidRequest(
            f"content_length_range={value!r} must be a (min, max) pair of byte counts"
        ) from None
    for bound in (low, high):
        if not isinstance(bound, int) or isinstance(bound, bool):
            raise InvalidRequest(f"content_length_range={value!r}: give whole byte counts")
    if not 0 <= low <= high:
        raise InvalidRequest(f"content_length_range={value!r}: need 0 <= min <= max")
    if high > MAX_POST_SIZE:
        raise InvalidRequest(
            f"content_length_range={value!r}: a POST upload holds at most 5 GiB; "
            "use presign_multipart for more"
        )
    return low, high


def _condition(condition: Any) -> Any:
    """One extra POST policy condition, as S3 spells them: ``{"field": "value"}``,
    ``["eq" | "starts-with", "$field", "value"]`` or ``["content-length-range", a, b]``."""
    if isinstance(condition, Mapping):
        if len(condition) != 1 or not all(isinstance(v, str) for v in condition.values()):
            raise InvalidRequest(f"condition {condition!r}: give one {{field: value}} pair")
        return dict(condition)
    if isinstance(condition, Sequence) and not isinstance(condition, str) and len(condition) == 3:
        op = condition[0]
        if op == "content-length-range":
            low, high = _length_range(tuple(condition[1:]))
            return [op, low, high]
        if op in ("eq", "starts-with") and all(isinstance(c, str) for c in condition[1:]):
            if not condition[1].startswith("$"):
                raise InvalidRequest(f"condition {condition!r}: name the field as '$field'")
            return list(condition)
    raise InvalidRequest(
        f'condition {condition!r}: use {{field: value}}, ["eq" | "starts-with", '
        '"$field", value] or ["content-length-range", min, max]'
    )


def _check_upload_id(upload_id: Any) -> None:
    if not isinstance(upload_id, str) or not upload_id:
        raise InvalidRequest(f"upload_id={upload_id!r} must be a non-empty str")
