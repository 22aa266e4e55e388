"""``cp``, ``mv`` and ``sync``: each a library call (or two: ``mv`` deletes a source once
its copy succeeded). Nothing here moves bytes itself."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._client import S3
from .._config import MiB
from .._exceptions import InvalidRequest, S3Error, SourceNotFound
from .._names import S3Name
from .._sources import PipeReader
from .._tree import TreeItem
from ._output import Output

__all__ = ["cp", "mv", "sync"]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_PIPE_SIZE = 1 * MiB


def is_s3(target: str) -> bool:
    return target.startswith("s3://")


# -- what the options ask of the library ------------------------------------------------------


def write_options(args: argparse.Namespace, *, disposition: bool = True) -> dict[str, Any]:
    """The headers, metadata and ACL given for what a command writes, as keywords of
    the library call; ``disposition=False`` for calls without ``content_disposition``
    (it then goes in ``extra``, with the ACL)."""
    given: dict[str, Any] = {
        "content_type": args.content_type,
        "cache_control": args.cache_control,
        "metadata": args.metadata,
        "storage_class": args.storage_class,
    }
    extra: dict[str, Any] = {}
    if args.acl:
        extra["ACL"] = args.acl
    if args.content_disposition is not None:
        if disposition:
            given["content_disposition"] = args.content_disposition
        else:
            extra["ContentDisposition"] = args.content_disposition
    if extra:
        given["extra"] = extra
    return {k: v for k, v in given.items() if v is not None}


def folder_options(
    args: argparse.Namespace, out: Output, on_item: Callable[[TreeItem], None] | None = None
) -> dict[str, Any]:
    """The keywords every folder call takes from the command line."""
    return {
        "filters": args.filters,
        "dryrun": args.dryrun,
        "jobs": args.jobs,
        "on_item": on_item or out.item,
        **progress_option(out),
    }


def progress_option(out: Output) -> dict[str, Any]:
    """``progress=`` for a transfer: the bars' callback when bars are drawn."""
    return {"progress": out.progress} if out.bars is not None else {}


# -- stdin / stdout --------------------------------------------------------------------------


def _widen_pipe(fd: int) -> None:
    """Ask for a 1 MiB pipe buffer (Linux): the default 64 KiB one wakes the reader and
    the writer every 64 KiB, which costs more CPU than the upload it feeds."""
    getpipe = getattr(fcntl, "F_GETPIPE_SZ", None)  # Linux only; Python >= 3.10
    if getpipe is None or not stat.S_ISFIFO(os.fstat(fd).st_mode):
        return
    with contextlib.suppress(OSError):  # above /proc/sys/fs/pipe-max-size: keep it
        if fcntl.fcntl(fd, getpipe) < _PIPE_SIZE:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)


def _stdin() -> Any:
    """Standard input as an upload source. A pipe is read through the event loop
    straight into the part buffers, so Ctrl-C never waits on a thread blocked in
    read(); a redirected file is read as one."""
    fd = sys.stdin.fileno()
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return sys.stdin.buffer
    _widen_pipe(fd)
    return PipeReader(fd)


async def to_stdout(s3: S3, url: str, out: Output) -> int:
    """Write an object to stdout as it streams in; return its size."""
    written = 0
    sink = sys.stdout.buffer
    async with s3.stream(url, **progress_option(out)) as body:
        async for chunk in body:
            sink.write(chunk)
            written += len(chunk)
    sink.flush()
    return written


# -- one file --------------------------------------------------------------------------------


def _basename(url: str) -> str:
    return S3Name.parse(url).key.rsplit("/", 1)[-1]


def _remote_target(dst: str, name: str) -> str:
    """``s3://b/dir/`` or ``s3://b`` plus a file's name, as aws names the object."""
    key = S3Name.parse(dst).key
    if not key:
        return dst.rstrip("/") + "/" + name
    return dst + name if dst.endswith("/") else dst


def _local_target(dst: str, name: str) -> Path:
    target = Path(dst)
    if target.is_dir() or dst.endswith(("/", os.sep)):
        return target / name
    return target


def _local_source(src: str) -> Path:
    path = Path(src)
    if not path.exists():
        raise SourceNotFound(f"the user-provided path {src} does not exist")
    if path.is_dir():
        raise InvalidRequest(f"{src} is a folder: add --recursive to copy what it holds")
    return path


async def _upload_file(s3: S3, path: Path, url: str, args: argparse.Namespace, out: Output) -> Any:
    if not args.resume:
        return await s3.upload(url, path, **write_options(args), **progress_option(out))
    bucket, key = s3.name(url)
    upload_id = args.resume
    if upload_id == "auto":
        found = [u async for u in s3.list_multipart_uploads(key, bucket=bucket) if u.key == key]
        if not found:
            raise InvalidRequest(f"no upload in progress for s3://{bucket}/{key} to resume")
        latest = max(found, key=lambda u: u.initiated or datetime.min.replace(tzinfo=UTC))
        upload_id = latest.upload_id
    from .._resume import list_parts

    stored = len(await list_parts(s3, bucket, key, upload_id))
    info = await s3.resume_upload(url, upload_id, path, **progress_option(out))
    out.line(
        f"resumed: {path} to s3://{info.bucket}/{info.key} "
        f"({info.parts} parts, {stored} were already stored)"
    )
    return info


async def _one(
    s3: S3, args: argparse.Namespace, out: Output, *, move: bool
) -> Callable[[], Awaitable[None]] | None:
    """Copy one file or object as ``cp`` does; return the deletion of its source for
    ``mv`` (run once the copy succeeded), or ``None``."""
    src, dst = args.source, args.destination
    if src == "-" or dst == "-":
        if move:
            raise InvalidRequest("mv does not take - (stdin/stdout); use cp")
        await _stream(s3, args, out)
        return None
    if not is_s3(src) and not is_s3(dst):
        raise InvalidRequest(f"{args.command} needs an s3:// URL on at least one side")
    if not is_s3(src):
        path = _local_source(src)
        target = _remote_target(dst, path.name)
        if not args.dryrun:
            info = await _upload_file(s3, path, target, args, out)
            if args.resume:
                return None
            target = f"s3://{info.bucket}/{info.key}"
        out.done("upload", src, target, path.stat().st_size)
        return (lambda: asyncio.to_thread(path.unlink)) if move else None
    if not is_s3(dst):
        local = _local_target(dst, _basename(src))
        if args.dryrun:
            out.done("download", src, os.fspath(local), None)
            return None
        info = await s3.download(src, local, **progress_option(out))
        if info.last_modified is not None:  # as aws does: a later sync sees it unchanged
            stamp = info.last_modified.timestamp()
            await asyncio.to_thread(os.utime, local, (stamp, stamp))
        out.done("download", src, os.fspath(local), info.size)
        return (lambda: s3.delete(src)) if move else None
    target = _remote_target(dst, _basename(src))
    if move and S3Name.parse(src) == S3Name.parse(target):
        raise InvalidRequest(f"cannot move {src} onto itself")
    if args.dryrun:
        out.done("copy", src, target, None)
        return None
    info = await s3.copy(src, target, **write_options(args), **progress_option(out))
    out.done("copy", src, target, info.size)
    return (lambda: s3.delete(src)) if move else None


async def _stream(s3: S3, args: argparse.Namespace, out: Output) -> None:
    src, dst = args.source, args.destination
    if args.recursive:
        raise InvalidRequest("--recursive does not go with - (stdin/stdout)")
    if src == "-" and is_s3(dst):
        if args.dryrun:
            out.line(f"(dryrun) upload: - to {dst}")
            return
        info = await s3.upload(
            dst,
            _stdin(),
            size=args.expected_size,
            **write_options(args),
            **progress_option(out),
        )
        out.note(f"upload: - to s3://{info.bucket}/{info.key} ({info.size} bytes)")
    elif is_s3(src) and dst == "-":
        if args.dryrun:
            out.line(f"(dryrun) download: {src} to -")
            return
        await to_stdout(s3, src, out)
    else:
        raise InvalidRequest("- stands for stdin (as the source) or stdout (as the destination)")


# -- folders ---------------------------------------------------------------------------------


async def _tree(
    s3: S3,
    args: argparse.Namespace,
    out: Output,
    on_item: Callable[[TreeItem], None] | None = None,
) -> None:
    """``cp --recursive`` (and ``mv --recursive``, whose ``on_item`` deletes sources)."""
    src, dst = args.source, args.destination
    if src == "-" or dst == "-":
        raise InvalidRequest("--recursive does not go with - (stdin/stdout)")
    options = folder_options(args, out, on_item)
    if is_s3(src) and is_s3(dst):
        await s3.copy_prefix(src, dst, **options, **write_options(args, disposition=False))
    elif is_s3(dst):
        await s3.upload_dir(src, dst, **options, **write_options(args))
    elif is_s3(src):
        await s3.download_dir(src, dst, **options)
    else:
        raise InvalidRequest(f"{args.command} needs an s3:// URL on at least one side")


async def cp(s3: S3, args: argparse.Namespace, out: Output) -> None:
    out.start()
    if args.recursive:
        await _tree(s3, args, out)
    else:
        await _one(s3, args, out, move=False)
    if "-" not in (args.source, args.destination):
        out.summary()


async def mv(s3: S3, args: argparse.Namespace, out: Output) -> None:
    """Copy, then delete each source once its copy succeeded (a local file only after
    its upload completed), as ``aws s3 mv`` does. A source whose deletion fails is
    reported as a failed move; its copy stays."""
    out.move = True
    out.start()
    if not args.recursive:
        remove = await _one(s3, args, out, move=True)
        if remove is not None:
            try:
                await remove()
            except (S3Error, OSError) as exc:
                out.failed()
                out.warn(f"move failed: could not delete the source {args.source}: {exc}")
        out.summary()
        return
    if args.dryrun:
        await _tree(s3, args, out)
        return
    slots = asyncio.Semaphore(max(4, args.jobs or 4))
    async with asyncio.TaskGroup() as group:

        async def finish(item: TreeItem) -> None:
            async with slots:
                try:
                    if is_s3(item.source):
                        await s3.delete(item.source)
                    else:
                        await asyncio.to_thread(os.unlink, item.source)
                except (S3Error, OSError) as exc:
                    why = f"(copied, but the source could not be deleted: {exc})"
                    out.item(TreeItem("fail", item.source, item.destination, item.size, why, exc))
                    return
            out.item(item)

        def on_item(item: TreeItem) -> None:
            if item.action in ("upload", "download", "copy"):
                group.create_task(finish(item))
            else:
                out.item(item)

        await _tree(s3, args, out, on_item)
    out.summary()


async def sync(s3: S3, args: argparse.Namespace, out: Output) -> None:
    """Copy what is missing or differs (size, or modification time as aws compares it)."""
    src, dst = args.source, args.destination
    if not (is_s3(src) or is_s3(dst)):
        raise InvalidRequest("sync needs an s3:// URL on at least one side")
    out.start()
    await s3.sync(
        src,
        dst,
        delete=args.delete,
        size_only=args.size_only,
        exact_timestamps=args.exact_timestamps,
        **folder_options(args, out),
        **write_options(args, disposition=False),
    )
    out.summary()
