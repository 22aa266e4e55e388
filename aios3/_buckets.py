"""Operations on buckets: create, check, list, delete (with force), versioning, and
finding and aborting orphaned multipart uploads. Mixed into :class:`~aios3.S3`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ._exceptions import Conflict, NoSuchUpload, NotFound
from ._info import BucketInfo, UploadInfo, VersionInfo
from ._names import Name, validate_bucket
from ._objects import ObjectOps

__all__ = ["BucketOps"]


class BucketOps(ObjectOps):
    """Bucket operations; see :class:`~aios3.S3`."""

    async def create_bucket(
        self, name: str, *, region: str | None = None, exist_ok: bool = False
    ) -> None:
        """Create a bucket, in ``region`` (default: the client's). Outside us-east-1 the
        request carries a LocationConstraint, as S3 requires. ``exist_ok`` tolerates a
        bucket these credentials already own."""
        validate_bucket(name)
        region = region or (await self._built()).meta.region_name or "us-east-1"
        params: dict[str, Any] = {}
        if region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await self.call("create_bucket", action="create bucket", bucket=name, **params)
        except Conflict as err:
            if not (exist_ok and err.code == "BucketAlreadyOwnedByYou"):
                raise

    async def list_buckets(self) -> list[BucketInfo]:
        """The buckets these credentials own."""
        try:
            resp = await (await self._built()).list_buckets()
        except Exception as exc:
            from ._exceptions import translate

            raise translate(exc, action="list buckets") from exc
        return [BucketInfo(b["Name"], b.get("CreationDate")) for b in resp.get("Buckets", [])]

    async def delete_bucket(self, name: str, *, force: bool = False) -> None:
        """Delete a bucket. It must be empty, unless ``force``: then every object version,
        delete marker and in-progress multipart upload goes first, like
        ``aws s3 rb --force`` (and more: versions and uploads too)."""
        validate_bucket(name)
        if force:
            await self.abort_multipart_uploads(bucket=name)

            async def versions() -> AsyncIterator[tuple[Name, str]]:
                async for v in self.list_versions(bucket=name):
                    yield (v.key, v.version_id)

            result = await self.delete_many(versions(), bucket=name)
            result.raise_for_failures()
            # Unversioned objects written meanwhile, or stores that list them apart.
            (await self.delete_prefix("", bucket=name)).raise_for_failures()
        await self.call("delete_bucket", action="delete bucket", bucket=name)

    # -- versioning ------------------------------------------------------------------

    async def set_versioning(self, bucket: str, enabled: bool) -> None:
        """Enable (``True``) or suspend (``False``) versioning of a bucket."""
        status = "Enabled" if enabled else "Suspended"
        await self.call(
            "put_bucket_versioning",
            action="set versioning",
            bucket=validate_bucket(bucket),
            VersioningConfiguration={"Status": status},
        )

    async def get_versioning(self, bucket: str) -> Literal["Enabled", "Suspended"] | None:
        """The bucket's versioning status; ``None`` if it was never enabled."""
        resp = await self.call(
            "get_bucket_versioning", action="get versioning", bucket=validate_bucket(bucket)
        )
        status = resp.get("Status")
        return status if status in ("Enabled", "Suspended") else None

    async def list_versions(
        self, prefix: Name = "", *, bucket: str | None = None
    ) -> AsyncIterator[VersionInfo]:
        """Every version and delete marker under ``prefix``, paged lazily. Read a given
        version with ``stream``/``get``/``download(..., version_id=...)``."""
        b, p = self.name(prefix, bucket=bucket, allow_empty_key=True)
        markers = {"NextKeyMarker": "KeyMarker", "NextVersionIdMarker": "VersionIdMarker"}
        async with self._pages(
            "list_object_versions", "list versions", b, {"Prefix": p}, markers
        ) as listing:
            async for page in listing:
                for v in page.get("Versions") or ():
                    yield VersionInfo(
                        b,
                        v["Key"],
                        v.get("VersionId") or "null",
                        bool(v.get("IsLatest")),
                        False,
                        v.get("Size"),
                        v.get("ETag"),
                        v.get("LastModified"),
                    )
                for m in page.get("DeleteMarkers") or ():
                    yield VersionInfo(
                        b,
                        m["Key"],
                        m.get("VersionId") or "null",
                        bool(m.get("IsLatest")),
                        True,
                        None,
                        None,
                        m.get("LastModified"),
                    )

    # -- multipart uploads in progress --------------------------------------------------

    async def list_multipart_uploads(
        self, prefix: Name = "", *, bucket: str | None = None
    ) -> AsyncIterator[UploadInfo]:
        """Multipart uploads in progress under ``prefix`` (billed until aborted)."""
        b, p = self.name(prefix, bucket=bucket, allow_empty_key=True)
        markers = {"NextKeyMarker": "KeyMarker", "NextUploadIdMarker": "UploadIdMarker"}
        async with self._pages(
            "list_multipart_uploads", "list multipart uploads", b, {"Prefix": p}, markers
        ) as listing:
            async for page in listing:
                for u in page.get("Uploads") or ():
                    yield UploadInfo(b, u["Key"], u["UploadId"], u.get("Initiated"))

    async def abort_multipart_uploads(
        self,
        prefix: Name = "",
        *,
        bucket: str | None = None,
        older_than: timedelta | None = None,
    ) -> int:
        """Abort the uploads in progress under ``prefix`` (only those started more than
        ``older_than`` ago, if given), and return how many were aborted."""
        cutoff = datetime.now(UTC) - older_than if older_than is not None else None
        targets = [
            u
            async for u in self.list_multipart_uploads(prefix, bucket=bucket)
            if cutoff is None or u.initiated is None or u.initiated <= cutoff
        ]
        for u in targets:
            with contextlib.suppress(NoSuchUpload, NotFound):
                await self.call(
                    "abort_multipart_upload",
                    action="abort multipart upload",
                    bucket=u.bucket,
                    key=u.key,
                    UploadId=u.upload_id,
                )
        return len(targets)
