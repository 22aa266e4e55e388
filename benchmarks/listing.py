"""Listing and deleting whole prefixes: keys/s, client CPU and peak RSS at 10k and 100k
keys (and 1M with ``--large``), aios3 against obstore and boto3 in the same run.

    python -m benchmarks.listing                 # SeaweedFS, 10k and 100k keys, 3 reps
    python -m benchmarks.listing --large         # ... and 1,000,000 keys
    python -m benchmarks.listing --quick --server moto   # a smoke test: 2,000 keys, 1 rep

Each measurement runs in a fresh process (interpreter, imports and connect included in
CPU and RSS, not in keys/s). The prefixes are seeded once with zero-byte objects by the
harness (unmeasured); listing reads them with each client, interleaved, ``--repeat``
times; then aios3's ``delete_prefix`` deletes each prefix (once: it consumes the seed),
its listing and its batch deletes overlapping. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import servers, venvs

REPO = Path(__file__).resolve().parent.parent
BUCKET = "bench-listing"

# Each client script ends with done(keys, seconds): one JSON line with its own CPU
# (every thread's, from its rusage) and peak RSS (VmHWM: ru_maxrss would carry the
# harness's own peak across fork and exec).
_PRELUDE = """
import json, resource, sys, time
spec = json.loads(sys.argv[1])
def done(n, s):
    u = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"keys": n, "seconds": s, "cpu": u.ru_utime + u.ru_stime,
                      "rss_mib": hwm / 1024}))
"""
SCRIPTS: dict[str, str] = {
    "aios3": """
import asyncio, aios3
async def main():
    cfg = aios3.Config(endpoint=spec["endpoint"], access_key_id=spec["key"],
                       secret_access_key=spec["secret"], region="us-east-1")
    async with aios3.connect(cfg) as s3:
        t = time.perf_counter(); n = 0
        async for _ in s3.list(spec["prefix"], bucket=spec["bucket"]):
            n += 1
        return n, time.perf_counter() - t
n, s = asyncio.run(main())
done(n, s)
""",
    "aios3-delete": """
import asyncio, aios3
async def main():
    cfg = aios3.Config(endpoint=spec["endpoint"], access_key_id=spec["key"],
                       secret_access_key=spec["secret"], region="us-east-1")
    async with aios3.connect(cfg) as s3:
        t = time.perf_counter()
        result = await s3.delete_prefix(spec["prefix"], bucket=spec["bucket"])
        result.raise_for_failures()
        return result.deleted, time.perf_counter() - t
n, s = asyncio.run(main())
done(n, s)
""",
    "obstore": """
import obstore
from obstore.store import S3Store
store = S3Store(spec["bucket"], endpoint=spec["endpoint"], access_key_id=spec["key"],
                secret_access_key=spec["secret"], region="us-east-1",
                client_options={"allow_http": True}, virtual_hosted_style_request=False)
t = time.perf_counter(); n = 0
for batch in obstore.list(store, prefix=spec["prefix"], chunk_size=1000):
    n += len(batch)
done(n, time.perf_counter() - t)
""",
    "boto3": """
import boto3
c = boto3.client("s3", endpoint_url=spec["endpoint"], aws_access_key_id=spec["key"],
                 aws_secret_access_key=spec["secret"], region_name="us-east-1")
t = time.perf_counter(); n = 0
for page in c.get_paginator("list_objects_v2").paginate(Bucket=spec["bucket"],
                                                         Prefix=spec["prefix"]):
    n += len(page.get("Contents", []))
done(n, time.perf_counter() - t)
""",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def python_for(client: str) -> Path | None:
    if client == "obstore":
        if not venvs.ready("tools"):
            try:
                venvs.ensure("tools", log=log)
            except Exception as exc:  # no registry, no venv: leave obstore out
                log(f"obstore left out: {exc}")
                return None
        return venvs.python_of(venvs.DEFAULT_ROOT / "tools")
    return Path(sys.executable)


def run(client: str, python: Path, spec: dict, timeout: float) -> dict:
    """One measurement in a fresh process: keys, seconds, CPU-s and peak RSS (MiB)."""
    env = dict(os.environ)
    if client.startswith("aios3"):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    else:
        env.pop("PYTHONPATH", None)
    code = _PRELUDE + SCRIPTS[client]
    started = time.perf_counter()
    proc = subprocess.run(
        [str(python), "-c", code, json.dumps(spec)],
        capture_output=True,
        env=env,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{client} failed: {proc.stderr.decode(errors='replace')[-800:]}")
    res: dict = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    res["process_seconds"] = time.perf_counter() - started
    res["keys_per_s"] = res["keys"] / res["seconds"] if res["seconds"] else 0.0
    return res


async def seed(target: servers.Target, prefix: str, count: int) -> None:
    """``count`` zero-byte objects under ``prefix``, unless they are there already."""
    import aios3

    cfg = aios3.Config(
        endpoint=target.endpoint,
        access_key_id=target.access_key_id,
        secret_access_key=target.secret_access_key,
        region=target.region,
        default_bucket=BUCKET,
    )
    async with aios3.connect(cfg) as s3:
        if not await s3.bucket_exists(BUCKET):
            await s3.create_bucket(BUCKET)
        have = 0
        async for _ in s3.list(prefix):
            have += 1
        if have == count:
            return
        if have:
            await s3.delete_prefix(prefix)
        log(f"  seeding {count:,} keys under {prefix} ...")
        started = time.perf_counter()
        keys = iter(range(count))

        async def worker() -> None:
            for i in keys:
                await s3.upload(f"{prefix}{i:08d}", b"")

        await asyncio.gather(*(worker() for _ in range(64)))
        log(f"  seeded in {time.perf_counter() - started:.0f} s")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.listing", description=__doc__)
    p.add_argument("--server", default="seaweedfs", choices=["seaweedfs", "moto", "external"])
    p.add_argument("--endpoint", help="with --server external")
    p.add_argument("--large", action="store_true", help="also 1,000,000 keys")
    p.add_argument("--quick", action="store_true", help="2,000 keys, 1 rep")
    p.add_argument("--keys", help="comma-separated key counts (default 10000,100000)")
    p.add_argument("--repeat", type=int, help="repetitions (default 3; 1 with --quick)")
    p.add_argument("--clients", default="aios3,obstore,boto3")
    p.add_argument("--no-delete", action="store_true", help="list only (keep the seed)")
    p.add_argument("--json", type=Path, help="write the results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.keys:
        counts = [int(k) for k in args.keys.split(",")]
    elif args.quick:
        counts = [2000]
    else:
        counts = [10_000, 100_000] + ([1_000_000] if args.large else [])
    repeat = args.repeat or (1 if args.quick else 3)
    clients = [c for c in args.clients.split(",") if c]
    pythons = {c: python_for(c) for c in clients}
    results: dict[str, dict[str, list[dict]]] = {}
    with servers.start(args.server, endpoint=args.endpoint) as target:
        spec0 = {
            "endpoint": target.endpoint,
            "key": target.access_key_id,
            "secret": target.secret_access_key,
            "bucket": BUCKET,
        }
        for count in counts:
            prefix = f"listing/{count}/"
            asyncio.run(seed(target, prefix, count))
            spec = {**spec0, "prefix": prefix}
            timeout = 60 + count / 200
            row = results.setdefault(str(count), {})
            for rep in range(repeat):
                for client in clients:  # interleaved: each rep runs every client once
                    python = pythons[client]
                    if python is None:
                        continue
                    res = run(client, python, spec, timeout)
                    if res["keys"] != count:
                        raise RuntimeError(f"{client} listed {res['keys']} of {count} keys")
                    row.setdefault(f"list/{client}", []).append(res)
                    log(
                        f"  {count:>9,} list  {client:8} rep {rep + 1}: "
                        f"{res['keys_per_s']:>9,.0f} keys/s  cpu {res['cpu']:.2f} s  "
                        f"rss {res['rss_mib']:.0f} MiB"
                    )
            if not args.no_delete:
                res = run("aios3-delete", Path(sys.executable), spec, timeout)
                if res["keys"] != count:
                    raise RuntimeError(f"delete_prefix deleted {res['keys']} of {count}")
                row.setdefault("delete/aios3", []).append(res)
                log(
                    f"  {count:>9,} delete aios3 : {res['keys_per_s']:>9,.0f} keys/s  "
                    f"cpu {res['cpu']:.2f} s  rss {res['rss_mib']:.0f} MiB"
                )
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def _is_peer(name: str) -> bool:
    return name.startswith("list/") and "aios3" not in name


def report(results: dict[str, dict[str, list[dict]]]) -> str:
    """A Markdown table of medians: keys/s (ratio to the best peer), CPU-s, peak RSS."""
    lines = [
        "| keys | what | client | keys/s (median) | vs best peer | CPU s | peak RSS MiB |",
        "|---:|---|---|---:|---:|---:|---:|",
    ]
    for count, row in results.items():
        med = {
            name: {
                k: statistics.median(r[k] for r in runs) for k in ("keys_per_s", "cpu", "rss_mib")
            }
            for name, runs in row.items()
        }
        peers = [v["keys_per_s"] for n, v in med.items() if _is_peer(n)]
        best = max(peers, default=0.0)
        for name, m in med.items():
            what, client = name.split("/")
            ratio = f"{m['keys_per_s'] / best:.2f}x" if best and what == "list" else ""
            lines.append(
                f"| {int(count):,} | {what} | {client} | {m['keys_per_s']:,.0f} | {ratio} | "
                f"{m['cpu']:.2f} | {m['rss_mib']:.0f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
