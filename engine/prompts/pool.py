"""The pool: the written units joined with their plan, filtered, as `pool.parquet` (kept prompts, in plan
order) and `rejects.parquet` (the rest, each with the first reason it failed, "kind: detail").

Filters, in order: what the writer (and enhancer) produced (`empty`, `truncated`), then for each text
(`prompt`, and `enhanced_prompt` when there is an enhancer) Data-Juicer's statistics as SynthVLM bounds
them (`length`, `alnum_ratio`, `char_repetition`, `word_repetition`) and the perplexity bound, then
near-duplicate prompts among those still kept (`near_duplicate: of <id>`). Every statistic is a column of
both files, so a threshold can be judged from the data.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pixsift.engine.core.candidates import error_kind, failure
from pixsift.engine.core.progress import Progress
from pixsift.engine.prompts.config import PromptsConfig
from pixsift.engine.prompts.filters.near_duplicate import near_duplicates
from pixsift.engine.prompts.filters.text_stats import FIELDS, TextStats, text_stats
from pixsift.engine.prompts.units import PLAN_FILE, TEXTS, read_units, write_atomically

POOL_FILE = "pool.parquet"  # engine.cli.prompts names it too, without importing this module
REJECTS_FILE = "rejects.parquet"


@dataclass
class PoolCounts:
    kept: int
    rejects: Counter  # kind -> rows
    cells: tuple[int, int, int]  # category x style cells planned, and the fewest and most prompts one kept


def build_pool(cfg: PromptsConfig, out: Path, units: int, stream=None) -> PoolCounts:
    """Write the pool and the rejects from the finished units, with progress lines on `stream` (stderr by
    default) while the statistics and near-duplicates are computed."""
    table = pq.read_table(out / PLAN_FILE).join(read_units(out, units), "id", join_type="inner")
    table = table.sort_by("index")
    reasons = _Reasons(table.num_rows)
    texts = [t for t in TEXTS if cfg.enhancer or t == "prompt"]
    for text in texts:
        limit = cfg.max_new_tokens if text == "prompt" else cfg.enhance_max_new_tokens
        empty = pc.equal(pc.utf8_trim_whitespace(pc.fill_null(table.column(text), "")), "")
        reasons.drop(empty.to_numpy(zero_copy_only=False), "empty", f"{text}: the model wrote nothing")
        if not cfg.keep_truncated:
            truncated = pc.fill_null(table.column(f"{text}_truncated"), False).to_numpy(zero_copy_only=False)
            reasons.drop(truncated, "truncated", f"{text}: stopped at the limit of {limit} tokens")
    for text in texts:
        stats = _statistics(table.column(text), f"prompts: {text} statistics", stream)
        bounds = {
            "length": (stats.length, cfg.min_length, cfg.max_length, "{:d}"),
            "alnum_ratio": (stats.alnum_ratio, cfg.min_alnum_ratio, None, "{:.3f}"),
            "char_repetition": (stats.char_repetition, None, cfg.max_char_repetition, "{:.3f}"),
            "word_repetition": (stats.word_repetition, None, cfg.max_word_repetition, "{:.3f}"),
        }
        if cfg.max_perplexity is not None:
            perplexity = pc.fill_null(table.column(f"{text}_perplexity"), math.nan).to_numpy()
            bounds["perplexity"] = (perplexity, None, cfg.max_perplexity, "{:.1f}")
        for name, (values, low, high, fmt) in bounds.items():
            if name != "perplexity":
                table = table.append_column(f"{text}_{name}", pa.array(values))
            reasons.bound(values, low, high, name, lambda v, text=text, fmt=fmt: f"{text} {fmt.format(v)}")
    if cfg.near_duplicate:
        ids = table.column("id").to_pylist()
        alive = reasons.alive()
        progress = Progress("prompts: near-duplicates", int(alive.sum()), noun="prompts", stream=stream)
        duplicate_of = near_duplicates(
            table.column("prompt").to_pylist(), alive, cfg.near_duplicate, progress
        )
        reasons.drop(duplicate_of >= 0, "near_duplicate", lambda row: f"of {ids[duplicate_of[row]]}")
    kept = reasons.alive()
    rejects = table.filter(pa.array(~kept)).append_column("reason", pa.array(reasons.given(), pa.string()))
    write_atomically(table.filter(pa.array(kept)), out / POOL_FILE)
    write_atomically(rejects, out / REJECTS_FILE)
    planned = Counter(zip(*(table.column(c).to_pylist() for c in ("prompt_category", "style")), strict=True))
    kept_cells = Counter(
        zip(
            *(table.column(c).filter(pa.array(kept)).to_pylist() for c in ("prompt_category", "style")),
            strict=True,
        )
    )
    per_cell = [kept_cells[cell] for cell in planned]
    cells = (len(planned), min(per_cell, default=0), max(per_cell, default=0))
    return PoolCounts(int(kept.sum()), Counter(error_kind(r) for r in reasons.given()), cells)


STATS_BLOCK = 1 << 18  # texts per text_stats call: a progress line between blocks


def _statistics(column: pa.ChunkedArray, label: str, stream) -> TextStats:
    progress = Progress(label, len(column), noun="prompts", stream=stream)
    parts = []
    for start in range(0, len(column), STATS_BLOCK):
        texts = [t or "" for t in column.slice(start, STATS_BLOCK).to_pylist()]
        parts.append(text_stats(texts))
        progress.update(len(texts))
    return TextStats(
        *(np.concatenate([getattr(p, f) for p in parts]) if parts else np.zeros(0) for f in FIELDS)
    )


class _Reasons:
    """Each row's first reason to drop it ("kind: detail"), "" while it is kept."""

    def __init__(self, rows: int):
        self.reasons = np.full(rows, "", object)

    def alive(self) -> np.ndarray:
        return self.reasons == ""

    def given(self) -> list[str]:
        return self.reasons[~self.alive()].tolist()

    def drop(self, mask: np.ndarray, kind: str, detail) -> None:
        """Drop the alive rows of `mask`; `detail` (or `detail(row)`) says why."""
        for row in np.flatnonzero(mask & self.alive()):
            self.reasons[row] = failure(kind, detail(row) if callable(detail) else detail)

    def bound(self, values: np.ndarray, low, high, kind: str, shown) -> None:
        """Drop the alive rows whose value is below `low` or above `high` (NaN passes)."""
        for bad, sign, limit in ((values < low if low is not None else None, "<", low),
                                 (values > high if high is not None else None, ">", high)):  # fmt: skip
            if bad is not None:
                self.drop(
                    bad, kind, lambda row, sign=sign, limit=limit: f"{shown(values[row])} {sign} {limit}"
                )
