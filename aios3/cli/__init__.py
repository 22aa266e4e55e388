"""The ``aios3`` command (and ``python -m aios3``): ``ls``, ``cp``, ``mv``, ``rm``,
``sync``, ``mb``, ``rb`` and ``presign`` the way ``aws s3`` works, plus ``cat``,
``stat``, ``server`` and ``demo``.

Every verb is a library call a program can make too; this package only parses the
command line (``_parse``), prints (``_output``) and maps errors to aws CLI v2's exit
codes. Ctrl-C cancels cleanly: uploads are aborted, partial files removed (exit 130).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .._config import MiB, TransferConfig
from .._exceptions import ConfigError, InvalidRequest, S3Error, SourceNotFound
from ._output import Output
from ._parse import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OTHER,
    EXIT_SERVICE,
    EXIT_USAGE,
    TRANSFER_VERBS,
    parse,
)

__all__ = ["main"]

Verb = Callable[[Any, argparse.Namespace, Output], Awaitable[None]]


def _verbs() -> dict[str, Verb]:
    from . import _buckets, _objects, _transfer

    return {
        "cp": _transfer.cp,
        "mv": _transfer.mv,
        "sync": _transfer.sync,
        "ls": _objects.ls,
        "rm": _objects.rm,
        "stat": _objects.stat,
        "cat": _objects.cat,
        "presign": _objects.presign,
        "mb": _buckets.mb,
        "rb": _buckets.rb,
    }


def connection(args: argparse.Namespace) -> dict[str, Any]:
    """The :func:`aios3.connect` keywords the command line gives (unset ones left out)."""
    given = {
        "endpoint": args.endpoint,
        "region": args.region,
        "profile": args.profile,
        "anonymous": args.anonymous or None,
        "ca_bundle": args.ca_bundle,
        "verify_tls": False if args.no_verify_ssl else None,
    }
    return {k: v for k, v in given.items() if v is not None}


def transfer_config(args: argparse.Namespace) -> TransferConfig:
    transfer = TransferConfig()
    if args.part_size or args.concurrency:
        transfer = dataclasses.replace(
            transfer,
            part_size=(args.part_size or 8) * MiB,
            concurrency=args.concurrency or transfer.concurrency,
        )
    return transfer


async def _run(args: argparse.Namespace, out: Output) -> None:
    from .._client import connect

    async with connect(args.config, transfer=transfer_config(args), **connection(args)) as s3:
        await _verbs()[args.command](s3, args, out)
    if out.fatal is not None:  # every file failed alike (no credentials): say it once
        raise out.fatal


def _leaves(exc: BaseException) -> list[BaseException]:
    """The errors inside (nested) exception groups, or the error itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def exit_code(error: BaseException, verb: str) -> int:
    """aws CLI v2's return code for an error that stopped ``verb``.

    252 a bad parameter (a missing source among them); 253 an unusable configuration or
    no credentials; then, as aws: 1 for the transfer verbs (cp, mv, rm, sync and cat:
    "a transfer failed", whatever failed it), 254 for the others when the service
    answered with an error, 255 for anything else (an unreachable endpoint, a bug)."""
    if isinstance(error, ConfigError):
        return EXIT_CONFIG
    if isinstance(error, SourceNotFound) or (
        isinstance(error, InvalidRequest) and error.status is None
    ):
        return EXIT_USAGE
    if verb in TRANSFER_VERBS and isinstance(error, S3Error | OSError):
        return EXIT_FAILED
    if isinstance(error, S3Error) and error.status is not None:
        return EXIT_SERVICE
    return EXIT_OTHER


def _message(error: BaseException) -> str:
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError

    if isinstance(error.__cause__, NoCredentialsError | PartialCredentialsError):
        return (
            "no usable credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "pass --profile, or --no-sign-request for public data"
        )
    if isinstance(error, S3Error | OSError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _debug_logging() -> None:
    logging.basicConfig(
        level=logging.DEBUG,
        stream=sys.stderr,
        format="%(asctime)s %(name)s [%(levelname)s] %(message)s",
    )


def _output(args: argparse.Namespace) -> Output:
    return Output(
        dryrun=getattr(args, "dryrun", False),
        quiet=args.quiet,
        only_errors=args.only_show_errors,
        as_json=args.json,
        progress=not args.no_progress,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aios3`` command line; return the exit status (aws CLI v2's codes)."""
    args = parse(argv)
    if args.debug:
        _debug_logging()
    if args.command in ("server", "demo"):
        from . import _server

        return _server.run(args)
    out = _output(args)
    try:
        asyncio.run(_run(args, out))
    except KeyboardInterrupt:
        out.close()
        print("aios3: interrupted; nothing was left half-done", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of stdout went away (| head): nothing to say
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        out.close()
        leaves = _leaves(exc)
        for leaf in leaves:
            if args.debug:
                traceback.print_exception(leaf, file=sys.stderr)
            print(f"aios3: error: {_message(leaf)}", file=sys.stderr)
        if not args.debug and not all(isinstance(e, S3Error | OSError) for e in leaves):
            print("aios3: (an unexpected error; --debug shows where)", file=sys.stderr)
        return exit_code(leaves[0], args.command)
    out.close()
    return int(out.status)


def entry() -> None:  # pragma: no cover - the console script
    sys.exit(main())
