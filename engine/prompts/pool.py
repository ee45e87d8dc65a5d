"""The pool: the written units joined with their plan, filtered, as `pool.parquet` (kept prompts, in plan
order) and `rejects.parquet` (the rest, each with the first reason it failed, "kind: detail").

Filters, in order: what the writer (and enhancer) produced (`empty`, `truncated`), then for each text
(`prompt`, and `enhanced_prompt` when there is an enhancer) Data-Juicer's statistics as SynthVLM bounds
them (`length`, `alnum_ratio`, `char_repetition`, `word_repetition`) and the perplexity bound, then
near-duplicate prompts among those still kept (`near_duplicate: of <id>`). Every statistic is a column of
both files, so a threshold can be judged from the data.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pixsift.engine.core.candidates import error_kind, failure
from pixsift.engine.prompts.config import PromptsConfig
from pixsift.engine.prompts.filters.near_duplicate import near_duplicates
from pixsift.engine.prompts.filters.text_stats import text_stats
from pixsift.engine.prompts.units import PLAN_FILE, TEXTS, read_units, write_atomically

POOL_FILE = "pool.parquet"  # engine.cli.prompts names it too, without importing this module
REJECTS_FILE = "rejects.parquet"


def build_pool(cfg: PromptsConfig, out: Path, units: int) -> tuple[int, Counter]:
    """Write the pool and the rejects from the finished units; (prompts kept, rejects by kind)."""
    table = pq.read_table(out / PLAN_FILE).join(read_units(out, units), "id", join_type="inner")
    table = table.sort_by("index")
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    reasons = [""] * table.num_rows
    texts = [t for t in TEXTS if cfg.enhancer or t == "prompt"]
    for text in texts:
        _written(cfg, columns, text, reasons)
    for text in texts:
        stats = text_stats([t or "" for t in columns[text]])
        values = {
            "length": stats.length,
            "alnum_ratio": stats.alnum_ratio,
            "char_repetition": stats.char_repetition,
            "word_repetition": stats.word_repetition,
        }
        for name, value in values.items():
            columns[f"{text}_{name}"] = value
        _bound(reasons, text, "length", stats.length, cfg.min_length, cfg.max_length, "{:d}")
        _bound(reasons, text, "alnum_ratio", stats.alnum_ratio, cfg.min_alnum_ratio, None, "{:.3f}")
        _bound(
            reasons, text, "char_repetition", stats.char_repetition, None, cfg.max_char_repetition, "{:.3f}"
        )
        _bound(
            reasons, text, "word_repetition", stats.word_repetition, None, cfg.max_word_repetition, "{:.3f}"
        )
        if cfg.max_perplexity is not None:
            perplexity = np.asarray(columns[f"{text}_perplexity"], np.float64)
            _bound(reasons, text, "perplexity", perplexity, None, cfg.max_perplexity, "{:.1f}")
    if cfg.near_duplicate:
        alive = np.array([not r for r in reasons], bool)
        duplicate_of = near_duplicates(columns["prompt"], alive, cfg.near_duplicate)
        for row in np.flatnonzero(duplicate_of >= 0):
            reasons[row] = failure("near_duplicate", f"of {columns['id'][duplicate_of[row]]}")
    kept = np.array([not r for r in reasons], bool)
    full = pa.table(columns)
    rejects = full.filter(pa.array(~kept)).append_column(
        "reason", pa.array([r for r in reasons if r], pa.string())
    )
    write_atomically(full.filter(pa.array(kept)), out / POOL_FILE)
    write_atomically(rejects, out / REJECTS_FILE)
    return int(kept.sum()), Counter(error_kind(r) for r in reasons if r)


def _written(cfg: PromptsConfig, columns: dict, text: str, reasons: list[str]) -> None:
    limit = cfg.max_new_tokens if text == "prompt" else cfg.enhance_max_new_tokens
    for row, (value, truncated) in enumerate(zip(columns[text], columns[f"{text}_truncated"], strict=True)):
        if reasons[row]:
            continue
        if not (value or "").strip():
            reasons[row] = failure("empty", f"{text}: the model wrote nothing")
        elif truncated and not cfg.keep_truncated:
            reasons[row] = failure("truncated", f"{text}: stopped at the limit of {limit} tokens")


def _bound(reasons, text, name, values, low, high, fmt) -> None:
    for row, value in enumerate(values):
        if reasons[row]:
            continue
        if low is not None and value < low:
            reasons[row] = failure(name, f"{text} {fmt.format(value)} < {low}")
        elif high is not None and value > high:
            reasons[row] = failure(name, f"{text} {fmt.format(value)} > {high}")
