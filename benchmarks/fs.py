"""Benchmark aios3's fsspec filesystem against s3fs and obstore's fsspec adapter.

    python -m benchmarks.fs                          # SeaweedFS, 1 GiB, 3 repetitions
    python -m benchmarks.fs --quick --server moto    # smoke test (tests/test_benchmarks_quick.py)

The same work for every filesystem, through the fsspec API only: ``pd.read_parquet`` of
a multi-file dataset, random 1 MiB reads from a 1 GiB object (``open`` + seek/read),
``put_file`` / ``get_file`` of a 1 GiB file, ``find`` over 20,000 keys. The data are
made once per run on one server (with aios3); each filesystem runs each workload in a
fresh process (``clients/fs_<name>.py``), repetitions interleaved; see README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import report, servers, venvs
from .run import Client, log, run_client, same_prefix, write_random

HERE = Path(__file__).resolve().parent
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

CLIENTS = {
    c.name: c
    for c in [
        Client("aios3", "fs_aios3.py", None, "aios3"),
        Client("s3fs", "fs_s3fs.py", "s3fs", "s3fs"),
        Client("obstore", "fs_obstore.py", "tools", "obstore"),
    ]
}
WORKLOADS = ["read_parquet", "random_reads", "put", "get", "find"]
TITLES = {
    "read_parquet": "read_parquet",
    "random_reads": "random reads",
    "put": "put_file",
    "get": "get_file",
    "find": "find",
}
BUCKET = "bench"
ROOT = "fs/"
CHECK_COLUMN = "qty"


@dataclass(frozen=True)
class Sizes:
    big: int  # the object random_reads and get read; the file put uploads
    reads: int  # random reads of read_size each
    parquet_files: int
    parquet_rows: int  # per file (about 26 bytes a row once written)
    keys: int  # small objects under one prefix, for find
    read_size: int = MiB
    key_size: int = 64
    row_group_rows: int = 256 * 1024
    part_size: int = 8 * MiB  # put/get parts or ranges ...
    part_concurrency: int = 8  # ... and how many in flight
    block_size: int = 8 * MiB  # open()'s default block size (read_parquet)
    pool: int = 16  # HTTP connections per client
    setup_concurrency: int = 64


FULL = Sizes(big=1 * GiB, reads=256, parquet_files=8, parquet_rows=1_300_000, keys=20_000)
QUICK = Sizes(big=64 * MiB, reads=16, parquet_files=8, parquet_rows=40_000, keys=2_000)


# --------------------------------------------------------------------------- data


def make_parquet(directory: Path, sizes: Sizes) -> tuple[list[Path], int, int]:
    """The dataset's files (numeric columns, snappy, several row groups a file); the
    total row count and the sum of CHECK_COLUMN, which read_parquet must reproduce."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True)
    rng = np.random.default_rng(16)
    base = np.datetime64("2026-01-01T00:00:00", "ms")
    files, rows, check = [], 0, 0
    for i in range(sizes.parquet_files):
        n = sizes.parquet_rows
        table = pa.table(
            {
                "id": np.arange(rows, rows + n, dtype=np.int64),
                "ts": base + np.cumsum(rng.integers(1, 2000, n)).astype("timedelta64[ms]"),
                "sensor": rng.integers(0, 500, n, dtype=np.int32),
                CHECK_COLUMN: rng.integers(0, 1000, n, dtype=np.int32),
                "price": np.round(rng.lognormal(3, 1, n), 2),
                "value": rng.normal(0, 1, n),
                "temp": np.round(rng.normal(20, 5, n), 1).astype(np.float32),
            }
        )
        path = directory / f"part-{i:02d}.parquet"
        pq.write_table(table, path, row_group_size=sizes.row_group_rows)
        files.append(path)
        rows += n
        check += int(np.asarray(table[CHECK_COLUMN]).sum())
    return files, rows, check


def aios3_config(target: servers.Target, pool: int):
    import aios3

    return aios3.Config(
        endpoint=target.endpoint,
        access_key_id=target.access_key_id,
        secret_access_key=target.secret_access_key,
        region=target.region,
        max_pool_connections=pool,
        addressing_style="path",
    )


async def seed(target: servers.Target, sizes: Sizes, big: Path, parquet: list[Path]) -> None:
    """The bucket and every object the workloads read, uploaded with aios3."""
    import aios3

    limit = sizes.setup_concurrency
    async with aios3.connect(aios3_config(target, limit), default_bucket=BUCKET) as s3:
        await s3.create_bucket(BUCKET, exist_ok=True)
        await s3.upload(ROOT + "big.bin", big)
        await asyncio.gather(*(s3.upload(f"{ROOT}parquet/{p.name}", p) for p in parquet))
        payload = b"k" * sizes.key_size
        sem = asyncio.Semaphore(limit)

        async def put(i: int) -> None:
            async with sem:
                await s3.upload(f"{ROOT}keys/{i:05d}", payload)

        await asyncio.gather(*(put(i) for i in range(sizes.keys)))


def make_data(workdir: Path, target: servers.Target, sizes: Sizes) -> dict:
    t0 = time.perf_counter()
    big = workdir / "big.bin"
    write_random(big, sizes.big)
    parquet, rows, check = make_parquet(workdir / "parquet", sizes)
    t1 = time.perf_counter()
    asyncio.run(seed(target, sizes, big, parquet))
    rng = random.Random(16)  # the same offsets for every client and repetition
    offsets = [rng.randrange(0, sizes.big - sizes.read_size) for _ in range(sizes.reads)]
    parquet_bytes = sum(p.stat().st_size for p in parquet)
    log(
        f"[data] generated in {t1 - t0:.1f}s, uploaded in {time.perf_counter() - t1:.1f}s: "
        f"{report.size_text(sizes.big)} object and file, {len(parquet)} Parquet files "
        f"({parquet_bytes / MiB:.0f} MiB, {rows:,} rows), {sizes.keys:,} keys"
    )
    return {
        "big": big,
        "offsets": offsets,
        "parquet_rows": rows,
        "parquet_check": check,
        "parquet_bytes": parquet_bytes,
    }


# --------------------------------------------------------------------------- checks


class Checker:
    """The harness's own (unmeasured) S3 calls, with aios3: checks and clean-up."""

    def __init__(self, target: servers.Target) -> None:
        self.target = target

    async def _put_check(self, key: str, big: Path, size: int) -> str | None:
        import aios3

        async with aios3.connect(aios3_config(self.target, 8), default_bucket=BUCKET) as s3:
            try:
                info = await s3.head(key)
            except aios3.NotFound:
                return "nothing was stored"
            if info.size != size:
                return f"stored {info.size} bytes, not {size}"
            rng = random.Random(key)
            with open(big, "rb") as f:
                for start in [0, size - 4096, *(rng.randrange(size - 4096) for _ in range(6))]:
                    f.seek(start)
                    if await s3.get_bytes(key, start=start, end=start + 4096) != f.read(4096):
                        return f"stored bytes differ at {start}"
            await s3.delete(key)
        return None

    def put(self, key: str, big: Path, size: int) -> str | None:
        return asyncio.run(self._put_check(key, big, size))


def verify(workload: str, spec: dict, phase: dict, data: dict, checker: Checker) -> str | None:
    """None if the workload's answer is right, else what is wrong with it."""
    if workload == "read_parquet":
        if phase.get("ops") != data["parquet_rows"]:
            return f"read {phase.get('ops')} rows of {data['parquet_rows']}"
        if phase.get("check") != data["parquet_check"]:
            got, want = phase.get("check"), data["parquet_check"]
            return f"column {CHECK_COLUMN} sums to {got}, not {want}"
    elif workload == "random_reads":
        samples = phase.get("samples") or []
        if len(samples) != len(spec["offsets"]):
            return f"{len(samples)} reads reported of {len(spec['offsets'])}"
        with open(data["big"], "rb") as f:
            for offset, (n, head, tail) in zip(spec["offsets"], samples, strict=True):
                f.seek(offset)
                want = f.read(spec["read_size"])
                if n != len(want) or head != want[:16].hex() or tail != want[-16:].hex():
                    return f"the read at {offset} returned other bytes"
    elif workload == "put":
        return checker.put(spec["put_path"].split("/", 1)[1], data["big"], spec["size"])
    elif workload == "get":
        if not same_prefix(data["big"], Path(spec["dest"]), spec["size"]):
            return "the downloaded file differs from the object"
    elif workload == "find":
        want = spec["keys"]
        first, last = (f"{spec['keys_path']}/{i:05d}" for i in (0, want - 1))
        if phase.get("ops") != want:
            return f"found {phase.get('ops')} of {want} keys"
        if phase.get("check") != [first, last]:
            return f"found names {phase.get('check')}, expected {first} ... {last}"
    return None


# --------------------------------------------------------------------------- runs


def bench_client(
    client: Client,
    python: Path,
    target: servers.Target,
    checker: Checker,
    data: dict,
    sizes: Sizes,
    workloads: list[str],
    workdir: Path,
    rep: int,
    timeout: float,
) -> list[dict]:
    """Every selected workload of one client, each in a fresh process; their records."""
    scratch = workdir / f"scratch-{client.name}-{rep}"
    scratch.mkdir()
    spec_base = {
        "endpoint": target.endpoint,
        "access_key_id": target.access_key_id,
        "secret_access_key": target.secret_access_key,
        "region": target.region,
        "bucket": BUCKET,
        "pool": sizes.pool,
        "part_size": sizes.part_size,
        "part_concurrency": sizes.part_concurrency,
        "block_size": sizes.block_size,
        "size": sizes.big,
        "read_size": sizes.read_size,
        "offsets": data["offsets"],
        "object_path": f"{BUCKET}/{ROOT}big.bin",
        "parquet_path": f"{BUCKET}/{ROOT}parquet",
        "parquet_bytes": data["parquet_bytes"],
        "check_column": CHECK_COLUMN,
        "keys_path": f"{BUCKET}/{ROOT}keys",
        "keys": sizes.keys,
        "src": str(data["big"]),
        "put_path": f"{BUCKET}/{ROOT}put/{client.name}-{rep}.bin",
        "dest": str(scratch / "get.bin"),
    }
    records = []
    for workload in workloads:
        spec = dict(spec_base, workload=workload)
        os.sync()  # earlier writes (the data, the last get) flush now, not timed
        res = run_client(python, client, spec, stdin_from=None, timeout=timeout)
        rec: dict = {"client": client.name, "workload": workload, "rep": rep}
        if res.get("version"):
            rec["version"] = res["version"]
        phase = (res.get("phases") or {}).get(workload)
        if res.get("skipped"):
            rec["skipped"] = res["skipped"]
        elif res.get("error") or phase is None:
            rec["error"] = res.get("error") or "no result"
        else:
            rec.update({k: phase[k] for k in ("seconds", "cpu", "bytes", "ops", "maxrss_kib")})
            problem = verify(workload, spec, phase, data, checker)
            if problem:
                rec["error"] = f"wrong result: {problem}"
        if workload == "get":
            Path(spec["dest"]).unlink(missing_ok=True)
        records.append(rec)
        if "seconds" in rec and not rec.get("error"):
            how = (
                f"{rec['seconds']:.2f}s wall, {rec['cpu']:.2f}s CPU, "
                f"{rec['maxrss_kib'] / 1024:.0f} MiB"
            )
        else:
            how = f"skipped ({rec['skipped']})" if rec.get("skipped") else f"FAILED {rec['error']}"
        log(f"  {client.name:<8} {workload:<13} {how}"[:300])
    shutil.rmtree(scratch, ignore_errors=True)
    return records


# --------------------------------------------------------------------------- report


def markdown(meta: dict, summary: dict, records: list[dict] | None = None) -> str:
    s = meta["sizes"]
    out = [
        f"### aios3.fs vs s3fs and obstore.fsspec: {meta['server']} on 127.0.0.1",
        "",
        f"{meta['machine']['cpus']} CPUs shared by server and client; median of "
        f"{meta['repeat']} run(s); {meta['started']}; the whole run took "
        f"{meta['duration_s'] / 60:.1f} min. Work: `pd.read_parquet` of "
        f"{s['parquet_files']} files ({meta['parquet_bytes'] / MiB:.0f} MiB, "
        f"{meta['parquet_rows']:,} rows); {s['reads']} random reads of "
        f"{report.size_text(s['read_size'])} from a {report.size_text(s['big'])} object; "
        f"`put_file` and `get_file` of {report.size_text(s['big'])} "
        f"({report.size_text(s['part_size'])} parts, {s['part_concurrency']} in flight); "
        f"`find` over {s['keys']:,} keys. In brackets: the figure divided by aios3's "
        "(below 1: better than aios3).",
        "",
    ]
    for key, fmt, title in (
        ("seconds", ".2f", "Wall time, seconds (lower is better)"),
        ("cpu_seconds", ".2f", "Client CPU, seconds (lower is better)"),
        ("peak_rss_mib", ".0f", "Client peak RSS, MiB (lower is better)"),
    ):
        out += report._table(summary, WORKLOADS, key, fmt, title, titles=TITLES)
    out.append("Versions: " + ", ".join(f"{k} {v}" for k, v in meta["clients"].items()) + ".")
    notes = [
        f"{client} {w}: {fig['note']}"
        for client, figs in summary.items()
        for w, fig in figs.items()
        if fig.get("status") != "ok"
    ]
    if notes:
        out += ["", "Not measured:", *(f"- {n}" for n in dict.fromkeys(notes))]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.fs", description=__doc__.split("\n")[0])
    p.add_argument("--server", choices=["seaweedfs", "moto"], default="seaweedfs")
    p.add_argument("--quick", action="store_true", help="64 MiB, 2,000 keys, 1 rep")
    p.add_argument("--repeat", type=int, help="repetitions (default 3; 1 with --quick)")
    p.add_argument("--clients", help=f"comma-separated, from: {', '.join(CLIENTS)}")
    p.add_argument("--workloads", help=f"comma-separated, from: {', '.join(WORKLOADS)}")
    p.add_argument("--big", type=int, help="bytes of the object/file (default 1 GiB)")
    p.add_argument("--keys", type=int, help="keys for find (default 20,000)")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument("--workdir", type=Path, help="where data files go (default: system temp)")
    p.add_argument("--venv-dir", type=Path, default=venvs.DEFAULT_ROOT)
    p.add_argument("--timeout", type=float, default=0, help="per-workload seconds (0: auto)")
    p.add_argument("--tag", default="", help="the result files' name (default fs-<mode>-<server>)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.big or args.keys:
        changes = {"big": args.big or sizes.big, "keys": args.keys or sizes.keys}
        sizes = Sizes(**{**asdict(sizes), **changes})
    repeat = args.repeat or (1 if args.quick else 3)
    names = args.clients.split(",") if args.clients else list(CLIENTS)
    if bad := [n for n in names if n not in CLIENTS]:
        raise SystemExit(f"unknown clients {bad}; known: {list(CLIENTS)}")
    workloads = args.workloads.split(",") if args.workloads else WORKLOADS
    if bad := [w for w in workloads if w not in WORKLOADS]:
        raise SystemExit(f"unknown workloads {bad}; known: {WORKLOADS}")
    clients = [CLIENTS[n] for n in names]
    pythons: dict[str, Path] = {}
    versions: dict[str, str] = {}
    for c in clients:
        pythons[c.name] = (
            Path(sys.executable) if c.venv is None else venvs.ensure(c.venv, args.venv_dir, log=log)
        )
        versions[c.name] = venvs.installed_version(pythons[c.name], c.dist)
    timeout = args.timeout or 60 + sizes.big / 20e6  # 20 MB/s would be pathological

    tag = args.tag or f"fs-{'quick' if args.quick else 'full'}-{args.server}"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    partial = args.results_dir / f"{tag}.partial.jsonl"  # every record as soon as it exists
    partial.unlink(missing_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="aios3-fsbench-", dir=args.workdir))
    started = dt.datetime.now(dt.UTC)
    records: list[dict] = []
    if args.server == "moto":  # its server logs every request on stderr
        import logging

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        with servers.start(args.server) as target:
            data = make_data(workdir, target, sizes)
            checker = Checker(target)
            for rep in range(repeat):
                order = clients[rep % len(clients) :] + clients[: rep % len(clients)]
                log(f"[rep {rep + 1}/{repeat}] order: {', '.join(c.name for c in order)}")
                for c in order:
                    new = bench_client(
                        c, pythons[c.name], target, checker, data, sizes, workloads, workdir,
                        rep, timeout,
                    )  # fmt: skip
                    records += new
                    with partial.open("a") as f:
                        f.writelines(json.dumps(r) + "\n" for r in new)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    for name in versions:  # what the client scripts themselves reported, if anything
        versions[name] = next(
            (r["version"] for r in records if r["client"] == name and r.get("version")),
            versions[name],
        )
    meta = {
        "benchmark": "fs",
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1),
        "server": servers.server_version(args.server),
        "transport": "http",
        "mode": "quick" if args.quick else "full",
        "repeat": repeat,
        "sizes": asdict(sizes),
        "parquet_rows": data["parquet_rows"],
        "parquet_bytes": data["parquet_bytes"],
        "clients": versions,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }
    paths = report.write(
        args.results_dir, tag, meta, records, chart=False, log=log, markdown_fn=markdown
    )
    partial.unlink(missing_ok=True)
    print(paths["markdown_text"])
    log(f"[done] {paths['json']}  {paths['markdown']}")
    return 1 if [r for r in records if r.get("error")] else 0


if __name__ == "__main__":
    sys.exit(main())
