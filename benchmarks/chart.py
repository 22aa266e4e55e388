"""Chart of a results JSON: python benchmarks/chart.py RESULTS.json OUT.png

Needs matplotlib (in the benchmark's ``tools`` venv; not a dependency of aios3).
Standalone on purpose: the harness runs it with whichever interpreter has matplotlib.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script, in any venv
from report import BULK, SMALL
from report import TITLES as LABELS


def bars(ax, summary: dict, workloads: list[str], key: str, title: str, log: bool = False):
    clients = list(summary)
    present = [w for w in workloads if any(w in f for f in summary.values())]
    width = 0.8 / max(1, len(clients))
    for i, client in enumerate(clients):
        values = []
        for w in present:
            fig = summary[client].get(w, {})
            values.append(fig.get(key) or 0 if fig.get("status") == "ok" else 0)
        xs = [j + (i - (len(clients) - 1) / 2) * width for j in range(len(present))]
        ax.bar(xs, values, width, label=client)
    ax.set_xticks(range(len(present)), [LABELS[w] for w in present])
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)


def main(src: str, dst: str) -> None:
    with open(src) as f:
        doc = json.load(f)
    meta, summary = doc["meta"], doc["summary"]
    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    bars(axes[0][0], summary, BULK, "mb_per_s", "Throughput, MB/s (higher is better)")
    bars(axes[0][1], summary, BULK, "cpu_s_per_gib", "Client CPU s per GiB (lower is better)")
    bars(axes[1][0], summary, SMALL, "ops_per_s", "Small objects/s (higher is better)", log=True)
    bars(axes[1][1], summary, BULK, "peak_rss_mib", "Client peak RSS, MiB (lower is better)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels))
    fig.suptitle(
        f"aios3 vs peers — {meta['server']} over {meta['transport']}, 127.0.0.1, "
        f"{meta['machine']['cpus']} CPUs, median of {meta['repeat']}"
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
