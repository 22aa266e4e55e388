"""The benchmark harness, end to end in --quick mode against moto (a smoke test: the
numbers themselves mean nothing here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLIENTS = ["aios3", "aiobotocore", "boto3"]
BULK = ["upload", "download", "stream_upload", "multi_upload"]
SMALL = ["small_put", "small_get", "small_head", "small_list", "small_delete"]

pytest.importorskip("boto3")
pytest.importorskip("moto.server")


def _quick_run(tmp_path: Path, tag: str, *options: str, timeout: float) -> dict:
    """``benchmarks.run --quick`` against moto with ``options``; its JSON document."""
    proc = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.run", "--quick", "--server", "moto", *options,
            "--results-dir", str(tmp_path), "--tag", tag, "--no-chart",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    doc: dict = json.loads((tmp_path / f"{tag}.json").read_text())
    return doc


@pytest.mark.timeout(240)
def test_quick_run_measures_every_client_and_workload(tmp_path: Path) -> None:
    doc = _quick_run(tmp_path, "quick", timeout=220)
    assert (tmp_path / "quick.md").read_text().startswith("### aios3 vs peers")
    assert doc["meta"]["mode"] == "quick"
    summary = doc["summary"]
    assert set(summary) == set(CLIENTS)
    for client in CLIENTS:
        for workload in BULK + SMALL:
            fig = summary[client][workload]
            where = f"{client} {workload}: {fig}"
            assert fig["status"] == "ok", where
            assert 0 < fig["seconds"] < 120, where
            assert 0 <= fig["cpu_seconds"] < 120, where
            assert 10 < fig["peak_rss_mib"] < 4096, where
            if workload in BULK:
                assert fig["bytes"] > 0 and fig["mb_per_s"] > 0, where
                assert fig["cpu_s_per_gib"] > 0, where
                # the whole process (interpreter, imports, connect) costs more than the
                # transfer alone, and takes longer than it
                assert fig["process_cpu_s_per_gib"] > fig["cpu_s_per_gib"], where
                assert fig["process_seconds"] > fig["seconds"], where
            else:
                assert fig["ops"] == doc["meta"]["sizes"]["small_count"], where
                assert fig["ops_per_s"] > 0, where
    for workload in BULK:
        assert summary["aios3"][workload]["mb_per_s_vs_aios3"] == pytest.approx(1.0)
    assert "Whole-process CPU" in (tmp_path / "quick.md").read_text()
    runs = doc["runs"]
    assert len(runs) == len(CLIENTS) * len(BULK + SMALL)
    assert not [r for r in runs if r.get("error")]


@pytest.mark.timeout(120)
def test_the_local_floor_moves_the_file_side_alone(tmp_path: Path) -> None:
    """The ``local`` row: the source read through (upload) and copied into a new file
    (download) with no S3, in the same run as the clients; nothing else measured."""
    options = ("--clients", "aios3,local", "--workloads", "upload,download,small")
    doc = _quick_run(tmp_path, "floor", *options, timeout=110)
    local, big = doc["summary"]["local"], doc["meta"]["sizes"]["big"]
    for workload in ("upload", "download"):
        assert local[workload]["status"] == "ok", local[workload]
        assert local[workload]["bytes"] == big
        assert local[workload]["cpu_s_per_gib"] > 0
    # reading a file costs less than reading, hashing and sending it (the download's
    # page-cache writes are too uneven here to rank in one quick run)
    assert local["upload"]["cpu_s_per_gib"] < doc["summary"]["aios3"]["upload"]["cpu_s_per_gib"]
    assert local["small_put"]["status"] == "skipped"
    assert doc["meta"]["clients"]["local"].startswith("Python ")
    assert not [r for r in doc["runs"] if r.get("error")]


FS_WORKLOADS = ["read_parquet", "random_reads", "put", "get", "find"]


@pytest.mark.timeout(120)
def test_fs_quick_run_measures_or_skips_every_workload(tmp_path: Path) -> None:
    """benchmarks/fs.py --quick against moto: aios3.fs, plus the peers whose venvs exist
    already (creating them takes minutes; `python -m benchmarks.venvs` does it)."""
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    if str(REPO) not in sys.path:  # the checkout's benchmarks/, not an installed package
        sys.path.insert(0, str(REPO))
    from benchmarks import fs, venvs

    clients = ["aios3"] + [
        c.name for c in fs.CLIENTS.values() if c.venv is not None and venvs.ready(c.venv)
    ]
    proc = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.fs",
            "--quick", "--server", "moto", "--clients", ",".join(clients),
            "--results-dir", str(tmp_path), "--tag", "fsquick",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=100,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    doc = json.loads((tmp_path / "fsquick.json").read_text())
    text = (tmp_path / "fsquick.md").read_text()
    assert text.startswith("### aios3.fs vs s3fs")
    for title in ("Wall time", "Client CPU", "Client peak RSS"):
        assert f"**{title}," in text
    assert doc["meta"]["mode"] == "quick" and doc["meta"]["benchmark"] == "fs"
    summary = doc["summary"]
    assert set(summary) == set(clients)
    for client in clients:
        for workload in FS_WORKLOADS:
            fig = summary[client][workload]
            where = f"{client} {workload}: {fig}"
            if fig["status"] == "skipped":
                assert fig["note"], where  # a skip names its reason
                continue
            assert fig["status"] == "ok", where
            assert 0 < fig["seconds"] < 60, where
            assert 0 <= fig["cpu_seconds"] < 60, where
            assert 10 < fig["peak_rss_mib"] < 4096, where
            assert fig["ops"] > 0, where
    sizes = doc["meta"]["sizes"]
    assert summary["aios3"]["find"]["ops"] == sizes["keys"]
    assert summary["aios3"]["get"]["bytes"] == sizes["big"]
    assert summary["aios3"]["read_parquet"]["ops"] == doc["meta"]["parquet_rows"]
    for workload in FS_WORKLOADS:
        assert summary["aios3"][workload]["seconds_vs_aios3"] == pytest.approx(1.0)
    assert not [r for r in doc["runs"] if r.get("error")]


@pytest.mark.timeout(240)
def test_listing_quick_run_lists_and_deletes_every_key(tmp_path: Path) -> None:
    out = tmp_path / "listing.json"
    proc = subprocess.run(
        [
            sys.executable, "-m", "benchmarks.listing",
            "--quick", "--server", "moto", "--clients", "aios3,boto3", "--json", str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=220,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    row = json.loads(out.read_text())["2000"]
    assert set(row) == {"list/aios3", "list/boto3", "delete/aios3"}
    for runs in row.values():  # the harness checks the counts; the figures are there
        assert all(r["keys"] == 2000 and r["keys_per_s"] > 0 and r["rss_mib"] > 10 for r in runs)
    assert "| 2,000 | list | aios3 |" in proc.stdout
