"""Summaries of benchmark records: medians, ratios to aios3, Markdown tables, JSON, chart."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

GiB = 1024**3
MiB = 1024**2
BASE = "aios3"
BULK = ["upload", "download", "stream_upload", "multi_upload"]
SMALL = ["small_put", "small_get", "small_head", "small_list", "small_delete"]
TITLES = {
    "upload": "upload file",
    "download": "download file",
    "stream_upload": "upload stream",
    "multi_upload": "8 files at once",
    "small_put": "put",
    "small_get": "get",
    "small_head": "head",
    "small_list": "list",
    "small_delete": "delete",
}


def summarize(records: list[dict]) -> dict:
    """{client: {workload: figures}} from the per-repetition records (medians)."""
    out: dict[str, dict[str, dict]] = {}
    for client in dict.fromkeys(r["client"] for r in records):
        out[client] = {}
        for workload in dict.fromkeys(r["workload"] for r in records):
            rows = [r for r in records if r["client"] == client and r["workload"] == workload]
            if not rows:
                continue
            ok = [r for r in rows if "seconds" in r and not r.get("error")]
            if not ok:
                bad = next((r for r in rows if r.get("error")), rows[0])
                out[client][workload] = {
                    "status": "skipped" if bad.get("skipped") else "failed",
                    "note": bad.get("skipped") or bad.get("error"),
                }
                continue
            seconds = statistics.median(r["seconds"] for r in ok)
            cpu = statistics.median(r["cpu"] for r in ok)
            nbytes = statistics.median(r["bytes"] for r in ok)
            ops = statistics.median(r["ops"] for r in ok)
            fig = {
                "status": "ok",
                "runs": len(ok),
                "failed_runs": len(rows) - len(ok),
                "seconds": seconds,
                "cpu_seconds": cpu,
                "peak_rss_mib": statistics.median(r["maxrss_kib"] for r in ok) / 1024,
                "bytes": nbytes,
                "ops": ops,
            }
            if workload in SMALL:
                fig["ops_per_s"] = ops / seconds if seconds else None
                fig["cpu_us_per_op"] = cpu / ops * 1e6 if ops else None
            else:
                fig["mb_per_s"] = nbytes / seconds / 1e6 if seconds else None
                fig["cpu_s_per_gib"] = cpu / (nbytes / GiB) if nbytes else None
            whole = [r for r in ok if r.get("process_cpu") is not None]
            if whole and nbytes and workload not in SMALL:
                cpu_whole = statistics.median(r["process_cpu"] for r in whole)
                fig["process_cpu_s_per_gib"] = cpu_whole / (nbytes / GiB)
                fig["process_seconds"] = statistics.median(r["process_seconds"] for r in whole)
            # how far apart the repetitions were: (slowest - fastest) / median, in %
            fig["wall_spread_pct"] = _spread([r["seconds"] for r in ok])
            fig["cpu_spread_pct"] = _spread([r["cpu"] for r in ok])
            out[client][workload] = fig
    base = out.get(BASE, {})
    for figs in out.values():
        for workload, fig in figs.items():
            ref = base.get(workload, {})
            if fig.get("status") != "ok" or ref.get("status") != "ok":
                continue
            for key in (
                "mb_per_s",
                "ops_per_s",
                "cpu_s_per_gib",
                "process_cpu_s_per_gib",
                "cpu_us_per_op",
                "peak_rss_mib",
                "seconds",
                "cpu_seconds",
            ):
                if fig.get(key) is not None and ref.get(key):
                    fig[f"{key}_vs_{BASE}"] = fig[key] / ref[key]
    return out


def _spread(values: list[float]) -> float | None:
    """(largest - smallest) / median, in percent; None for fewer than two values."""
    if len(values) < 2:
        return None
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle * 100 if middle else None


def size_text(n: float) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n:g} B"


def _cell(fig: dict | None, key: str, fmt: str, *, ratios: bool = True) -> str:
    if fig is None:
        return "-"
    if fig.get("status") != "ok":
        return fig["status"]
    value = fig.get(key)
    if value is None:
        return "-"
    text = format(value, fmt)
    ratio = fig.get(f"{key}_vs_{BASE}") if ratios else None
    return f"{text} ({ratio:.2f}×)" if ratio is not None else text  # noqa: RUF001


def _table(
    summary: dict,
    workloads: list[str],
    key: str,
    fmt: str,
    title: str,
    *,
    titles: dict[str, str] = TITLES,
    ratios: bool = True,
) -> list[str]:
    present = [w for w in workloads if any(w in figs for figs in summary.values())]
    if not present:
        return []
    lines = [f"**{title}**", ""]
    lines.append("| client | " + " | ".join(titles[w] for w in present) + " |")
    lines.append("|---|" + "---:|" * len(present))
    for client, figs in summary.items():
        cells = [_cell(figs.get(w), key, fmt, ratios=ratios) for w in present]
        lines.append(f"| {client} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def markdown(meta: dict, summary: dict, records: list[dict] | None = None) -> str:
    s = meta["sizes"]
    out = [
        f"### aios3 vs peers: {meta['server']} over {meta['transport']} on 127.0.0.1",
        "",
        f"{meta['machine']['cpus']} CPUs shared by server and client; "
        f"median of {meta['repeat']} run(s); {meta['started']}. "
        f"Files: {size_text(s['big'])} up and down, a {size_text(s['stream'])} stream of "
        f"unknown length, {s['multi_count']} × {size_text(s['multi_size'])} at once; "  # noqa: RUF001
        f"{s['small_count']} objects of {size_text(s['small_size'])} at concurrency "
        f"{s['small_concurrency']}. Parts of {size_text(s['part_size'])}, "
        f"{s['part_concurrency']} in flight. In brackets: ratio to aios3.",
        "",
    ]
    out += _table(summary, BULK, "mb_per_s", ".0f", "Throughput, MB/s (higher is better)")
    out += _table(
        summary, BULK, "cpu_s_per_gib", ".2f", "Client CPU, seconds per GiB (lower is better)"
    )
    out += _table(
        summary,
        BULK,
        "process_cpu_s_per_gib",
        ".2f",
        "Whole-process CPU, seconds per GiB: interpreter, imports, connect and transfer, "
        "what a CLI or cron job pays (lower is better)",
    )
    out += _table(summary, BULK, "peak_rss_mib", ".0f", "Client peak RSS, MiB (lower is better)")
    out += _table(summary, SMALL, "ops_per_s", ".0f", "Small objects, objects/s (higher is better)")
    out += _table(
        summary, SMALL, "cpu_us_per_op", ".0f", "Small objects, client CPU µs per object (lower)"
    )
    spread_title = "Spread between repetitions, (slowest - fastest) / median, %: {}"
    for key, what in (("wall_spread_pct", "wall time"), ("cpu_spread_pct", "client CPU")):
        out += _table(summary, BULK + SMALL, key, ".0f", spread_title.format(what), ratios=False)
    out.append("Versions: " + ", ".join(f"{k} {v}" for k, v in meta["clients"].items()) + ".")
    notes = [
        f"{client} {w}: {fig['note']}"
        for client, figs in summary.items()
        for w, fig in figs.items()
        if fig.get("status") != "ok"
    ]
    if notes:
        out += ["", "Not measured:", *(f"- {n}" for n in dict.fromkeys(notes))]
    remarks = [n for r in records or [] for n in r.get("notes", [])]
    if remarks:
        out += ["", "Notes:", *(f"- {n}" for n in dict.fromkeys(remarks))]
    return "\n".join(out) + "\n"


def draw_chart(json_path: Path, png_path: Path, *, log=print) -> Path | None:
    """Draw the chart with matplotlib, here or in the tools venv; None if neither has it."""
    from . import venvs

    candidates = [Path(sys.executable)]
    tools = venvs.python_of(venvs.DEFAULT_ROOT / "tools")
    if tools.exists():
        candidates.append(tools)
    script = Path(__file__).resolve().parent / "chart.py"
    for python in candidates:
        proc = subprocess.run(
            [str(python), str(script), str(json_path), str(png_path)],
            capture_output=True,
            text=True,
        )
        if proc.returncode == 0:
            return png_path
        if "No module named 'matplotlib'" not in proc.stderr:
            log(f"[chart] failed: {proc.stderr.strip()[-400:]}")
            return None
    log("[chart] skipped: matplotlib is not installed (python -m benchmarks.venvs adds it)")
    return None


def write(
    results_dir: Path,
    tag: str,
    meta: dict,
    records: list[dict],
    *,
    chart: bool,
    log=print,
    markdown_fn=markdown,
):
    """Summarize ``records`` and write ``<tag>.json`` and ``<tag>.md`` (its text from
    ``markdown_fn(meta, summary, records)``), and the chart if ``chart``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(records)
    text = markdown_fn(meta, summary, records)
    paths: dict = {
        "json": results_dir / f"{tag}.json",
        "markdown": results_dir / f"{tag}.md",
        "markdown_text": text,
    }
    paths["json"].write_text(
        json.dumps({"meta": meta, "summary": summary, "runs": records}, indent=2) + "\n"
    )
    paths["markdown"].write_text(text)
    if chart:
        paths["chart"] = draw_chart(paths["json"], results_dir / f"{tag}.png", log=log)
    return paths
