"""The report's PNG plots (matplotlib, Agg backend): score histograms with thresholds and the cut, the
funnel of kept and dropped counts per step, and kept counts per category or style."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 -- after choosing the backend

from pixsift.engine.report.data import Histogram  # noqa: E402
from pixsift.engine.store.schema import WEIGHTED_SCORE  # noqa: E402

KEPT_COLOR, DROPPED_COLOR, LINE_COLOR = "#2a9d8f", "#c8c8c8", "#d62828"


def histogram_plot(histogram: Histogram, cut: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    widths = histogram.edges[1:] - histogram.edges[:-1]
    left = histogram.edges[:-1]
    ax.bar(left, histogram.dropped, widths, align="edge", color=DROPPED_COLOR, label="dropped")
    ax.bar(
        left, histogram.kept, widths, bottom=histogram.dropped, align="edge", color=KEPT_COLOR, label="kept"
    )
    if histogram.column == WEIGHTED_SCORE and math.isfinite(cut):
        ax.axvline(cut, color=LINE_COLOR, linestyle="--", label=f"cut {cut:.4g}")
    for op, value in histogram.thresholds:
        ax.axvline(value, color=LINE_COLOR, label=f"{op} {value:.4g}")
    ax.set_xlabel(histogram.column)
    ax.set_ylabel("candidates")
    ax.legend(fontsize=8)
    return _save(fig, path)


def funnel_plot(funnel: list[dict], path: Path) -> Path:
    steps = [str(s["step"]) for s in funnel]
    fig, ax = plt.subplots(figsize=(6, _bar_height(len(steps))))
    y = range(len(steps))
    ax.barh(y, [s["remaining"] for s in funnel], color=KEPT_COLOR, label="remaining")
    ax.barh(y, [s["dropped"] for s in funnel], left=[s["remaining"] for s in funnel], color=DROPPED_COLOR,
            label="dropped")  # fmt: skip
    ax.set_yticks(list(y), steps, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("candidates")
    ax.legend(fontsize=8)
    return _save(fig, path)


def counts_plot(name: str, counts: Counter, path: Path) -> Path:
    values = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    fig, ax = plt.subplots(figsize=(6, _bar_height(len(values))))
    ax.barh(range(len(values)), [n for _, n in values], color=KEPT_COLOR)
    ax.set_yticks(range(len(values)), [v or "(none)" for v, _ in values], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"kept candidates per {name}")
    return _save(fig, path)


def _bar_height(bars: int) -> float:
    return 1.2 + 0.3 * bars


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
