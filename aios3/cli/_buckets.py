"""``mb`` and ``rb``. As aws does, a bucket the service refuses to make or remove is
one ``make_bucket failed:`` / ``remove_bucket failed:`` line and exit status 1."""

from __future__ import annotations

import argparse

from .._client import S3
from .._exceptions import ConfigError, InvalidRequest, S3Error
from .._names import S3Name, validate_bucket
from ._output import Output
from ._parse import EXIT_FAILED

__all__ = ["mb", "rb"]


def _bucket(target: str, verb: str) -> str:
    if not target.startswith("s3://"):
        raise InvalidRequest(f"{verb} takes s3://BUCKET, not {target!r}")
    name = S3Name.parse(target)
    if name.key.strip("/"):
        raise InvalidRequest(f"{verb} takes s3://BUCKET, without a key: {target!r}")
    return validate_bucket(name.bucket or "")


def _refused(error: S3Error) -> bool:
    """An error of the service (or of reaching it), reported as aws reports a failed
    mb / rb; a usage or configuration error keeps its own exit status."""
    return not isinstance(error, ConfigError) and not (
        isinstance(error, InvalidRequest) and error.status is None
    )


async def mb(s3: S3, args: argparse.Namespace, out: Output) -> None:
    bucket = _bucket(args.target, "mb")
    try:
        await s3.create_bucket(bucket, region=args.bucket_region)
    except S3Error as exc:
        if not _refused(exc):
            raise
        out.error(f"make_bucket failed: s3://{bucket} {exc}")
        out.status = EXIT_FAILED
        return
    out.line(f"make_bucket: {bucket}")


async def rb(s3: S3, args: argparse.Namespace, out: Output) -> None:
    """``--force`` deletes every object first, one ``delete:`` line each as aws prints
    them, then the versions and unfinished uploads a versioned bucket still holds."""
    bucket = _bucket(args.target, "rb")
    try:
        if args.force:
            result = await s3.delete_prefix(f"s3://{bucket}/", on_item=out.item)
            if result.failed:
                out.error(
                    f"remove_bucket failed: Unable to delete all objects in the bucket, "
                    f"bucket will not be deleted ({len(result.failed)} not deleted)"
                )
                out.status = EXIT_FAILED
                return
        await s3.delete_bucket(bucket, force=args.force)
    except S3Error as exc:
        if not _refused(exc):
            raise
        out.error(f"remove_bucket failed: s3://{bucket} {exc}")
        out.status = EXIT_FAILED
        return
    out.line(f"remove_bucket: {bucket}")
