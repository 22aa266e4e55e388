"""Directory transfers: :meth:`S3.upload_dir`, :meth:`S3.download_dir`,
:meth:`S3.copy_prefix` and :meth:`S3.sync`, the way ``aws s3 cp --recursive`` and
``aws s3 sync`` work, and safe where they lose data.

The path through the code, top to bottom:

1. **Sides.** Each side is a local folder or an S3 folder. A prefix always names a
   folder (``logs`` is ``logs/``: never ``logs.json`` or ``logs-old/``); a missing
   source is :class:`~aios3.SourceNotFound` before anything is written or deleted.
2. **Listing.** Each side becomes a map from a path relative to its root to an
   :class:`_Entry`. Keys meet the file system through one mapping,
   :func:`key_parts`: a key that cannot name a file inside the destination (``..``,
   an absolute path, a drive, an empty or ``.`` segment, a NUL) is reported as
   skipped, never written, and nothing that it could stand for is deleted.
3. **Plan.** The filters (exclude / include, in order, later ones winning, matched
   against the relative path) and, for sync, the size-and-time comparison of
   ``aws s3 sync`` decide what is copied and what is deleted.
4. **Run.** The copies run ``jobs`` files at a time, and every file's requests (parts,
   ranges, small PutObjects) draw on one :class:`~aios3._aio.Budget` of
   ``TransferConfig.concurrency`` requests and ``part_size x concurrency`` bytes
   (:data:`~aios3._aio.tree_budget`): one big file among small ones gets every slot the
   others leave, and memory stays flat whatever the tree. A failure is recorded, never
   cancels the rest; deletes follow once every copy has finished. Every file
   written is checked, at the moment it is written, to resolve inside the destination
   (a symlinked folder that leads out of it is refused).
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import os
import re
import stat
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from ._aio import Budget, tree_budget
from ._config import TransferConfig
from ._exceptions import InvalidRequest, S3Error, SourceNotFound
from ._info import ObjectInfo
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
    """What a directory transfer did: files ``copied``, ``deleted``, ``skipped`` (each
    with why: an unsafe key, a special file) and ``failed`` (each with its error), and
    how many were ``unchanged`` (already in sync). With ``dryrun`` nothing was changed
    and the lists say what would have been."""

    copied: list[TreeItem] = field(default_factory=list)
    deleted: list[TreeItem] = field(default_factory=list)
    skipped: list[TreeItem] = field(default_factory=list)
    failed: list[TreeItem] = field(default_factory=list)
    unchanged: int = 0
    dryrun: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing failed (skipped files do not count as failures)."""
        return not self.failed

    @property
    def bytes(self) -> int:
        """The bytes copied (or, in a dry run, that would be)."""
        return sum(item.size or 0 for item in self.copied)

    def raise_for_failures(self) -> None:
        """Raise :class:`~aios3.S3Error` naming the first failures, if there were any."""
        if self.failed:
            shown = "; ".join(f"{f.source}: {f.error}" for f in self.failed[:3])
            more = f" and {len(self.failed) - 3} more" if len(self.failed) > 3 else ""
            raise S3Error(f"{len(self.failed)} files failed: {shown}{more}")

    def _add(self, item: TreeItem) -> None:
        lists = {
            "skip": self.skipped,
            "fail": self.failed,
            "delete": self.deleted,
        }
        lists.get(item.action, self.copied).append(item)


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


def _timestamp_ns(info: ObjectInfo) -> int:
    when = info.last_modified
    return 0 if when is None else round(when.timestamp() * 1_000_000) * 1000


async def _list_remote(
    s3: S3, side: _Remote, payer: Mapping[str, Any] | None = None
) -> dict[str, _Entry]:
    entries: dict[str, _Entry] = {}
    async for item in s3.list(side.prefix, bucket=side.bucket, **(payer or {})):
        if not isinstance(item, ObjectInfo):
            continue
        rel = item.key[len(side.prefix) :]
        if not rel or rel.endswith("/"):  # the folder itself, or a folder marker
            continue
        entries[rel] = _Entry(rel, item.size or 0, _timestamp_ns(item), side.url(rel), item.key)
    return entries


def _walk(root: Path, *, source: bool) -> tuple[dict[str, _Entry], list[TreeItem]]:
    """Regular files under ``root`` (symlinks to files followed, symlinked folders
    not entered), and the files skipped with why. A destination's special files are
    left alone silently; a source's are reported."""
    entries: dict[str, _Entry] = {}
    skipped: list[TreeItem] = []

    def skip(path: str, reason: str) -> None:
        if source:
            skipped.append(TreeItem("skip", path, reason=reason))

    stack = [root]
    while stack:
        folder_path = stack.pop()
        try:
            with os.scandir(folder_path) as it:
                items = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skip(os.fspath(folder_path), f"cannot be read ({exc.strerror})")
            continue
        for item in items:
            path = item.path
            rel = Path(path).relative_to(root).as_posix()
            try:
                if item.is_dir(follow_symlinks=False):
                    stack.append(Path(path))
                    continue
                st = os.stat(path)  # follows a link to a file
            except OSError as exc:
                skip(path, f"cannot be read ({exc.strerror})")
                continue
            if stat.S_ISDIR(st.st_mode):
                skip(path, "is a symbolic link to a folder, which is not followed")
            elif not stat.S_ISREG(st.st_mode):
                skip(path, "is not a regular file")
            elif source and not os.access(path, os.R_OK):
                skip(path, "cannot be read (permission denied)")
            else:
                try:
                    rel.encode("utf-8")
                except UnicodeEncodeError:
                    skip(path, "has a name that is not valid UTF-8")
                    continue
                entries[rel] = _Entry(rel, st.st_size, st.st_mtime_ns, path)
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


async def _remote_source(
    s3: S3, side: _Remote, payer: Mapping[str, Any] | None = None
) -> dict[str, _Entry]:
    entries = await _list_remote(s3, side, payer)
    if not entries:
        raise SourceNotFound(
            f"nothing under {side.url()}: the source prefix holds no objects",
            bucket=side.bucket,
            key=side.prefix,
        )
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

    def report(self, item: TreeItem) -> None:
        self.result._add(item)
        if self.on_item is not None:
            self.on_item(item)

    def changed(
        self,
        entries: Iterable[_Entry],
        dest: Mapping[str, _Entry] | None,
        *,
        download: bool,
        size_only: bool,
        exact: bool,
    ) -> Iterator[_Entry]:
        """The ``entries`` to copy: all of them when ``dest`` is ``None`` (a copy, not a
        sync), else those missing or changed there; the rest count as unchanged."""
        for entry in entries:
            if dest is not None and not _needs_copy(
                entry, dest.get(entry.rel), download=download, size_only=size_only, exact=exact
            ):
                self.result.unchanged += 1
                continue
            yield entry

    async def copies(self, name: str, work: Iterable[tuple[TreeItem, Job]]) -> None:
        """Run each ``(item, job)``: report ``item`` once the job is done (or, in a dry
        run, at once), or a ``fail`` item with the job's error. ``progress`` hears of
        the whole tree (named ``name``, its source) as the files' transfers go."""
        planned = list(work)
        meter = TreeMeter(name, self.progress)
        meter.plan(len(planned), sum(item.size or 0 for item, _ in planned))
        await meter.begin()
        slots = asyncio.Semaphore(self.jobs)

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
                for item, job in planned:
                    if self.dryrun:
                        await meter.file_done(item.source, item.size or 0, ok=True)
                        self.report(item)
                        continue
                    await slots.acquire()
                    group.create_task(one(item, job))
        except BaseExceptionGroup as group_error:  # on_item or progress raised
            raise group_error.exceptions[0] from None
        finally:
            tree_budget.reset(token)
        await meter.finish()

    async def delete_local(self, entries: Iterable[_Entry]) -> None:
        for entry in entries:
            item = TreeItem("delete", entry.where, size=entry.size)
            if not self.dryrun:
                try:
                    await asyncio.to_thread(os.unlink, entry.where)
                except OSError as exc:
                    item = dataclasses.replace(item, action="fail", error=exc, reason=str(exc))
            self.report(item)

    async def delete_remote(self, side: _Remote, entries: Sequence[_Entry]) -> None:
        if not self.dryrun and entries:
            done = await self.s3.delete_many(
                [S3Name(e.key or "", side.bucket) for e in entries],
                bucket=side.bucket,
                **self.payer,
            )
            failed = {f.key: f for f in done.failed}
        else:
            failed = {}
        for entry in entries:
            problem = failed.get(entry.key or "")
            if problem is None:
                self.report(TreeItem("delete", entry.where, size=entry.size))
            else:
                error = S3Error(f"delete {entry.where} failed: {problem.code}: {problem.message}")
                self.report(TreeItem("fail", entry.where, error=error, reason=str(error)))


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
    rules: Sequence[Filter],
    sync: bool = False,
    delete: bool = False,
    size_only: bool = False,
    exact_timestamps: bool = False,
    write: WriteOptions,
    run: _Run,
) -> TreeResult:
    """Local folder -> S3 folder (``cp --recursive`` or, with ``sync``, ``sync``)."""
    root = _local_source(local)
    source, skipped = await asyncio.to_thread(_walk, root, source=True)
    for item in skipped:
        run.report(item)
    dest = await _list_remote(s3, remote, run.payer) if sync else {}
    transfer = run.transfer

    def work() -> Iterable[tuple[TreeItem, Job]]:
        included = (e for rel, e in source.items() if _included(rules, rel))
        compare = {"download": False, "size_only": size_only, "exact": exact_timestamps}
        for entry in run.changed(included, dest if sync else None, **compare):
            key = remote.prefix + entry.rel
            item = TreeItem("upload", entry.where, remote.url(entry.rel), entry.size)

            def job(
                progress: ProgressCallback | None, path: str = entry.where, key: str = key
            ) -> Awaitable[Any]:
                name = S3Name(key, remote.bucket)
                return s3.upload(name, path, transfer=transfer, progress=progress, **write)

            yield item, job

    await run.copies(os.fspath(root), work())
    if delete:
        doomed = []
        for rel, entry in dest.items():
            if rel in source or not _included(rules, rel):
                continue
            try:
                key_parts(rel)
            except InvalidRequest as exc:  # no local file can have this name: keep it
                run.report(TreeItem("skip", entry.where, reason=f"{exc}; not deleted"))
                continue
            doomed.append(entry)
        await run.delete_remote(remote, doomed)
    return run.result


async def download_dir(
    s3: S3,
    remote: _Remote,
    local: str | os.PathLike[str],
    *,
    rules: Sequence[Filter],
    sync: bool = False,
    delete: bool = False,
    size_only: bool = False,
    exact_timestamps: bool = False,
    run: _Run,
    read: Mapping[str, Any] | None = None,
) -> TreeResult:
    """S3 folder -> local folder. Every key goes through :func:`key_parts` and
    :func:`_safe_target`; downloads set the file's mtime to the object's LastModified,
    so a sync back the other way finds nothing to do."""
    source = await _remote_source(s3, remote, run.payer)
    root = Path(local)
    exists = await asyncio.to_thread(os.path.lexists, root)
    if exists and not await asyncio.to_thread(os.path.isdir, root):
        raise InvalidRequest(f"the destination {os.fspath(root)!r} is not a folder")
    dest: dict[str, _Entry] = {}
    if sync and exists:
        dest, _ = await asyncio.to_thread(_walk, root, source=False)
    transfer = run.transfer
    protected: set[str] = set()  # what unsafe keys could stand for: never deleted
    planned: dict[_Entry, list[str]] = {}  # what to download -> its path segments
    for rel, entry in source.items():
        if not _included(rules, rel):
            continue
        try:
            parts = key_parts(rel)
        except InvalidRequest as exc:
            run.report(TreeItem("skip", entry.where, reason=f"{exc}; not downloaded"))
            normal = _normal_form(rel)
            if normal is not None:
                protected.add(normal)
            continue
        planned[entry] = parts
    if not run.dryrun:
        await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)

    def work() -> Iterable[tuple[TreeItem, Job]]:
        compare = {"download": True, "size_only": size_only, "exact": exact_timestamps}
        for entry in run.changed(planned, dest if sync else None, **compare):
            parts = planned[entry]
            shown = os.fspath(root.joinpath(*parts))
            item = TreeItem("download", entry.where, shown, entry.size)

            def job(
                progress: ProgressCallback | None,
                entry: _Entry = entry,
                parts: list[str] = parts,
            ) -> Awaitable[None]:
                return _download_one(s3, remote, entry, root, parts, transfer, progress, read)

            yield item, job

    await run.copies(remote.url(), work())
    if delete:
        await run.delete_local(
            e
            for rel, e in dest.items()
            if rel not in source and rel not in protected and _included(rules, rel)
        )
    return run.result


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
    rules: Sequence[Filter],
    sync: bool = False,
    delete: bool = False,
    size_only: bool = False,
    exact_timestamps: bool = False,
    write: WriteOptions,
    run: _Run,
) -> TreeResult:
    """S3 folder -> S3 folder, server-side."""
    if src == dst:
        raise InvalidRequest(f"{src.url()} is both the source and the destination")
    source = await _remote_source(s3, src, run.payer)
    dest = await _list_remote(s3, dst, run.payer) if sync else {}
    transfer = run.transfer

    def work() -> Iterable[tuple[TreeItem, Job]]:
        included = (e for rel, e in source.items() if _included(rules, rel))
        compare = {"download": False, "size_only": size_only, "exact": exact_timestamps}
        for entry in run.changed(included, dest if sync else None, **compare):
            item = TreeItem("copy", entry.where, dst.url(entry.rel), entry.size)
            from_name = S3Name(entry.key or "", src.bucket)
            to_name = S3Name(dst.prefix + entry.rel, dst.bucket)

            def job(
                progress: ProgressCallback | None, a: S3Name = from_name, b: S3Name = to_name
            ) -> Awaitable[Any]:
                return s3.copy(a, b, transfer=transfer, progress=progress, **write)

            yield item, job

    await run.copies(src.url(), work())
    if delete:
        await run.delete_remote(
            dst,
            [e for rel, e in dest.items() if rel not in source and _included(rules, rel)],
        )
    return run.result


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
        "rules": rules,
        "sync": True,
        "delete": delete,
        "size_only": size_only,
        "exact_timestamps": exact_timestamps,
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
