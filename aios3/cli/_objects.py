"""``ls``, ``rm``, ``stat``, ``cat`` and ``presign``: each a library call, printed as
``aws s3`` prints it (``ls``, ``rm``, ``presign``) or plainly (``stat``, ``cat``)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .._client import S3
from .._exceptions import InvalidRequest
from .._info import ObjectInfo, Prefix
from ._output import Output, human_size, local_time
from ._parse import EXIT_FAILED
from ._transfer import is_s3, to_stdout

__all__ = ["cat", "ls", "presign", "rm", "stat"]


def _remote(target: str, verb: str) -> str:
    if not is_s3(target):
        raise InvalidRequest(f"{verb} takes an s3:// URL, not {target!r}")
    return target


# -- ls --------------------------------------------------------------------------------------


class _Page:
    """``aws s3 ls`` prints each page of a listing as its folders (``PRE``) first, then
    its objects. The library yields a page's objects, then its folders; this puts them
    back in aws's order, holding at most one page of objects: a page ends after
    ``size`` entries, or where an object follows a folder."""

    def __init__(self, size: int, emit: Any) -> None:
        self.size, self.emit = size, emit
        self.objects: list[ObjectInfo] = []
        self.count = 0
        self.after_prefix = False

    def add(self, item: ObjectInfo | Prefix) -> None:
        if isinstance(item, ObjectInfo) and self.after_prefix:
            self.flush()
        if isinstance(item, Prefix):
            self.after_prefix = True
            self.emit(item)
        else:
            self.objects.append(item)
        self.count += 1
        if self.count == self.size:
            self.flush()

    def flush(self) -> None:
        for obj in self.objects:
            self.emit(obj)
        self.objects, self.count, self.after_prefix = [], 0, False


async def ls(s3: S3, args: argparse.Namespace, out: Output) -> None:
    if not args.target or args.target == "s3://":
        for each in await s3.list_buckets():
            if args.json:
                out.record({"bucket": each.name, "created": each.created})
            else:
                out.data(f"{local_time(each.created)} {each.name}")
        return
    bucket, key = s3.name(_remote(args.target, "ls"), allow_empty_key=True)
    size_of = human_size if args.human_readable else str
    objects = total = 0

    def emit(item: ObjectInfo | Prefix) -> None:
        nonlocal objects, total
        if isinstance(item, Prefix):
            if args.json:
                out.record({"prefix": item.prefix})
            else:
                out.data(f"{'PRE':>30} {item.prefix.split('/')[-2]}/")
            return
        objects += 1
        total += item.size or 0
        if args.json:
            out.record(
                {
                    "key": item.key,
                    "size": item.size,
                    "last_modified": item.last_modified,
                    "etag": item.etag,
                    "storage_class": item.storage_class,
                }
            )
            return
        name = item.key if args.recursive else item.key.split("/")[-1]
        out.data(f"{local_time(item.last_modified)} {size_of(item.size or 0):>10} {name}")

    page = _Page(1000, emit)
    found = False
    delimiter = None if args.recursive else "/"
    async for item in s3.list(key, bucket=bucket, delimiter=delimiter):
        found = True
        page.add(item)
    page.flush()
    if args.summarize:
        if args.json:
            out.record({"summary": {"objects": objects, "bytes": total}})
        else:
            out.data(f"\nTotal Objects: {objects}")
            out.data(f"   Total Size: {size_of(total)}")
    if key and not found:  # as aws: a prefix that matches nothing is exit status 1
        out.status = out.status or EXIT_FAILED


# -- rm --------------------------------------------------------------------------------------


async def rm(s3: S3, args: argparse.Namespace, out: Output) -> None:
    target = _remote(args.target, "rm")
    if args.recursive:
        await s3.delete_prefix(target, filters=args.filters, dryrun=args.dryrun, on_item=out.item)
        out.summary_of_deletes()
        return
    bucket, key = s3.name(target)
    if not args.dryrun:
        await s3.delete(target)
    out.done("delete", f"s3://{bucket}/{key}", None, None)


# -- stat, cat, presign ------------------------------------------------------------------------


async def stat(s3: S3, args: argparse.Namespace, out: Output) -> None:
    """The object's head: size, times, etag, headers, user metadata, checksums."""
    info = await s3.head(_remote(args.target, "stat"))
    fields = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
    if args.json:
        out.record({"url": f"s3://{info.bucket}/{info.key}", **fields})
        return
    out.data(f"s3://{info.bucket}/{info.key}")
    for name, value in fields.items():
        if name in ("bucket", "key") or value is None or value == {}:
            continue
        if name == "metadata" or name == "checksums":
            for k, v in value.items():
                out.data(f"  {name}.{k}: {v}")
        elif name == "size":
            out.data(f"  size: {value} ({human_size(value)})")
        elif name == "last_modified":
            out.data(f"  last_modified: {value.isoformat()}")
        else:
            out.data(f"  {name}: {value}")


async def cat(s3: S3, args: argparse.Namespace, out: Output) -> None:
    """Each object's bytes to stdout, in order, as they stream in."""
    for target in args.targets:
        await to_stdout(s3, _remote(target, "cat"), out)
    out.close()


async def presign(s3: S3, args: argparse.Namespace, out: Output) -> None:
    out.data(await s3.presign(_remote(args.target, "presign"), expires=args.expires_in))
