"""Directory transfers: :meth:`S3.upload_dir`, :meth:`S3.download_dir`,
:meth:`S3.copy_prefix` and :meth:`S3.sync`, the way ``aws s3 cp --recursive`` and
``aws s3 sync`` work, and safe where they lose data.

Memory stays flat however many files a folder holds: no side is ever held whole. The
path through the code, top to bottom:

1. **Sides.** Each side is a local folder or an S3 folder. A prefix always names a
   folder (``logs`` is ``logs/``: never ``logs.json`` or ``logs-old/``); a missing
   source is :class:`~aios3.SourceNotFound` before anything is written or deleted.
2. **Streams.** Each side is a stream of :class:`_Entry` (a path relative to its root,
   size, time) in one order, S3's: the UTF-8 bytes of the relative path. An S3 side is
   :meth:`S3.list` read page by page; a local side is walked depth first, each folder's
   names sorted as bytes with a ``/`` after a folder's name (as ``aws s3 sync`` does),
   so that ``a-c`` comes before ``a/b`` as the keys would. Keys meet the file system
   through one mapping, :func:`key_parts`: a key that cannot name a file inside the
   destination (``..``, an absolute path, a drive, an empty or ``.`` segment, a NUL)
   is reported as skipped, never written, and nothing that it could stand for is
   deleted.
3. **Merge.** The two streams are merged like a merge join (:func:`_merged`): a path
   only the source has is copied; one both have is compared, as ``aws s3 sync`` does
   (size, then time), and copied or counted unchanged; one only the destination has is
   deleted, with ``delete``. The filters (exclude / include, in order, later ones
   winning, matched against the relative path) decide what is considered at all. A
   stream out of order stops the call: the sides cannot be compared.
4. **Run.** The plan is read as it is made, a bounded look-ahead ahead of the copies
   (its totals are the progress events' ``files_total`` / ``bytes_total``, which grow
   while ``listing``). The copies run ``jobs`` files at a time, and every file's
   requests (parts, ranges, small PutObjects) draw on one :class:`~aios3._aio.Budget`
   of ``TransferConfig.concurrency`` requests and ``part_size x concurrency`` bytes
   (:data:`~aios3._aio.tree_budget`): one big file among small ones gets every slot the
   others leave. A failure is recorded, never cancels the rest. Every file written is
   checked, at the moment it is written, to resolve inside the destination (a
   symlinked folder that leads out of it is refused).
5. **Deletes** come last, once the whole source was read without an error and every
   copy has finished: what to delete is noted as the merge finds it (front-coded, a
   few bytes a path, :class:`_Doomed`), so a listing that fails halfway deletes
   nothing, not even what it had compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fnmatch
import itertools
import os
import re
import stat
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

from ._aio import Budget, tree_budget
from ._config import TransferConfig
from ._exceptions import InvalidRequest, S3Error, SourceNotFound
from ._info import DeleteFailure, ObjectInfo
from ._names import S3Name
from ._progress import ProgressCallback, TreeMeter

if TYPE_CHECKING:
    from ._client import S3

__all__ = [
    "Filter",
    "TreeItem",
    "TreeResult",
    "copy_prefix",
    "download_dir",
    "folder",
    "key_parts",
    "sync",
    "upload_dir",
]

Action: TypeAlias = Literal["upload", "download", "copy", "delete", "skip", "fail"]
Filter: TypeAlias = "tuple[Literal['exclude', 'include'], str]"
"""One filter rule: ``("exclude", "*.tmp")`` or ``("include", "logs/*")``."""

DEFAULT_JOBS = 4
T = TypeVar("T")
_DRIVE = re.compile(r"^[A-Za-z]:")
_SEPARATORS = re.compile(r"[/\\]")


@dataclass(frozen=True, slots=True)
class TreeItem:
    """One file's outcome in a directory transfer.

    ``action`` is what was done (or, in a dry run, would be done): ``"upload"``,
    ``"download"``, ``"copy"``, ``"delete"``, ``"skip"`` (with ``reason``) or
    ``"fail"`` (with ``error``). ``source`` and ``destination`` are local paths or
    ``s3://`` URLs; a delete names what it deleted as ``source``.
    """

    action: Action
    source: str
    destination: str | None = None
    size: int | None = None
    reason: str | None = None
    error: BaseException | None = field(default=None, compare=False)


@dataclass(slots=True)
class TreeResult:
    """What a directory transfer did: how many files were ``copied`` (``bytes`` in all),
    ``deleted`` and ``unchanged`` (already in sync), and each file ``skipped`` (with
    why: an unsafe key, a special file) or ``failed`` (with its error). With ``dryrun``
    nothing was changed and the counts say what would have been.

    Copies and deletes are counted, not kept, so a result stays small however many
    files moved: ``on_item`` hears of each file as it is done.
    """

    copied: int = 0
    deleted: int = 0
    skipped: list[TreeItem] = field(default_factory=list)
    failed: list[TreeItem] = field(default_factory=list)
    unchanged: int = 0
    dryrun: bool = False
    bytes: int = 0
    """The bytes copied (or, in a dry run, that would be)."""

    @property
    def ok(self) -> bool:
        """True when nothing failed (skipped files do not count as failures)."""
        return not self.failed

    def raise_for_failures(self) -> None:
        """Raise :class:`~aios3.S3Error` naming the first failures, if there were any."""
        if self.failed:
            shown = "; ".join(f"{f.source}: {f.error}" for f in self.failed[:3])
            more = f" and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
            raise S3Error(f"{len(self.failed)} files failed: {shown}{more}")

    def _add(self, item: TreeItem) -> None:
        if item.action == "skip":
            self.skipped.append(item)
        elif item.action == "fail":
            self.failed.append(item)
        elif item.action == "delete":
            self.deleted += 1
        else:
            self.copied += 1
            self.bytes += item.size or 0


OnItem: TypeAlias = "Callable[[TreeItem], object] | None"
Job: TypeAlias = "Callable[[ProgressCallback | None], Awaitable[Any]]"
"""One file's copy, given the ``progress=`` callback its transfer reports to."""


# -- names: prefixes as folders, keys as paths -------------------------------------------


def folder(prefix: str) -> str:
    """A prefix as the folder it names: ``"logs"`` -> ``"logs/"``; ``""`` stays ``""``."""
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"


def key_parts(rel: str) -> list[str]:
    """The path segments a key (relative to its folder) maps to on disk.

    This is the one mapping of keys to local paths. It refuses, with
    :class:`~aios3.InvalidRequest` saying why, every key that is not a plain relative
    path in normal form, on every platform alike: an absolute key, a drive (``C:``),
    ``..``, an empty or ``.`` segment (``a//b``, ``m/./n``: two keys could land on
    one file, and the file would never match its key), a backslash segment that does
    one of those, a NUL byte.
    """
    problem = None
    if "\0" in rel:
        problem = "holds a NUL byte"
    elif rel.startswith(("/", "\\")):
        problem = "is an absolute path"
    elif _DRIVE.match(rel):
        problem = "names a drive"
    else:
        segments = _SEPARATORS.split(rel)
        if ".." in segments:
            problem = "climbs out of the folder with '..'"
        elif "" in segments or "." in segments:
            problem = "is not in normal form (an empty or '.' segment)"
        elif os.name == "nt" and any(":" in s for s in segments):  # pragma: no cover
            problem = "holds ':', which Windows takes for a drive or stream"
    if problem:
        raise InvalidRequest(f"the key {rel!r} {problem}")
    return rel.split("/")


def _normal_form(rel: str) -> str | None:
    """The relative path an unsafe key would have meant, to keep it from deletion."""
    kept: list[str] = []
    for segment in _SEPARATORS.split(rel.replace("\0", "")):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not kept:
                return None
            kept.pop()
        else:
            kept.append(segment)
    return "/".join(kept) or None


def _inside(root_real: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


class _Unsafe(Exception):
    """A file that would be written outside the destination: skipped, not failed."""


def _safe_target(root: Path, parts: Sequence[str]) -> Path:
    """Create the folders for ``root/parts`` and return the file's path, refusing any
    that resolves outside ``root`` (a symlinked folder leading out of it)."""
    root_real = os.path.realpath(root)
    current = root
    for part in parts[:-1]:
        current = current / part
        if os.path.lexists(current) and not _inside(root_real, os.fspath(current)):
            raise _Unsafe(f"{current} leads outside {root} (a symbolic link); not downloaded")
        current.mkdir(exist_ok=True)
    target = current / parts[-1]
    if not _inside(root_real, os.fspath(target.parent)):
        raise _Unsafe(f"{target} resolves outside {root}; not downloaded")
    return target


# -- sides and their entries -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    """A file on one side: its path relative to the side's root, size, mtime (ns)."""

    rel: str
    size: int
    mtime_ns: int
    where: str  # a local path or an s3:// URL, for reports
    key: str | None = None  # the object's key, on an S3 side


@dataclass(frozen=True, slots=True)
class _Remote:
    bucket: str
    prefix: str  # a folder: "" or ends with "/"

    def url(self, rel: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{rel}"

    def holds(self, other: _Remote) -> bool:
        """Whether ``other`` is this folder or one inside it."""
        return self.bucket == other.bucket and other.prefix.startswith(self.prefix)


def _timestamp_ns(info: ObjectInfo) -> int:
    when = info.last_modified
    return 0 if when is None else round(when.timestamp() * 1_000_000) * 1000


async def _remote_stream(
    s3: S3, side: _Remote, payer: Mapping[str, Any] | None = None
) -> AsyncGenerator[_Entry, None]:
    """The objects under ``side``, as :meth:`S3.list` gives them: in S3's order, a page
    at a time (the folder itself and folder markers left out)."""
    listing = s3.list(side.prefix, bucket=side.bucket, **(payer or {}))
    try:
        async for item in listing:
            if not isinstance(item, ObjectInfo):
                continue
            rel = item.key[len(side.prefix) :]
            if not rel or rel.endswith("/"):  # the folder itself, or a folder marker
                continue
            yield _Entry(rel, item.size or 0, _timestamp_ns(item), side.url(rel), item.key)
    finally:
        if isinstance(listing, AsyncGenerator):  # its page read ahead is cancelled
            await listing.aclose()


Order: TypeAlias = Literal["bytes", "path"]
"""The order a listing gives keys in: S3's, by the UTF-8 bytes of the key (AWS, MinIO,
Ceph, moto), or a file system's, by path segment (SeaweedFS's filer lists ``data/x``
before ``data-old/y``: each folder's keys right after its name)."""

_PATH_ORDER: set[str] = set()  # the endpoints seen listing in "path" order


def _sort_key(order: Order) -> Callable[[str], Any]:
    """How two relative paths compare in ``order`` (a str compares as its UTF-8 bytes)."""
    return (lambda rel: rel) if order == "bytes" else (lambda rel: rel.split("/"))


def _order(name: str, is_folder: bool, order: Order = "bytes") -> bytes:
    """Where a name sorts among its folder's, so that the walk meets relative paths in
    ``order``: by its bytes, in S3's order a folder's with the ``/`` its paths continue
    with (as ``aws s3 sync`` does: ``a-c`` before ``a/b``)."""
    return os.fsencode(name) + (b"/" if is_folder and order == "bytes" else b"")


def _walk_sorted(
    root: Path, *, source: bool, order: Order = "bytes"
) -> Iterator[_Entry | TreeItem]:
    """The regular files under ``root`` (symlinks to files followed, symlinked folders
    not entered) in ``order`` of their relative paths, and the files skipped, each
    with why. A destination's special files are left alone silently; a source's are
    reported. Each folder is read and sorted when the walk enters it, so at most one
    folder's names per level are held."""
    # (folder path, its relative path with a trailing "/", its names not yet walked)
    open_folders: list[tuple[str, str, Iterator[tuple[bytes, str, bool]]]] = []

    def enter(path: str, rel: str) -> TreeItem | None:
        try:
            with os.scandir(path) as it:
                names = sorted(
                    (_order(e.name, d, order), e.name, d) for e in it for d in [_is_dir(e)]
                )
        except OSError as exc:
            return skip(path, f"cannot be read ({exc.strerror})")
        open_folders.append((path, rel, iter(names)))
        return None

    def skip(path: str, reason: str) -> TreeItem | None:
        return TreeItem("skip", path, reason=reason) if source else None

    problem = enter(os.fspath(root), "")
    if problem is not None:
        yield problem
    while open_folders:
        folder_path, folder_rel, names = open_folders[-1]
        following = next(names, None)
        if following is None:
            open_folders.pop()
            continue
        _, name, is_dir = following
        path, rel = os.path.join(folder_path, name), folder_rel + name
        if is_dir:
            problem = enter(path, rel + "/")
        else:
            found = _look(path, rel, source=source)
            if isinstance(found, _Entry):
                yield found
                continue
            problem = skip(path, found)
        if problem is not None:
            yield problem


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False  # looked at again as a file, and reported there


def _look(path: str, rel: str, *, source: bool) -> _Entry | str:
    """The file at ``path`` as an entry, or why it is skipped."""
    try:
        st = os.stat(path)  # follows a link to a file
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(st.st_mode):
        return "is a symbolic link to a folder, which is not followed"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if source and not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return "has a name that is not valid UTF-8"
    return _Entry(rel, st.st_size, st.st_mtime_ns, path)


_WALK_BATCH = 1000  # files looked at in one hop to a worker thread


async def _local_stream(
    root: Path, *, source: bool, on_skip: Callable[[TreeItem], object], order: Order
) -> AsyncGenerator[_Entry, None]:
    """:func:`_walk_sorted` in a worker thread, ``_WALK_BATCH`` files a hop; the files
    skipped go to ``on_skip``."""
    walk = _walk_sorted(root, source=source, order=order)
    while True:
        batch = await asyncio.to_thread(list, itertools.islice(walk, _WALK_BATCH))
        for found in batch:
            if isinstance(found, TreeItem):
                on_skip(found)
            else:
                yield found
        if len(batch) < _WALK_BATCH:
            return


def _walk(root: Path, *, source: bool) -> tuple[dict[str, _Entry], list[TreeItem]]:
    """Every file under ``root`` at once (for :mod:`aios3.dask`, which cuts the whole
    tree into shards), and the files skipped; as :func:`_walk_sorted`."""
    entries: dict[str, _Entry] = {}
    skipped: list[TreeItem] = []
    for found in _walk_sorted(root, source=source):
        if isinstance(found, TreeItem):
            skipped.append(found)
        else:
            entries[found.rel] = found
    return entries, skipped


def _local_source(path: str | os.PathLike[str]) -> Path:
    root = Path(path)
    if not root.exists():
        raise SourceNotFound(f"the source folder {os.fspath(root)!r} does not exist")
    if not root.is_dir():
        raise SourceNotFound(
            f"the source {os.fspath(root)!r} is not a folder (to copy one file, drop "
            "--recursive / use upload())"
        )
    return root


def _nothing_under(side: _Remote) -> SourceNotFound:
    return SourceNotFound(
        f"nothing under {side.url()}: the source prefix holds no objects",
        bucket=side.bucket,
        key=side.prefix,
    )


async def _remote_source(
    s3: S3, side: _Remote, payer: Mapping[str, Any] | None = None
) -> dict[str, _Entry]:
    """Every object under ``side`` at once (for :mod:`aios3.dask`); none is an error."""
    entries: dict[str, _Entry] = {}
    async with contextlib.aclosing(_remote_stream(s3, side, payer)) as stream:
        async for entry in stream:
            entries[entry.rel] = entry
    if not entries:
        raise _nothing_under(side)
    return entries


# -- the plan --------------------------------------------------------------------------


def _rules(
    filters: Sequence[Filter], exclude: Iterable[str], include: Iterable[str]
) -> list[Filter]:
    rules: list[Filter] = [("exclude", p) for p in exclude]
    rules += [("include", p) for p in include]
    rules += list(filters)
    for kind, pattern in rules:
        if kind not in ("exclude", "include") or not isinstance(pattern, str):
            raise InvalidRequest(f"a filter is ('exclude' | 'include', pattern), not {kind!r}")
    return rules


def _included(rules: Sequence[Filter], rel: str) -> bool:
    """aws's rule: everything is included; each matching rule, in order, decides."""
    keep = True
    for kind, pattern in rules:
        if fnmatch.fnmatchcase(rel, pattern):
            keep = kind == "include"
    return keep


def _needs_copy(
    src: _Entry, dst: _Entry | None, *, download: bool, size_only: bool, exact: bool
) -> bool:
    """``aws s3 sync``'s comparison: a missing or resized file is copied; otherwise an
    upload or copy when the source is newer, a download when the local file is newer
    than the object (``exact``: when the times differ at all). Times compare in whole
    seconds, S3's own resolution (AWS and moto report LastModified to the second), so a
    file is not taken for newer than the object it was uploaded to a moment ago."""
    if dst is None or src.size != dst.size:
        return True
    if size_only:
        return False
    delta = dst.mtime_ns // 1_000_000_000 - src.mtime_ns // 1_000_000_000
    if download:
        return delta != 0 if exact else delta > 0
    return delta < 0


Pair: TypeAlias = "tuple[_Entry | None, _Entry | None]"


class _PathOrder(Exception):
    """A listing came in "path" order, not S3's: the call starts again in that order."""


async def _merged(
    source: AsyncIterator[_Entry],
    dest: AsyncIterator[_Entry] | None,
    *,
    order: Order,
    first: _Entry | None = None,
) -> AsyncGenerator[Pair, None]:
    """The two sides' streams, both in ``order``, merged by relative path: ``(s,
    None)`` for a path only the source has, ``(s, d)`` for one both have, ``(None, d)``
    for one only the destination has (``dest`` ``None``: no destination is compared).
    ``first`` is the source's first entry when it was read already. A side out of
    order is an :class:`~aios3.S3Error` (the merge would take what it holds for
    missing), or :class:`_PathOrder` when it is in "path" order instead of S3's."""
    key = _sort_key(order)

    async def after(stream: AsyncIterator[_Entry], last: _Entry) -> _Entry | None:
        entry = await anext(stream, None)
        if entry is not None and key(entry.rel) <= key(last.rel):
            if order == "bytes" and entry.rel.split("/") > last.rel.split("/"):
                raise _PathOrder(f"{entry.where} came after {last.where}")
            raise S3Error(
                f"{entry.where} came after {last.where}, out of key order: the sides "
                "cannot be compared, so nothing was deleted"
            )
        return entry

    s = first if first is not None else await anext(source, None)
    d = None if dest is None else await anext(dest, None)
    while s is not None or d is not None:
        if d is None or (s is not None and key(s.rel) < key(d.rel)):
            assert s is not None
            yield s, None
            s = await after(source, s)
        elif s is None or key(d.rel) < key(s.rel):
            assert dest is not None
            yield None, d
            d = await after(dest, d)
        else:
            assert dest is not None
            yield s, d
            s, d = await after(source, s), await after(dest, d)


@dataclass(frozen=True)
class _Choice:
    """What a tree call copies and deletes: the filters (``rules``); in a sync
    (``sync``) only what is missing or changed on the other side, compared by size alone
    (``size_only``) or by size and time (``exact``: any difference in time counts), and
    with ``delete`` what only the destination has."""

    rules: Sequence[Filter] = ()
    sync: bool = False
    delete: bool = False
    size_only: bool = False
    exact: bool = False


async def _to_copy(
    source: AsyncIterator[_Entry],
    dest: AsyncIterator[_Entry] | None,
    run: _Run,
    doomed: _Doomed,
    choice: _Choice,
    *,
    order: Order,
    first: _Entry | None = None,
    download: bool,
    deletable: Callable[[_Entry], bool] | None = None,
) -> AsyncGenerator[_Entry, None]:
    """The source entries to copy, from the two sides merged (:func:`_merged`, which
    takes ``order`` and ``first``): those ``choice`` takes (the rest of a sync count as
    unchanged). What only the destination has goes to ``doomed`` when ``choice`` deletes
    it and ``deletable`` (if given) agrees. Closing this generator closes the merge."""
    rules = choice.rules
    pairs = _merged(source, dest, order=order, first=first)
    async with contextlib.aclosing(pairs):
        async for entry, there in pairs:
            if entry is None:  # only the destination has it
                assert there is not None
                wanted = choice.delete and _included(rules, there.rel)
                if wanted and (deletable is None or deletable(there)):
                    doomed.add(there.rel, there.size)
                continue
            if not _included(rules, entry.rel):
                continue
            if choice.sync and not _needs_copy(
                entry, there, download=download, size_only=choice.size_only, exact=choice.exact
            ):
                run.result.unchanged += 1
                continue
            yield entry


class _Doomed:
    """The files a sync will delete (relative path and size), noted as the merge finds
    them, in its order, and front-coded: each keeps only the bytes it does not share
    with the one before (``logs/2026/05/app-000123.json`` after ``...000122.json``
    takes a few bytes), so a million deletes wait in megabytes, not gigabytes."""

    __slots__ = ("_data", "_last", "count")

    def __init__(self) -> None:
        self._data = bytearray()
        self._last = b""
        self.count = 0

    def add(self, rel: str, size: int) -> None:
        raw = rel.encode("utf-8", "surrogatepass")
        shared = _shared(self._last, raw)
        for number in (shared, len(raw) - shared, size):
            _put_varint(self._data, number)
        self._data += raw[shared:]
        self._last, self.count = raw, self.count + 1

    def __iter__(self) -> Iterator[tuple[str, int]]:
        data, at, last = self._data, 0, b""
        for _ in range(self.count):
            shared, at = _get_varint(data, at)
            added, at = _get_varint(data, at)
            size, at = _get_varint(data, at)
            last = last[:shared] + bytes(data[at : at + added])
            at += added
            yield last.decode("utf-8", "surrogatepass"), size


def _shared(a: bytes, b: bytes) -> int:
    """How many leading bytes ``a`` and ``b`` share (a binary search of slices)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _put_varint(data: bytearray, number: int) -> None:
    while number >= 0x80:
        data.append(number & 0x7F | 0x80)
        number >>= 7
    data.append(number)


def _get_varint(data: bytearray, at: int) -> tuple[int, int]:
    number = shift = 0
    while True:
        byte = data[at]
        at += 1
        number |= (byte & 0x7F) << shift
        if byte < 0x80:
            return number, at
        shift += 7


def _batches(items: Iterable[tuple[str, int]], size: int) -> Iterator[list[tuple[str, int]]]:
    it = iter(items)
    while batch := list(itertools.islice(it, size)):
        yield batch


LOOKAHEAD = 1000
"""How far the plan is read ahead of the copies, in files: a tree no bigger has its
totals known at the first progress event."""


@dataclass(slots=True)
class _Run:
    """Runs a plan: copies ``jobs`` at a time, then deletes; reports each outcome."""

    s3: S3
    transfer: TransferConfig
    jobs: int
    dryrun: bool
    on_item: OnItem
    progress: ProgressCallback | None = None
    result: TreeResult = field(default_factory=TreeResult)
    payer: Mapping[str, Any] = field(default_factory=dict)  # on the lists and deletes too
    meter: TreeMeter | None = None  # once the copies have begun

    def report(self, item: TreeItem) -> None:
        self.result._add(item)
        if self.on_item is not None:
            self.on_item(item)

    async def in_order(self, attempt: Callable[[Order], Awaitable[None]]) -> TreeResult:
        """Run ``attempt`` (a call's listing, copies and deletes) in S3's order, and
        once more in "path" order if a listing turns out to come in that one (the
        server's, remembered). What the first attempt copied was copied rightly (the
        orders agree up to the first key where they differ, where it stopped); it is
        unchanged the second time. Its skips and failures are found again."""
        endpoint = self.s3.config.endpoint or ""
        if endpoint not in _PATH_ORDER:
            try:
                await attempt("bytes")
                return self.result
            except _PathOrder:
                _PATH_ORDER.add(endpoint)
            self.result.unchanged = 0
            self.result.skipped.clear()
            self.result.failed.clear()
            if self.meter is not None:
                self.meter.again()
        await attempt("path")
        return self.result

    async def copies(
        self, name: str, work: AsyncIterable[tuple[TreeItem, Job]] | Iterable[tuple[TreeItem, Job]]
    ) -> None:
        """Run each ``(item, job)`` of ``work`` as it comes: report ``item`` once the
        job is done (or, in a dry run, at once), or a ``fail`` item with the job's
        error. ``work`` is read up to ``LOOKAHEAD`` items ahead of the jobs, never held
        whole; ``progress`` hears of the whole tree (named ``name``, its source) as
        the files' transfers go, its totals growing as ``work`` is read. An error
        reading ``work`` (a listing that failed) cancels the jobs in flight and is
        raised."""
        meter = self.meter
        if meter is None:
            meter = self.meter = TreeMeter(name, self.progress)
        ahead: asyncio.Queue[tuple[TreeItem, Job] | None] = asyncio.Queue(LOOKAHEAD)
        ready = asyncio.Event()  # the look-ahead is full, or the plan is all read
        slots = asyncio.Semaphore(self.jobs)

        async def plan() -> None:
            async with contextlib.aclosing(_aiter(work)) as planned:
                async for item, job in planned:
                    meter.found(item.size or 0)
                    if ahead.full():
                        ready.set()
                    await ahead.put((item, job))
            meter.found_all()
            ready.set()
            await ahead.put(None)

        async def one(item: TreeItem, job: Job) -> None:
            copied = False
            try:
                await job(meter.file_callback(item.source))
                copied = True
            except _Unsafe as exc:
                item = TreeItem("skip", item.source, reason=str(exc))
            except Exception as exc:
                if meter.failed is not None:
                    raise  # the progress callback raised: that stops the whole call
                item = dataclasses.replace(item, action="fail", error=exc, reason=str(exc))
            finally:
                slots.release()
            await meter.file_done(item.source, item.size or 0, ok=copied)
            self.report(item)

        # One pool for the parts of every file (and the files' ranges): the tree holds
        # at most part_size x concurrency bytes of parts, however many files are open.
        pool = Budget(
            self.transfer.concurrency, self.transfer.part_size * self.transfer.concurrency
        )
        token = tree_budget.set(pool)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(plan())
                await ready.wait()
                if not meter.begun:
                    await meter.begin()
                while (planned := await ahead.get()) is not None:
                    item, job = planned
                    if self.dryrun:
                        await meter.file_done(item.source, item.size or 0, ok=True)
                        self.report(item)
                        continue
                    await slots.acquire()
                    group.create_task(one(item, job))
        except BaseExceptionGroup as group_error:  # a listing, on_item or progress raised
            raise group_error.exceptions[0] from None
        finally:
            tree_budget.reset(token)
        await meter.finish()

    async def delete_local(self, root: Path, doomed: Iterable[tuple[str, int]]) -> None:
        """Delete ``root``'s files at these relative paths, a batch per worker thread."""
        for batch in _batches(doomed, _WALK_BATCH):
            paths = [os.fspath(root.joinpath(*rel.split("/"))) for rel, _ in batch]
            if self.dryrun:
                errors: list[OSError | None] = [None] * len(paths)
            else:
                errors = await asyncio.to_thread(_unlink_each, paths)
            for (_, size), path, error in zip(batch, paths, errors, strict=True):
                if error is None:
                    self.report(TreeItem("delete", path, size=size))
                else:
                    self.report(TreeItem("fail", path, error=error, reason=str(error)))

    async def delete_remote(self, side: _Remote, doomed: Iterable[tuple[str, int]]) -> None:
        """Delete the objects at these paths relative to ``side``, in DeleteObjects
        batches, ``transfer.concurrency`` at once."""
        for batch in _batches(doomed, 1000 * self.transfer.concurrency):
            failed: dict[str, DeleteFailure] = {}
            if not self.dryrun:
                done = await self.s3.delete_many(
                    [S3Name(side.prefix + rel, side.bucket) for rel, _ in batch],
                    bucket=side.bucket,
                    **self.payer,
                )
                failed = {f.key: f for f in done.failed}
            for rel, size in batch:
                problem = failed.get(side.prefix + rel)
                if problem is None:
                    self.report(TreeItem("delete", side.url(rel), size=size))
                else:
                    where = side.url(rel)
                    error = S3Error(f"delete {where} failed: {problem.code}: {problem.message}")
                    self.report(TreeItem("fail", where, error=error, reason=str(error)))


async def _aiter(work: AsyncIterable[T] | Iterable[T]) -> AsyncGenerator[T, None]:
    if isinstance(work, AsyncIterable):
        async for item in work:
            yield item
    else:
        for item in work:
            yield item


def _unlink_each(paths: Sequence[str]) -> list[OSError | None]:
    errors: list[OSError | None] = []
    for path in paths:
        try:
            os.unlink(path)
        except OSError as exc:
            errors.append(exc)
        else:
            errors.append(None)
    return errors


# -- the four calls ----------------------------------------------------------------------


WriteOptions: TypeAlias = "Mapping[str, Any]"
_READ_KEYWORDS = ("sse_c", "request_payer", "expected_bucket_owner")  # what a download takes
_WRITE_ONLY = frozenset(
    {"sse", "sse_kms_key_id", "sse_kms_context", "bucket_key", "acl", "tags", "object_lock"}
)


async def upload_dir(
    s3: S3,
    local: str | os.PathLike[str],
    remote: _Remote,
    *,
    choice: _Choice,
    write: WriteOptions,
    run: _Run,
) -> TreeResult:
    """Local folder -> S3 folder (``cp --recursive`` or, with ``sync``, ``sync``)."""
    root = _local_source(local)
    transfer = run.transfer

    def deletable(there: _Entry) -> bool:
        try:
            key_parts(there.rel)
        except InvalidRequest as exc:  # no local file can have this name: keep it
            run.report(TreeItem("skip", there.where, reason=f"{exc}; not deleted"))
            return False
        return True

    async def attempt(order: Order) -> None:
        doomed = _Doomed()

        async def work() -> AsyncGenerator[tuple[TreeItem, Job], None]:
            async with contextlib.AsyncExitStack() as streams:
                source = await streams.enter_async_context(
                    contextlib.aclosing(
                        _local_stream(root, source=True, on_skip=run.report, order=order)
                    )
                )
                dest = None
                if choice.sync:
                    dest = await streams.enter_async_context(
                        contextlib.aclosing(_remote_stream(s3, remote, run.payer))
                    )
                todo = _to_copy(
                    source,
                    dest,
                    run,
                    doomed,
                    choice,
                    order=order,
                    download=False,
                    deletable=deletable,
                )
                await streams.enter_async_context(contextlib.aclosing(todo))
                async for entry in todo:
                    key = remote.prefix + entry.rel
                    item = TreeItem("upload", entry.where, remote.url(entry.rel), entry.size)

                    def job(
                        progress: ProgressCallback | None, path: str = entry.where, key: str = key
                    ) -> Awaitable[Any]:
                        name = S3Name(key, remote.bucket)
                        return s3.upload(name, path, transfer=transfer, progress=progress, **write)

                    yield item, job

        await run.copies(os.fspath(root), work())
        if choice.delete:  # the whole source was read, without an error
            await run.delete_remote(remote, doomed)

    return await run.in_order(attempt)


async def download_dir(
    s3: S3,
    remote: _Remote,
    local: str | os.PathLike[str],
    *,
    choice: _Choice,
    run: _Run,
    read: Mapping[str, Any] | None = None,
) -> TreeResult:
    """S3 folder -> local folder. Every key goes through :func:`key_parts` and
    :func:`_safe_target`; downloads set the file's mtime to the object's LastModified,
    so a sync back the other way finds nothing to do."""
    root = Path(local)
    transfer = run.transfer

    async def attempt(order: Order) -> None:
        doomed = _Doomed()
        protected: set[str] = set()  # what unsafe keys could stand for (rare): never deleted
        async with contextlib.AsyncExitStack() as streams:
            source = await streams.enter_async_context(
                contextlib.aclosing(_remote_stream(s3, remote, run.payer))
            )
            first = await anext(source, None)
            if first is None:
                raise _nothing_under(remote)
            exists = await asyncio.to_thread(os.path.lexists, root)
            if exists and not await asyncio.to_thread(os.path.isdir, root):
                raise InvalidRequest(f"the destination {os.fspath(root)!r} is not a folder")
            dest = None
            if choice.sync and exists:
                dest = await streams.enter_async_context(
                    contextlib.aclosing(
                        _local_stream(root, source=False, on_skip=run.report, order=order)
                    )
                )
            if not run.dryrun:
                await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)

            async def work() -> AsyncGenerator[tuple[TreeItem, Job], None]:
                todo = _to_copy(
                    source,
                    dest,
                    run,
                    doomed,
                    choice,
                    order=order,
                    first=first,
                    download=True,
                )
                async with contextlib.aclosing(todo):
                    async for entry in todo:
                        # (an unsafe key has no local twin: it is never unchanged)
                        try:
                            parts = key_parts(entry.rel)
                        except InvalidRequest as exc:
                            reason = f"{exc}; not downloaded"
                            run.report(TreeItem("skip", entry.where, reason=reason))
                            normal = _normal_form(entry.rel)
                            if normal is not None:
                                protected.add(normal)
                            continue
                        shown = os.fspath(root.joinpath(*parts))
                        item = TreeItem("download", entry.where, shown, entry.size)

                        def job(
                            progress: ProgressCallback | None,
                            entry: _Entry = entry,
                            parts: list[str] = parts,
                        ) -> Awaitable[None]:
                            return _download_one(
                                s3, remote, entry, root, parts, transfer, progress, read
                            )

                        yield item, job

            await run.copies(remote.url(), work())
        if choice.delete:  # the whole source was read: protected holds every unsafe key's names
            await run.delete_local(root, ((r, n) for r, n in doomed if r not in protected))

    return await run.in_order(attempt)


async def _download_one(
    s3: S3,
    remote: _Remote,
    entry: _Entry,
    root: Path,
    parts: list[str],
    transfer: TransferConfig,
    progress: ProgressCallback | None = None,
    read: Mapping[str, Any] | None = None,
) -> None:
    target = await asyncio.to_thread(_safe_target, root, parts)
    name = S3Name(entry.key or "", remote.bucket)
    await s3.download(name, target, transfer=transfer, progress=progress, **(read or {}))
    if entry.mtime_ns:
        await asyncio.to_thread(os.utime, target, ns=(entry.mtime_ns, entry.mtime_ns))


async def copy_prefix(
    s3: S3,
    src: _Remote,
    dst: _Remote,
    *,
    choice: _Choice,
    write: WriteOptions,
    run: _Run,
) -> TreeResult:
    """S3 folder -> S3 folder, server-side."""
    if src == dst:
        raise InvalidRequest(f"{src.url()} is both the source and the destination")
    if choice.delete and (src.holds(dst) or dst.holds(src)):
        outer, inner = (src, dst) if src.holds(dst) else (dst, src)
        raise InvalidRequest(
            f"{outer.url()} holds {inner.url()}: a sync with delete between them would "
            "delete objects the source holds"
        )
    transfer = run.transfer

    async def attempt(order: Order) -> None:
        doomed = _Doomed()
        async with contextlib.AsyncExitStack() as streams:
            source: AsyncGenerator[_Entry, None] = await streams.enter_async_context(
                contextlib.aclosing(_remote_stream(s3, src, run.payer))
            )
            if src.holds(dst):
                # The copies land inside the source, where a listing still to come would
                # find them and copy them again: the source is listed whole first.
                listed = await _remote_source(s3, src, run.payer)
                source = _aiter(list(listed.values()))
            first = await anext(source, None)
            if first is None:
                raise _nothing_under(src)
            dest = None
            if choice.sync:
                dest = await streams.enter_async_context(
                    contextlib.aclosing(_remote_stream(s3, dst, run.payer))
                )

            async def work() -> AsyncGenerator[tuple[TreeItem, Job], None]:
                todo = _to_copy(
                    source,
                    dest,
                    run,
                    doomed,
                    choice,
                    order=order,
                    first=first,
                    download=False,
                )
                async with contextlib.aclosing(todo):
                    async for entry in todo:
                        item = TreeItem("copy", entry.where, dst.url(entry.rel), entry.size)
                        from_name = S3Name(entry.key or "", src.bucket)
                        to_name = S3Name(dst.prefix + entry.rel, dst.bucket)

                        def job(
                            progress: ProgressCallback | None,
                            a: S3Name = from_name,
                            b: S3Name = to_name,
                        ) -> Awaitable[Any]:
                            return s3.copy(a, b, transfer=transfer, progress=progress, **write)

                        yield item, job

            await run.copies(src.url(), work())
        if choice.delete:  # the whole source was read, without an error
            await run.delete_remote(dst, doomed)

    return await run.in_order(attempt)


def remote_side(s3: S3, name: Any, bucket: str | None = None) -> _Remote:
    """An S3 side from a key prefix, ``s3://`` URL or :class:`S3Name`, as a folder."""
    b, prefix = s3.name(name, bucket=bucket, allow_empty_key=True)
    return _Remote(b, folder(prefix))


def is_remote(side: Any) -> bool:
    """Whether a sync side names S3 (an ``s3://`` URL or an :class:`S3Name`)."""
    return isinstance(side, S3Name) or (isinstance(side, str) and side.startswith("s3://"))


async def sync(
    s3: S3,
    source: Any,
    destination: Any,
    *,
    rules: Sequence[Filter],
    delete: bool,
    size_only: bool,
    exact_timestamps: bool,
    write: WriteOptions,
    run: _Run,
) -> TreeResult:
    """Pick the direction from the two sides and run it as a sync."""
    options: dict[str, Any] = {
        "choice": _Choice(rules, True, delete, size_only, exact_timestamps),
        "run": run,
    }
    if is_remote(source) and is_remote(destination):
        return await copy_prefix(
            s3, remote_side(s3, source), remote_side(s3, destination), write=write, **options
        )
    if is_remote(destination):
        return await upload_dir(s3, source, remote_side(s3, destination), write=write, **options)
    if is_remote(source):
        once = sorted(set(write) & _WRITE_ONLY)
        if once:
            raise InvalidRequest(f"sync to a local folder writes no object: {once} do not apply")
        read = {k: v for k, v in write.items() if k in _READ_KEYWORDS}
        return await download_dir(s3, remote_side(s3, source), destination, read=read, **options)
    raise InvalidRequest("sync needs an s3:// URL (or an S3Name) on at least one side")
