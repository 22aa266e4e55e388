"""The fsspec workloads of ``benchmarks/fs.py``, shared by every filesystem's script.

Each ``fs_<name>.py`` builds its filesystem (same endpoint, credentials, pool and
path-style addressing; its own knobs set alike, see the README) and calls :func:`main`.
Everything below goes through the fsspec API only (``fs.open``, ``put_file``,
``get_file``, ``find``, and pandas given ``filesystem=fs``), synchronously, as most
fsspec users call it. Like ``_common``, this must import on any peer venv: pandas is
imported only by the read_parquet workload, before its timed section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import _common as c

SAMPLE = 16  # bytes kept from each end of each random read, for the harness's check


def run(
    fs: Any,
    spec: c.Spec,
    result: c.Result,
    *,
    transfer_kw: dict[str, Any] | None = None,
    random_open_kw: dict[str, Any] | None = None,
) -> None:
    """Run ``spec.workload`` on ``fs``. ``transfer_kw``: extra keyword arguments of
    ``put_file`` / ``get_file``; ``random_open_kw``: of ``open`` for random_reads."""
    w = spec.workload
    transfer_kw = transfer_kw or {}
    if w == "read_parquet":
        import pandas as pd
        import pyarrow.parquet  # noqa: F401 (imported before the clock starts)

        with result.phase(w, nbytes=spec.parquet_bytes) as ph:
            df = pd.read_parquet(spec.parquet_path, filesystem=fs)
        ph["ops"] = len(df)
        ph["check"] = int(df[spec.check_column].sum())
    elif w == "random_reads":
        samples = []
        nbytes = 0
        with result.phase(w, ops=len(spec.offsets)) as ph:
            with fs.open(spec.object_path, "rb", **(random_open_kw or {})) as f:
                for offset in spec.offsets:
                    f.seek(offset)
                    data = f.read(spec.read_size)
                    nbytes += len(data)
                    samples.append([len(data), data[:SAMPLE].hex(), data[-SAMPLE:].hex()])
            ph["bytes"] = nbytes
        ph["samples"] = samples
    elif w == "put":
        with result.phase(w, nbytes=spec.size, ops=1):
            fs.put_file(spec.src, spec.put_path, **transfer_kw)
    elif w == "get":
        with result.phase(w, nbytes=spec.size, ops=1):
            fs.get_file(spec.object_path, spec.dest, **transfer_kw)
    elif w == "find":
        with result.phase(w) as ph:
            names = fs.find(spec.keys_path)
            ph["ops"] = len(names)
        ph["check"] = [names[0], names[-1]] if names else []
    else:
        raise ValueError(f"unknown workload {w!r}")


def main(
    version: str,
    make_fs: Callable[[c.Spec], Any],
    *,
    skips: dict[str, str] | None = None,
    **run_kw: Any,
) -> None:
    """Build the filesystem (untimed) and run the workload; print the result.
    ``skips``: workloads this filesystem cannot do, with the reason."""

    def go(spec: c.Spec, result: c.Result) -> None:
        if spec.workload in (skips or {}):
            raise c.Skip((skips or {})[spec.workload])
        fs = make_fs(spec)
        run(fs, spec, result, **run_kw)

    c.main(version, go)
