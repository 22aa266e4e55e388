"""Folder transfers spread over a Dask cluster: :func:`copy_prefix`, :func:`upload_dir`
and :func:`download_dir` shard the key space over the cluster's workers::

    from dask.distributed import Client
    import aios3.dask

    with Client("tcp://scheduler:8786") as client:
        result = aios3.dask.copy_prefix(
            "s3://logs/2026", "s3://archive/logs/2026", config=aios3.Config(region="eu-west-1")
        )
        result.raise_for_failures()

The caller lists the source once and cuts the sorted keys into contiguous shards of
about equal weight (bytes, plus a per-object allowance for the request), several per
worker. Each shard is one Dask task: the worker opens its own aios3 client, looks at
what the destination already holds in its key range (one listing, or a stat per file
locally) and moves what is missing or differs, ``jobs`` files at a time, with the same
rules as :meth:`aios3.S3.sync` (size, then time). So a run that was interrupted (or
that failed for some files) is restarted by running it again: what is done is counted
as ``unchanged`` and skipped. Results come back as one :class:`ClusterResult`, a
:class:`aios3.TreeResult` that also says how many shards ran where; a shard whose task
failed (a worker lost, say) reports each of its files as failed, never drops them.

Local folders (``upload_dir``'s source, ``download_dir``'s destination) must be the
same path on every worker: a shared file system, or a cluster on one machine.
The :class:`aios3.Config` (credentials included) travels to the workers with each task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._client import connect
from ._config import Config, TransferConfig
from ._exceptions import InvalidRequest, S3Error
from ._names import S3Name
from ._tree import (
    DEFAULT_JOBS,
    Filter,
    Job,
    TreeItem,
    TreeResult,
    _download_one,
    _Entry,
    _included,
    _local_source,
    _needs_copy,
    _Remote,
    _remote_source,
    _rules,
    _Run,
    _timestamp_ns,
    _walk,
    folder,
    key_parts,
)

__all__ = ["ClusterResult", "copy_prefix", "download_dir", "upload_dir"]

Kind = Literal["copy", "upload", "download"]

REQUEST_WEIGHT = 256 * 1024
"""What one object weighs in a shard beyond its bytes: the cost of its requests, in
bytes' worth, so a shard of many small objects is not taken for a light one."""

SHARDS_PER_WORKER = 4


@dataclass(slots=True)
class ClusterResult(TreeResult):
    """A :class:`aios3.TreeResult` gathered from a cluster's shards, plus ``shards``
    (how many tasks ran) and ``workers`` (shards per worker address)."""

    shards: int = 0
    workers: dict[str, int] = field(default_factory=dict)

    def _merge(self, part: TreeResult) -> None:
        self.copied += part.copied
        self.deleted += part.deleted
        self.skipped += part.skipped
        self.failed += part.failed
        self.unchanged += part.unchanged
        self.bytes += part.bytes


@dataclass(frozen=True, slots=True)
class _Shard:
    """One task's work: a contiguous run of the source's sorted entries."""

    kind: Kind
    config: Config
    transfer: TransferConfig
    jobs: int
    source: str | tuple[str, str]  # a local root, or (bucket, prefix)
    destination: str | tuple[str, str]
    entries: tuple[_Entry, ...]
    size_only: bool


# -------------------------------------------------------------------------- driver


def copy_prefix(
    source: str | S3Name,
    destination: str | S3Name,
    *,
    config: Config | Mapping[str, Any] | None = None,
    client: Any = None,
    transfer: TransferConfig | None = None,
    shards: int | None = None,
    jobs: int = DEFAULT_JOBS,
    size_only: bool = False,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    filters: Sequence[Filter] = (),
) -> ClusterResult:
    """Copy every object under the folder ``source`` to the folder ``destination``
    (``s3://`` URLs or :class:`aios3.S3Name`), server-side, sharded over the workers of
    ``client`` (a ``dask.distributed.Client``; default: the current one). Objects the
    destination already holds (same size, not older than the source) are skipped, so
    running it again finishes an interrupted run. Filters as in
    :meth:`aios3.S3.copy_prefix`; a source with no objects raises
    :class:`aios3.SourceNotFound`."""
    cfg, xfer = _settings(config, transfer)
    src, dst = _remote(source), _remote(destination)
    if src == dst:
        raise InvalidRequest(f"s3://{src[0]}/{src[1]} is both the source and the destination")
    entries = asyncio.run(_list_source(cfg, src))
    return _run(
        "copy",
        cfg,
        xfer,
        src,
        dst,
        entries,
        [],
        client,
        shards,
        jobs,
        size_only,
        _rules(filters, exclude, include),
    )


def upload_dir(
    local_dir: str | os.PathLike[str],
    destination: str | S3Name,
    *,
    config: Config | Mapping[str, Any] | None = None,
    client: Any = None,
    transfer: TransferConfig | None = None,
    shards: int | None = None,
    jobs: int = DEFAULT_JOBS,
    size_only: bool = False,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    filters: Sequence[Filter] = (),
) -> ClusterResult:
    """Upload every file under ``local_dir`` (a path every worker sees) to the folder
    ``destination``, sharded over the cluster's workers; files the destination holds
    already (same size, not older) are skipped. As :meth:`aios3.S3.upload_dir`."""
    cfg, xfer = _settings(config, transfer)
    root = _local_source(local_dir)
    found, skipped = _walk(root, source=True)
    entries = sorted(found.values(), key=lambda e: e.rel)
    return _run(
        "upload",
        cfg,
        xfer,
        os.fspath(root),
        _remote(destination),
        entries,
        skipped,
        client,
        shards,
        jobs,
        size_only,
        _rules(filters, exclude, include),
    )


def download_dir(
    source: str | S3Name,
    local_dir: str | os.PathLike[str],
    *,
    config: Config | Mapping[str, Any] | None = None,
    client: Any = None,
    transfer: TransferConfig | None = None,
    shards: int | None = None,
    jobs: int = DEFAULT_JOBS,
    size_only: bool = False,
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    filters: Sequence[Filter] = (),
) -> ClusterResult:
    """Download every object under the folder ``source`` into ``local_dir`` (a path
    every worker sees), sharded over the cluster's workers. Files already there with
    the object's size and time (downloads set it) are skipped. Keys that cannot name a
    file inside ``local_dir`` are skipped and reported, as :meth:`aios3.S3.download_dir`
    does; nothing is written outside it."""
    cfg, xfer = _settings(config, transfer)
    src = _remote(source)
    root = Path(local_dir)
    if root.exists() and not root.is_dir():
        raise InvalidRequest(f"the destination {os.fspath(root)!r} is not a folder")
    entries = asyncio.run(_list_source(cfg, src))
    skipped: list[TreeItem] = []
    safe: list[_Entry] = []
    for entry in entries:
        try:
            key_parts(entry.rel)
        except InvalidRequest as exc:
            skipped.append(TreeItem("skip", entry.where, reason=f"{exc}; not downloaded"))
            continue
        safe.append(entry)
    root.mkdir(parents=True, exist_ok=True)
    return _run(
        "download",
        cfg,
        xfer,
        src,
        os.fspath(root.resolve()),
        safe,
        skipped,
        client,
        shards,
        jobs,
        size_only,
        _rules(filters, exclude, include),
    )


def _settings(
    config: Config | Mapping[str, Any] | None, transfer: TransferConfig | None
) -> tuple[Config, TransferConfig]:
    if config is None:
        cfg = Config()
    elif isinstance(config, Config):
        cfg = config
    else:
        cfg = Config.from_mapping(config)
    return cfg, transfer or TransferConfig()


def _remote(name: str | S3Name) -> tuple[str, str]:
    parsed = S3Name.parse(name) if isinstance(name, str) else name
    if parsed.bucket is None:
        raise InvalidRequest(f"name the bucket: s3://bucket/prefix, not {name!r}")
    return parsed.bucket, folder(parsed.key)


async def _list_source(cfg: Config, src: tuple[str, str]) -> list[_Entry]:
    async with connect(cfg) as s3:
        found = await _remote_source(s3, _Remote(*src))
    return sorted(found.values(), key=lambda e: e.rel)


def _cut(entries: Sequence[_Entry], count: int) -> list[tuple[_Entry, ...]]:
    """``entries`` (sorted) as at most ``count`` contiguous runs of about equal weight."""
    count = max(1, min(count, len(entries)))
    total = sum(e.size + REQUEST_WEIGHT for e in entries)
    shards: list[tuple[_Entry, ...]] = []
    current: list[_Entry] = []
    weight = 0
    for entry in entries:
        current.append(entry)
        weight += entry.size + REQUEST_WEIGHT
        if weight * count >= total * (len(shards) + 1) and len(shards) < count - 1:
            shards.append(tuple(current))
            current = []
    if current:
        shards.append(tuple(current))
    return shards


def _run(
    kind: Kind,
    cfg: Config,
    xfer: TransferConfig,
    source: str | tuple[str, str],
    destination: str | tuple[str, str],
    entries: list[_Entry],
    skipped: list[TreeItem],
    client: Any,
    shards: int | None,
    jobs: int,
    size_only: bool,
    rules: Sequence[Filter],
) -> ClusterResult:
    if not isinstance(jobs, int) or jobs < 1:
        raise InvalidRequest(f"jobs={jobs!r}: give a whole number of files at once, >= 1")
    if client is None:
        from distributed import get_client

        client = get_client()
    result = ClusterResult()
    for item in skipped:
        result._add(item)
    chosen = [e for e in entries if _included(rules, e.rel)]
    if shards is None:
        workers = len(client.scheduler_info().get("workers", {})) or 1
        shards = SHARDS_PER_WORKER * workers
    specs = [
        _Shard(kind, cfg, xfer, jobs, source, destination, run_entries, size_only)
        for run_entries in _cut(chosen, shards)
    ]
    futures = client.map(_run_shard, specs, pure=False)
    for spec, future in zip(specs, futures, strict=True):
        try:
            part, worker = future.result()
        except Exception as exc:  # the task itself failed: each of its files did
            error = S3Error(f"the shard holding these files failed: {type(exc).__name__}: {exc}")
            for entry in spec.entries:
                result._add(TreeItem("fail", entry.where, error=error, reason=str(error)))
            continue
        result._merge(part)
        result.workers[worker] = result.workers.get(worker, 0) + 1
    result.shards = len(specs)
    return result


# -------------------------------------------------------------------------- worker


def _run_shard(shard: _Shard) -> tuple[TreeResult, str]:
    """Run one shard on a worker (in one of its threads): its own loop, its own client."""
    from distributed import get_worker

    try:
        address = str(get_worker().address)
    except ValueError:  # run outside a worker (a local scheduler)
        address = "local"
    return asyncio.run(_shard(shard)), address


async def _shard(shard: _Shard) -> TreeResult:
    async with connect(shard.config, transfer=shard.transfer) as s3:
        run = _Run(s3, shard.transfer, shard.jobs, False, None)
        first, last = shard.entries[0].rel, shard.entries[-1].rel
        download = shard.kind == "download"
        if download:
            assert isinstance(shard.destination, str)
            root = Path(shard.destination)
            dest = await asyncio.to_thread(_local_entries, root, shard.entries)
        else:
            assert isinstance(shard.destination, tuple)
            dest = await _remote_range(s3, _Remote(*shard.destination), first, last)
        transfer = run.transfer

        def work() -> Iterable[tuple[TreeItem, Job]]:
            for entry in shard.entries:
                if not _needs_copy(
                    entry,
                    dest.get(entry.rel),
                    download=download,
                    size_only=shard.size_only,
                    exact=False,
                ):
                    run.result.unchanged += 1
                    continue
                yield _job(s3, shard, entry, transfer)

        await run.copies(shard.entries[0].where, work())
    result = run.result
    result.failed = [_picklable(item) for item in result.failed]
    return result


def _job(s3: Any, shard: _Shard, entry: _Entry, transfer: TransferConfig) -> tuple[TreeItem, Job]:
    if shard.kind == "download":
        assert isinstance(shard.source, tuple) and isinstance(shard.destination, str)
        src, root = _Remote(*shard.source), Path(shard.destination)
        parts = key_parts(entry.rel)
        item = TreeItem("download", entry.where, os.fspath(root.joinpath(*parts)), entry.size)
        return item, lambda progress: _download_one(s3, src, entry, root, parts, transfer)
    assert isinstance(shard.destination, tuple)
    dst = _Remote(*shard.destination)
    target = S3Name(dst.prefix + entry.rel, dst.bucket)
    if shard.kind == "upload":
        item = TreeItem("upload", entry.where, dst.url(entry.rel), entry.size)
        return item, lambda progress: s3.upload(target, entry.where, transfer=transfer)
    assert isinstance(shard.source, tuple)
    origin = S3Name(entry.key or "", shard.source[0])
    item = TreeItem("copy", entry.where, dst.url(entry.rel), entry.size)
    return item, lambda progress: s3.copy(origin, target, transfer=transfer)


async def _remote_range(s3: Any, side: _Remote, first: str, last: str) -> dict[str, _Entry]:
    """What the destination holds from ``first`` to ``last`` (relative names): one
    listing from just before ``first``, stopped past ``last``."""
    start_after = side.prefix + first[:-1] or None  # sorts before every key from first
    entries: dict[str, _Entry] = {}
    listing: AsyncIterator[Any] = s3.list(side.prefix, bucket=side.bucket, start_after=start_after)
    try:
        async for item in listing:
            key = getattr(item, "key", None)
            if key is None:
                continue
            rel = key[len(side.prefix) :]
            if rel > last:
                break
            if rel < first or not rel or rel.endswith("/"):
                continue
            entries[rel] = _Entry(rel, item.size or 0, _timestamp_ns(item), side.url(rel), key)
    finally:
        aclose = getattr(listing, "aclose", None)
        if aclose is not None:
            await aclose()
    return entries


def _local_entries(root: Path, wanted: Sequence[_Entry]) -> dict[str, _Entry]:
    """The files of ``root`` that the shard's entries would become, as entries."""
    found: dict[str, _Entry] = {}
    for entry in wanted:
        path = root.joinpath(*key_parts(entry.rel))
        try:
            st = path.stat()
        except OSError:
            continue
        if path.is_file():
            found[entry.rel] = _Entry(entry.rel, st.st_size, st.st_mtime_ns, os.fspath(path))
    return found


def _picklable(item: TreeItem) -> TreeItem:
    """A failure whose error can travel back to the caller (botocore's may not)."""
    try:
        pickle.loads(pickle.dumps(item.error))
    except Exception:
        error = S3Error(f"{type(item.error).__name__}: {item.error}")
        return dataclasses.replace(item, error=error)
    return item
