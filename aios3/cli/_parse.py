"""The command line's grammar: verbs, options (accepted before or after the verb, as
``aws`` accepts its global ones), their checks, and the exit codes of aws CLI v2.

Every option is declared once, in :data:`OPTIONS`, with the verbs it applies to. They
are all accepted on either side of the verb; one given to a verb it does not apply to
is refused (252), as aws refuses an unknown option.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OTHER",
    "EXIT_SERVICE",
    "EXIT_SKIPPED",
    "EXIT_USAGE",
    "TRANSFER_VERBS",
    "UsageError",
    "parse",
]

# aws CLI v2's return codes (``aws help return-codes``).
EXIT_FAILED = 1  # an s3 transfer failed
EXIT_SKIPPED = 2  # files were skipped (the others were transferred)
EXIT_INTERRUPTED = 130  # SIGINT
EXIT_USAGE = 252  # bad command line or parameter value
EXIT_CONFIG = 253  # configuration or credentials invalid
EXIT_SERVICE = 254  # the service returned an error
EXIT_OTHER = 255  # anything else

TRANSFER_VERBS = frozenset({"cp", "mv", "rm", "sync", "cat"})
"""Verbs whose failures are failed transfers (exit 1), as aws's s3 transfer commands."""

_WRITES = frozenset({"cp", "mv", "sync"})
_FOLDERS = frozenset({"cp", "mv", "rm", "sync"})
_RESULTS = frozenset({"cp", "mv", "rm", "sync"})

MAX_EXPIRES = 7 * 24 * 3600
CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
)


class UsageError(Exception):
    """A command line that cannot run (exit 252)."""


class _Parser(argparse.ArgumentParser):
    """Bad command lines exit with the aws CLI v2's code for them, 252."""

    def error(self, message: str) -> NoReturn:
        """One line, as every failure is: what is wrong, and where help is."""
        self.exit(EXIT_USAGE, f"aios3: error: {message} (see: {self.prog} --help)\n")


# -- value checks (a bad value is refused at parse time: 252) -----------------------------


def _number(low: int, high: int | None = None, what: str = "") -> Callable[[str], int]:
    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{text} is out of range: {what}{span}")
        return value

    check.__name__ = "number"  # argparse names the type in its messages
    return check


def _endpoint(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(
            f"{text!r}: scheme is missing; write http://HOST:PORT or https://HOST:PORT"
        )
    return text


def parse_metadata(text: str) -> dict[str, str]:
    """``--metadata`` as aws takes it: shorthand ``k=v,k2=v2`` or JSON ``{"k": "v"}``."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"--metadata is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise argparse.ArgumentTypeError("--metadata JSON must map strings to strings")
        return data
    pairs: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise argparse.ArgumentTypeError(
                f"--metadata takes KEY=VALUE[,KEY2=VALUE2] or JSON, not {text!r}"
            )
        pairs[key.strip()] = value
    return pairs


class _Metadata(argparse.Action):
    """--metadata, repeatable: the maps given are merged."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        namespace.metadata = {**(getattr(namespace, "metadata", None) or {}), **values}


class _Filter(argparse.Action):
    """--exclude / --include, kept in the order given (later ones win, as in aws)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        kind = "exclude" if option == "--exclude" else "include"
        namespace.filters = [*getattr(namespace, "filters", []), (kind, values)]


# -- the options ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Option:
    flags: tuple[str, ...]
    verbs: frozenset[str] | None  # None: every verb (a global option)
    default: Any
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return str(self.kwargs.get("dest") or self.flags[0].lstrip("-").replace("-", "_"))


def _opt(
    *flags: str, verbs: Collection[str] | None = None, default: Any = None, **kw: Any
) -> _Option:
    return _Option(flags, None if verbs is None else frozenset(verbs), default, kw)


_FLAG = {"action": "store_true"}

OPTIONS: tuple[_Option, ...] = (
    # connection and configuration (global)
    _opt(
        "--endpoint-url",
        "--endpoint",
        dest="endpoint",
        type=_endpoint,
        metavar="URL",
        help="S3 endpoint URL (default: AWS, or AWS_ENDPOINT_URL)",
    ),
    _opt("--region", help="the region to sign for (default: AWS_REGION, the profile's)"),
    _opt("--profile", help="a profile of the AWS config and credentials files"),
    _opt("--config", metavar="FILE", help="a TOML file of aios3 connection settings"),
    _opt(
        "--no-sign-request",
        "--anonymous",
        dest="anonymous",
        default=False,
        help="send unsigned requests (public data); no credentials needed",
        **_FLAG,
    ),
    _opt(
        "--no-verify-ssl",
        default=False,
        help="do not verify TLS certificates (self-signed test stores only)",
        **_FLAG,
    ),
    _opt("--ca-bundle", metavar="PEM", help="a PEM file of CA certificates to trust"),
    _opt("--debug", default=False, help="debug logging and tracebacks (secrets redacted)", **_FLAG),
    # tuning (global)
    _opt("--part-size", type=_number(5, 5120, "MiB, "), metavar="MiB", help="part size in MiB"),
    _opt("--concurrency", type=_number(1), metavar="N", help="parts in flight per file"),
    # output (global)
    _opt("--quiet", default=False, help="print nothing, not even errors of files", **_FLAG),
    _opt("--only-show-errors", default=False, help="print errors and warnings only", **_FLAG),
    _opt("--no-progress", default=False, help="draw no progress bars", **_FLAG),
    _opt(
        "--json",
        verbs=_RESULTS | {"ls", "stat"},
        default=False,
        help="one JSON object per line on stdout",
        **_FLAG,
    ),
    # what the folder verbs take
    _opt(
        "--recursive",
        verbs=_FOLDERS | {"ls"},
        default=False,
        help="every object under the prefix / file under the folder",
        **_FLAG,
    ),
    _opt(
        "--exclude",
        verbs=_FOLDERS,
        dest="filters",
        default=[],
        action=_Filter,
        metavar="PATTERN",
        help="leave out what matches (in order with --include)",
    ),
    _opt(
        "--include",
        verbs=_FOLDERS,
        dest="filters",
        default=[],
        action=_Filter,
        metavar="PATTERN",
        help="take back in what matches (in order with --exclude)",
    ),
    _opt("--dryrun", verbs=_FOLDERS, default=False, help="say what would be done", **_FLAG),
    _opt(
        "--jobs",
        verbs=_FOLDERS,
        type=_number(1),
        metavar="N",
        help="files in flight at once (folders)",
    ),
    _opt("--delete", verbs={"sync"}, default=False, help="remove what the source lacks", **_FLAG),
    _opt("--size-only", verbs={"sync"}, default=False, help="compare sizes only", **_FLAG),
    _opt(
        "--exact-timestamps",
        verbs={"sync"},
        default=False,
        help="download when times differ at all",
        **_FLAG,
    ),
    # what written objects get
    _opt("--content-type", verbs=_WRITES, metavar="TYPE"),
    _opt("--cache-control", verbs=_WRITES, metavar="VALUE"),
    _opt("--content-disposition", verbs=_WRITES, metavar="VALUE"),
    _opt(
        "--metadata",
        verbs=_WRITES,
        type=parse_metadata,
        action=_Metadata,
        metavar="K=V,...|JSON",
        help='user metadata: KEY=VALUE,KEY2=VALUE2 or {"KEY": "VALUE"}',
    ),
    _opt("--storage-class", verbs=_WRITES, metavar="CLASS", help="e.g. STANDARD_IA"),
    _opt("--acl", verbs=_WRITES, choices=CANNED_ACLS, metavar="ACL", help="a canned ACL"),
    _opt(
        "--expected-size",
        verbs={"cp", "mv"},
        type=_number(0),
        metavar="BYTES",
        help="the size of a stream from stdin (checked)",
    ),
    _opt(
        "--resume",
        verbs={"cp"},
        metavar="UPLOAD_ID",
        help="finish an interrupted upload of this file (an upload id, or 'auto')",
    ),
    # one verb each
    _opt("--human-readable", verbs={"ls"}, default=False, help="sizes in KiB, MiB...", **_FLAG),
    _opt("--summarize", verbs={"ls"}, default=False, help="total objects and size", **_FLAG),
    _opt(
        "--expires-in",
        verbs={"presign"},
        type=_number(1, MAX_EXPIRES, "seconds, "),
        default=3600,
        metavar="SECONDS",
        help="how long the URL works (default 3600, at most 604800)",
    ),
    _opt("--bucket-region", verbs={"mb"}, metavar="REGION", help="the bucket's region"),
    _opt("--force", verbs={"rb"}, default=False, help="empty it first: objects, versions", **_FLAG),
    _opt(
        "--port",
        verbs={"server"},
        type=_number(0, 65535),
        default=0,
        help="the port (default: a free one)",
    ),
    _opt(
        "--verbose", verbs={"server"}, default=False, help="print the server's request log", **_FLAG
    ),
    _opt(
        "--size",
        verbs={"demo"},
        type=_number(1, 1024 * 1024, "MiB, "),
        default=256,
        metavar="MiB",
        help="the demo object's size in MiB (default 256)",
    ),
    _opt("--bucket", verbs={"demo"}, help="the bucket to use (made and removed if new)"),
)

# verb -> (help, positional arguments as (name, nargs, help))
VERBS: dict[str, tuple[str, tuple[tuple[str, Any, str], ...]]] = {
    "ls": ("list buckets, or objects and folders under a prefix", (("target", "?", "s3://..."),)),
    "cp": (
        "copy a file or object (- for stdin/stdout), or a folder with --recursive",
        (("source", None, "path, s3:// URL or -"), ("destination", None, "path, s3:// or -")),
    ),
    "mv": (
        "move: copy, then delete the source once the copy succeeded",
        (("source", None, "path or s3:// URL"), ("destination", None, "path or s3:// URL")),
    ),
    "rm": ("delete an object, or a folder's objects with --recursive", (("target", None, ""),)),
    "sync": (
        "copy what is missing or changed between folders and prefixes",
        (("source", None, "folder or s3:// prefix"), ("destination", None, "")),
    ),
    "mb": ("make a bucket", (("target", None, "s3://bucket"),)),
    "rb": ("remove a bucket", (("target", None, "s3://bucket"),)),
    "presign": ("print a URL that lets anyone GET the object", (("target", None, "s3://..."),)),
    "cat": ("write objects to stdout", (("targets", "+", "s3://bucket/key"),)),
    "stat": ("an object's size, times, headers and metadata", (("target", None, "s3://..."),)),
    "server": ("run an S3 server (moto) on 127.0.0.1 until Ctrl-C", ()),
    "demo": (
        "stream a generated object up and down, verified; throughput and memory",
        (),
    ),
}


def _common(verb: str | None) -> _Parser:
    """The options as a parent parser, shown in the help of ``verb`` (or, for the
    top level, the global ones) and accepted everywhere. Defaults are left unset
    (SUPPRESS) so that an option given before the verb is not overwritten by the
    verb's parser."""
    p = _Parser(add_help=False)
    for option in OPTIONS:
        kwargs = dict(option.kwargs)
        kwargs.setdefault("dest", option.dest)
        if option.verbs is not None and verb not in option.verbs:
            kwargs["help"] = argparse.SUPPRESS
        p.add_argument(*option.flags, default=argparse.SUPPRESS, **kwargs)
    return p


def _version() -> str:
    import platform

    from .. import __version__

    try:
        import aiobotocore
        import botocore

        libs = f" aiobotocore/{aiobotocore.__version__} botocore/{botocore.__version__}"
    except ImportError:  # pragma: no cover - they are dependencies
        libs = ""
    return f"aios3/{__version__} Python/{platform.python_version()} {platform.system()}{libs}"


class _Version(argparse.Action):
    """--version, as aws prints its own: the versions of aios3, Python and botocore
    (worked out only when asked for)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        print(_version())
        parser.exit(0)


def build() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    p = _Parser(
        prog="aios3",
        description="Move data in and out of S3, the way `aws s3` does. "
        "Options go before or after the verb; 'aios3 VERB --help' lists a verb's own.",
        parents=[_common(None)],
    )
    p.add_argument("--version", action=_Version, help="print the versions and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="VERB")
    for name, (text, positionals) in VERBS.items():
        q = sub.add_parser(name, help=text, description=text, parents=[_common(name)])
        q.add_argument("--version", action=_Version, help="print the versions and exit")
        for arg, nargs, arg_help in positionals:
            q.add_argument(arg, nargs=nargs, help=arg_help or None)
    return p


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``: every option's value or default; refuse (exit 252) an option
    given to a verb it does not apply to."""
    parser = build()
    args = parser.parse_args(argv)
    verb = args.command
    given = set(vars(args))
    for option in OPTIONS:
        if option.dest in given and option.verbs is not None and verb not in option.verbs:
            if option.dest == "filters":
                parser.error(f"--exclude/--include do not apply to {verb}")
            parser.error(f"{option.flags[0]} does not apply to {verb}")
    for option in OPTIONS:
        if option.dest not in given:
            default = option.default
            setattr(args, option.dest, list(default) if isinstance(default, list) else default)
    return args
