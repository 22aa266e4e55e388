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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from ._client import S3, connect
from ._config import MiB, TransferConfig
from ._exceptions import ConfigError, InvalidRequest, S3Error, SourceNotFound
from ._info import Prefix
from ._names import S3Name
from ._sources import PipeReader
from ._tree import TreeItem, folder

__all__ = ["main"]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_PIPE_SIZE = 1 * MiB

EXIT_SKIPPED = 2
EXIT_INTERRUPTED = 130
EXIT_USAGE = 252
EXIT_CONFIG = 253


def _is_s3(target: str) -> bool:
    return target.startswith("s3://")


def _say(*parts: Any, file: Any = None) -> None:
    print(*parts, file=file or sys.stdout, flush=True)


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
    kwargs = _write_options(args)
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


def _tree_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords every folder call takes from the command line."""
    return {
        "filters": args.filters,
        "dryrun": args.dryrun,
        "jobs": args.jobs,
        "on_item": args.report,
    }


def _write_options(args: argparse.Namespace) -> dict[str, Any]:
    """The headers and metadata given for what a command writes."""
    given = {
        "content_type": args.content_type,
        "cache_control": args.cache_control,
        "metadata": args.metadata,
        "storage_class": args.storage_class,
    }
    return {k: v for k, v in given.items() if v is not None}


class _Report:
    """Prints each file's outcome as ``aws s3`` does and keeps the exit status: 1 if a
    transfer failed, else 2 if a file was skipped."""

    def __init__(self, *, dryrun: bool, quiet: bool, only_errors: bool) -> None:
        self.status = 0
        self._dry = "(dryrun) " if dryrun else ""
        self._quiet = quiet
        self._only_errors = only_errors or quiet

    def __call__(self, item: TreeItem) -> None:
        if item.action == "fail":
            self.status = 1
            if not self._quiet:
                _say(f"failed: {item.source}: {item.reason}", file=sys.stderr)
        elif item.action == "skip":
            self.status = self.status or EXIT_SKIPPED
            if not self._quiet:
                _say(f"warning: skipping {item.source}: {item.reason}", file=sys.stderr)
        elif not self._only_errors:
            target = f" to {item.destination}" if item.destination else ""
            _say(f"{self._dry}{item.action}: {item.source}{target}")


async def _cp(s3: S3, args: argparse.Namespace) -> None:
    src, dst = args.source, args.destination
    write = _write_options(args)
    if args.recursive:
        if src == "-" or dst == "-":
            raise InvalidRequest("--recursive does not go with - (stdin/stdout)")
        if _is_s3(src) and _is_s3(dst):
            await s3.copy_prefix(src, dst, **_tree_options(args), **write)
        elif _is_s3(dst):
            await s3.upload_dir(src, dst, **_tree_options(args), **write)
        elif _is_s3(src):
            await s3.download_dir(src, dst, **_tree_options(args))
        else:
            raise InvalidRequest("cp needs an s3:// URL on at least one side")
        return
    if src == "-" and _is_s3(dst):
        info = await s3.upload(dst, _stdin(), **write)
        _say(f"upload: - to s3://{info.bucket}/{info.key} ({info.size} bytes)", file=sys.stderr)
    elif _is_s3(src) and dst == "-":
        async with s3.stream(src) as body:
            async for chunk in body:
                sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
    elif not _is_s3(src) and _is_s3(dst):
        path = Path(src)
        if not path.exists():
            raise SourceNotFound(f"the user-provided path {src} does not exist")
        if path.is_dir():
            raise InvalidRequest(f"{src} is a folder: add --recursive to copy what it holds")
        target = dst + path.name if dst.endswith("/") else dst
        if args.dryrun:
            _say(f"(dryrun) upload: {path} to {target}")
        else:
            await _upload_one(s3, path, target, args)
    elif _is_s3(src) and not _is_s3(dst):
        target = Path(dst)
        if target.is_dir() or dst.endswith(("/", os.sep)):
            target = target / S3Name.parse(src).key.rsplit("/", 1)[-1]
        if args.dryrun:
            _say(f"(dryrun) download: {src} to {target}")
            return
        got = await s3.download(src, target)
        if got.last_modified is not None:  # as aws does: a later sync sees it unchanged
            stamp = got.last_modified.timestamp()
            os.utime(target, (stamp, stamp))
        _say(f"download: s3://{got.bucket}/{got.key} to {target}")
    elif _is_s3(src) and _is_s3(dst):
        target = dst + S3Name.parse(src).key.rsplit("/", 1)[-1] if dst.endswith("/") else dst
        if args.dryrun:
            _say(f"(dryrun) copy: {src} to {target}")
            return
        info = await s3.copy(src, target, **write)
        _say(f"copy: {src} to s3://{info.bucket}/{info.key}")
    else:
        raise InvalidRequest("cp needs an s3:// URL on at least one side (or - for stdin/stdout)")


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
        bucket, prefix = s3.name(args.target, allow_empty_key=True)
        if args.dryrun:
            _say(f"(dryrun) delete: every object under s3://{bucket}/{folder(prefix)}")
            return
        result = await s3.delete_prefix(args.target)
        _say(f"delete: {result.deleted} objects under s3://{bucket}/{folder(prefix)}")
        result.raise_for_failures()
    else:
        await s3.delete(args.target)
        _say(f"delete: {args.target}")


# -- sync ------------------------------------------------------------------------------------


async def _sync(s3: S3, args: argparse.Namespace) -> None:
    """Copy what is missing or differs (size, or modification time as aws compares it)."""
    src, dst = args.source, args.destination
    if not (_is_s3(src) or _is_s3(dst)):
        raise InvalidRequest("sync needs an s3:// URL on at least one side")
    await s3.sync(
        src,
        dst,
        delete=args.delete,
        size_only=args.size_only,
        exact_timestamps=args.exact_timestamps,
        **_tree_options(args),
        **_write_options(args),
    )


# -- entry point -------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Bad command lines exit with the aws CLI v2's code for them, 252."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def _endpoint(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(
            f"{text!r}: scheme is missing; write http://HOST:PORT or https://HOST:PORT"
        )
    return text


class _Filter(argparse.Action):
    """--exclude / --include, kept in the order given (later ones win, as in aws)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        kind = "exclude" if option == "--exclude" else "include"
        namespace.filters = [*getattr(namespace, "filters", []), (kind, values)]


def _common() -> _Parser:
    """Options accepted before or after the verb, as aws accepts them."""
    p = _Parser(add_help=False)
    s = argparse.SUPPRESS
    p.add_argument(
        "--endpoint-url",
        "--endpoint",
        dest="endpoint",
        type=_endpoint,
        default=s,
        help="S3 endpoint URL (default: AWS, or AWS_ENDPOINT_URL)",
    )
    p.add_argument("--region", default=s)
    p.add_argument("--profile", default=s)
    p.add_argument("--config", default=s, help="a TOML file of connection settings")
    p.add_argument(
        "--no-sign-request",
        "--anonymous",
        dest="anonymous",
        action="store_true",
        default=s,
        help="unsigned requests (public data)",
    )
    p.add_argument("--part-size", type=_positive, metavar="MiB", default=s, help="part size in MiB")
    p.add_argument("--concurrency", type=_positive, default=s, help="parts in flight per file")
    p.add_argument(
        "--jobs", type=_positive, default=s, help="files in flight with --recursive/sync"
    )
    p.add_argument("--quiet", action="store_true", default=s, help="print nothing")
    p.add_argument(
        "--only-show-errors", action="store_true", default=s, help="print errors and warnings only"
    )
    p.add_argument("--dryrun", action="store_true", default=s, help="say what would be done")
    return p


_DEFAULTS: dict[str, Any] = {
    "endpoint": None,
    "region": None,
    "profile": None,
    "config": None,
    "anonymous": False,
    "part_size": None,
    "concurrency": None,
    "jobs": None,
    "quiet": False,
    "only_show_errors": False,
    "dryrun": False,
    "filters": [],
    "content_type": None,
    "cache_control": None,
    "storage_class": None,
    "metadata": [],
    "resume": None,
    "recursive": False,
    "delete": False,
    "size_only": False,
    "exact_timestamps": False,
}


def _parser() -> argparse.ArgumentParser:
    common = _common()
    p = _Parser(prog="aios3", description="Move data in and out of S3.", parents=[common])
    sub = p.add_subparsers(dest="command", required=True)

    def verb(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, parents=[common])

    def filters(q: argparse.ArgumentParser) -> None:
        q.add_argument("--exclude", action=_Filter, metavar="PATTERN", default=argparse.SUPPRESS)
        q.add_argument("--include", action=_Filter, metavar="PATTERN", default=argparse.SUPPRESS)

    def headers(q: argparse.ArgumentParser) -> None:
        q.add_argument("--content-type")
        q.add_argument("--cache-control")
        q.add_argument("--storage-class")
        q.add_argument("--metadata", action="append", default=[], metavar="KEY=VALUE")

    cp = verb("cp", "copy files and objects (- for stdin/stdout)")
    cp.add_argument("source")
    cp.add_argument("destination")
    cp.add_argument("--recursive", action="store_true")
    filters(cp)
    headers(cp)
    cp.add_argument(
        "--resume",
        metavar="UPLOAD_ID",
        help="finish an interrupted upload of this file (an id, or 'auto')",
    )
    ls = verb("ls", "list buckets, or objects under a prefix")
    ls.add_argument("target", nargs="?")
    ls.add_argument("--recursive", action="store_true")
    mb = verb("mb", "make a bucket")
    mb.add_argument("target")
    mb.add_argument("--bucket-region", help="the bucket's region")
    rb = verb("rb", "remove a bucket")
    rb.add_argument("target")
    rb.add_argument("--force", action="store_true", help="empty it first: versions, uploads")
    rm = verb("rm", "remove objects")
    rm.add_argument("target")
    rm.add_argument("--recursive", action="store_true", help="the folder and all it holds")
    sync = verb("sync", "copy what is missing or changed between folders and prefixes")
    sync.add_argument("source")
    sync.add_argument("destination")
    sync.add_argument("--delete", action="store_true", help="remove what the source lacks")
    sync.add_argument("--size-only", action="store_true", help="compare sizes only")
    sync.add_argument(
        "--exact-timestamps", action="store_true", help="download when times differ at all"
    )
    filters(sync)
    headers(sync)
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


def _exit_code(error: BaseException) -> int:
    """aws CLI v2's return codes: 252 a bad parameter (a missing source among them),
    253 an unusable configuration or no credentials, 1 a failed transfer or request."""
    if isinstance(error, ConfigError):
        return EXIT_CONFIG
    if isinstance(error, InvalidRequest | SourceNotFound):
        return EXIT_USAGE
    return 1


def _message(error: BaseException) -> str:
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError

    if isinstance(error.__cause__, NoCredentialsError | PartialCredentialsError):
        return (
            "no usable credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "pass --profile, or --no-sign-request for public data"
        )
    return str(error)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aios3`` command line; return the exit status (aws CLI v2's codes)."""
    args = _parser().parse_args(argv)
    for name, default in _DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    try:
        args.metadata = dict(item.split("=", 1) for item in args.metadata) or None
    except ValueError:
        print("aios3: error: --metadata takes KEY=VALUE", file=sys.stderr)
        return EXIT_USAGE
    args.report = _Report(dryrun=args.dryrun, quiet=args.quiet, only_errors=args.only_show_errors)
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
            print(f"aios3: error: {_message(leaf)}", file=sys.stderr)
        return _exit_code(leaves[0])
    return int(args.report.status)


def _entry() -> None:  # pragma: no cover - console script
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
