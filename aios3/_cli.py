"""The ``aios3`` command: ``cp``, ``ls``, ``mb``, ``rb``, ``rm`` and ``sync``, the way
``aws s3`` works. Ctrl-C cancels cleanly: uploads are aborted, partial files removed.

Connection settings come from the AWS environment, or ``--endpoint``, ``--config``
(a TOML file), ``--profile``, ``--region`` and ``--anonymous``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import stat
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._client import S3, connect
from ._config import MiB, TransferConfig
from ._exceptions import S3Error
from ._info import ObjectInfo, Prefix
from ._names import S3Name
from ._sources import PipeReader

__all__ = ["main"]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_PIPE_SIZE = 1 * MiB

EXIT_INTERRUPTED = 130


def _is_s3(target: str) -> bool:
    return target.startswith("s3://")


def _say(*parts: Any, file: Any = None) -> None:
    print(*parts, file=file or sys.stdout, flush=True)


async def _local_files(root: Path) -> AsyncIterator[tuple[Path, str]]:
    for folder, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = Path(folder) / name
            yield path, path.relative_to(root).as_posix()


async def _objects(s3: S3, url: str) -> AsyncIterator[ObjectInfo]:
    async for item in s3.list(url):
        if isinstance(item, ObjectInfo) and not item.key.endswith("/"):
            yield item


async def _bounded(jobs: AsyncIterator[Any], limit: int) -> None:
    """Run the awaitables ``jobs`` yields, ``limit`` at a time, inside one TaskGroup."""
    slots = asyncio.Semaphore(limit)

    async def run(job: Any) -> None:
        try:
            await job
        finally:
            slots.release()

    async with asyncio.TaskGroup() as group:
        async for job in jobs:
            await slots.acquire()
            group.create_task(run(job))


# -- cp ------------------------------------------------------------------------------------


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


async def _upload_one(s3: S3, path: Path, url: str, args: argparse.Namespace) -> None:
    kwargs: dict[str, Any] = {"content_type": args.content_type, "metadata": args.metadata}
    if args.resume:
        bucket, key = s3.name(url)
        upload_id = args.resume
        if upload_id == "auto":
            found = [u async for u in s3.list_multipart_uploads(key, bucket=bucket) if u.key == key]
            if not found:
                raise S3Error(f"no upload in progress for s3://{bucket}/{key} to resume")
            upload_id = max(found, key=lambda u: u.initiated or datetime.min.replace(tzinfo=UTC))
            upload_id = upload_id.upload_id
        from ._resume import list_parts

        stored = len(await list_parts(s3, bucket, key, upload_id))
        info = await s3.resume_upload(url, upload_id, path)
        _say(
            f"resumed: {path} to s3://{info.bucket}/{info.key} "
            f"({info.parts} parts, {stored} were already stored)"
        )
        return
    info = await s3.upload(url, path, **kwargs)
    _say(f"upload: {path} to s3://{info.bucket}/{info.key}")


async def _cp(s3: S3, args: argparse.Namespace) -> None:
    src, dst = args.source, args.destination
    if src == "-" and _is_s3(dst):
        info = await s3.upload(
            dst, _stdin(), content_type=args.content_type, metadata=args.metadata
        )
        _say(f"upload: - to s3://{info.bucket}/{info.key} ({info.size} bytes)", file=sys.stderr)
    elif _is_s3(src) and dst == "-":
        async with s3.stream(src) as body:
            async for chunk in body:
                sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    elif not _is_s3(src) and _is_s3(dst):
        path = Path(src)
        if args.recursive:
            base = dst if dst.endswith("/") else dst + "/"
            await _bounded(
                (_upload_one(s3, p, base + rel, args) async for p, rel in _local_files(path)),
                args.jobs,
            )
        else:
            target = dst + path.name if dst.endswith("/") else dst
            await _upload_one(s3, path, target, args)
    elif _is_s3(src) and not _is_s3(dst):
        if args.recursive:
            bucket, prefix = s3.name(src, allow_empty_key=True)
            root = Path(dst)

            async def fetch(obj: ObjectInfo) -> None:
                target = root / obj.key[len(prefix) :].lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                await s3.download(S3Name(obj.key, bucket), target)
                _say(f"download: s3://{bucket}/{obj.key} to {target}")

            await _bounded((fetch(o) async for o in _objects(s3, src)), args.jobs)
        else:
            target = Path(dst)
            if target.is_dir() or dst.endswith(("/", os.sep)):
                target = target / S3Name.parse(src).key.rsplit("/", 1)[-1]
            info = await s3.download(src, target)
            _say(f"download: s3://{info.bucket}/{info.key} to {target}")
    elif _is_s3(src) and _is_s3(dst):
        if args.recursive:
            bucket, prefix = s3.name(src, allow_empty_key=True)
            base = dst if dst.endswith("/") else dst + "/"

            async def copy(obj: ObjectInfo) -> None:
                target = base + obj.key[len(prefix) :].lstrip("/")
                await s3.copy(S3Name(obj.key, bucket), target)
                _say(f"copy: s3://{bucket}/{obj.key} to {target}")

            await _bounded((copy(o) async for o in _objects(s3, src)), args.jobs)
        else:
            target = dst + S3Name.parse(src).key.rsplit("/", 1)[-1] if dst.endswith("/") else dst
            info = await s3.copy(src, target)
            _say(f"copy: {src} to s3://{info.bucket}/{info.key}")
    else:
        raise S3Error("cp needs an s3:// URL on at least one side (or - for stdin/stdout)")


# -- ls, mb, rb, rm --------------------------------------------------------------------------


async def _ls(s3: S3, args: argparse.Namespace) -> None:
    if not args.target:
        for bucket in await s3.list_buckets():
            created = bucket.created.strftime("%Y-%m-%d %H:%M:%S") if bucket.created else ""
            _say(f"{created:19} {bucket.name}")
        return
    delimiter = None if args.recursive else "/"
    async for item in s3.list(args.target, delimiter=delimiter):
        if isinstance(item, Prefix):
            _say(f"{'PRE':>30} {item.prefix}")
        else:
            when = item.last_modified.strftime("%Y-%m-%d %H:%M:%S") if item.last_modified else ""
            _say(f"{when:19} {item.size or 0:>10} {item.key}")


async def _mb(s3: S3, args: argparse.Namespace) -> None:
    bucket = S3Name.parse(args.target).bucket or ""
    await s3.create_bucket(bucket, region=args.bucket_region)
    _say(f"make_bucket: {bucket}")


async def _rb(s3: S3, args: argparse.Namespace) -> None:
    bucket = S3Name.parse(args.target).bucket or ""
    await s3.delete_bucket(bucket, force=args.force)
    _say(f"remove_bucket: {bucket}")


async def _rm(s3: S3, args: argparse.Namespace) -> None:
    if args.recursive:
        result = await s3.delete_prefix(args.target)
        _say(f"delete: {result.deleted} objects under {args.target}")
        result.raise_for_failures()
    else:
        await s3.delete(args.target)
        _say(f"delete: {args.target}")


# -- sync ------------------------------------------------------------------------------------


async def _sync(s3: S3, args: argparse.Namespace) -> None:
    """Copy what is missing or differs (size, or newer modification time)."""
    src, dst = args.source, args.destination
    if not _is_s3(src) and _is_s3(dst):
        base = dst if dst.endswith("/") else dst + "/"
        bucket, prefix = s3.name(base, allow_empty_key=True)
        remote = {o.key[len(prefix) :]: o async for o in _objects(s3, base)}

        async def jobs() -> AsyncIterator[Any]:
            async for path, rel in _local_files(Path(src)):
                st = path.stat()
                have = remote.pop(rel, None)
                newer = (
                    have is not None
                    and have.last_modified is not None
                    and (st.st_mtime > have.last_modified.timestamp())
                )
                if have is None or have.size != st.st_size or newer:
                    yield _upload_one(s3, path, base + rel, args)
            if args.delete:
                for rel in remote:
                    yield _delete_one(s3, S3Name(prefix + rel, bucket))

        await _bounded(jobs(), args.jobs)
    elif _is_s3(src) and not _is_s3(dst):
        base = src if src.endswith("/") else src + "/"
        bucket, prefix = s3.name(base, allow_empty_key=True)
        root = Path(dst)
        local = {rel: p async for p, rel in _local_files(root)} if root.exists() else {}

        async def fetch(obj: ObjectInfo, target: Path) -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            await s3.download(S3Name(obj.key, bucket), target)
            _say(f"download: s3://{bucket}/{obj.key} to {target}")

        async def jobs() -> AsyncIterator[Any]:
            async for obj in _objects(s3, base):
                rel = obj.key[len(prefix) :]
                path = local.pop(rel, None)
                st = path.stat() if path else None
                stale = (
                    st is not None
                    and obj.last_modified is not None
                    and (obj.last_modified.timestamp() > st.st_mtime)
                )
                if st is None or st.st_size != obj.size or stale:
                    yield fetch(obj, root / rel)
            if args.delete:
                for path in local.values():
                    path.unlink()
                    _say(f"delete: {path}")

        await _bounded(jobs(), args.jobs)
    else:
        raise S3Error("sync goes between a local folder and an s3:// prefix")


async def _delete_one(s3: S3, name: S3Name) -> None:
    await s3.delete(name)
    _say(f"delete: {name}")


# -- entry point -------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aios3", description="Move data in and out of S3.")
    p.add_argument("--endpoint", help="S3 endpoint URL (default: AWS, or AWS_ENDPOINT_URL)")
    p.add_argument("--region")
    p.add_argument("--profile")
    p.add_argument("--config", help="a TOML file of connection settings")
    p.add_argument("--anonymous", action="store_true", help="unsigned requests (public data)")
    p.add_argument("--part-size", type=int, metavar="MiB", help="multipart part size in MiB")
    p.add_argument("--concurrency", type=int, help="parts in flight per transfer")
    p.add_argument("--jobs", type=int, default=4, help="files in flight with --recursive/sync")
    sub = p.add_subparsers(dest="command", required=True)

    cp = sub.add_parser("cp", help="copy files and objects (- for stdin/stdout)")
    cp.add_argument("source")
    cp.add_argument("destination")
    cp.add_argument("--recursive", action="store_true")
    cp.add_argument("--content-type")
    cp.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")
    cp.add_argument(
        "--resume",
        metavar="UPLOAD_ID",
        help="finish an interrupted upload of this file (an id, or 'auto')",
    )
    ls = sub.add_parser("ls", help="list buckets, or objects under a prefix")
    ls.add_argument("target", nargs="?")
    ls.add_argument("--recursive", action="store_true")
    mb = sub.add_parser("mb", help="make a bucket")
    mb.add_argument("target")
    mb.add_argument("--bucket-region", help="the bucket's region")
    rb = sub.add_parser("rb", help="remove a bucket")
    rb.add_argument("target")
    rb.add_argument("--force", action="store_true", help="empty it first: versions, uploads")
    rm = sub.add_parser("rm", help="remove objects")
    rm.add_argument("target")
    rm.add_argument("--recursive", action="store_true")
    sync = sub.add_parser("sync", help="copy what is missing or changed between a folder and S3")
    sync.add_argument("source")
    sync.add_argument("destination")
    sync.add_argument("--delete", action="store_true", help="remove what the source lacks")
    p.set_defaults(content_type=None, metadata=[], resume=None, recursive=False)
    return p


COMMANDS = {"cp": _cp, "ls": _ls, "mb": _mb, "rb": _rb, "rm": _rm, "sync": _sync}


async def _run(args: argparse.Namespace) -> None:
    transfer = TransferConfig()
    if args.part_size or args.concurrency:
        import dataclasses

        transfer = dataclasses.replace(
            transfer,
            part_size=(args.part_size or 8) * MiB,
            concurrency=args.concurrency or transfer.concurrency,
        )
    settings: dict[str, Any] = {
        k: v
        for k, v in (
            ("endpoint", args.endpoint),
            ("region", args.region),
            ("profile", args.profile),
            ("anonymous", args.anonymous or None),
        )
        if v is not None
    }
    async with connect(args.config, transfer=transfer, **settings) as s3:
        await COMMANDS[args.command](s3, args)


def _leaves(exc: BaseException) -> list[BaseException]:
    """The errors inside (nested) exception groups, or the error itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aios3`` command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        args.metadata = dict(item.split("=", 1) for item in args.metadata) or None
    except ValueError:
        print("aios3: error: --metadata takes KEY=VALUE", file=sys.stderr)
        return 2
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        print("aios3: interrupted; nothing was left half-done", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (S3Error, OSError, ExceptionGroup) as exc:
        leaves = _leaves(exc)
        if not all(isinstance(e, S3Error | OSError) for e in leaves):
            raise
        for leaf in leaves:
            print(f"aios3: error: {leaf}", file=sys.stderr)
        return 1
    return 0


def _entry() -> None:  # pragma: no cover - console script
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
