"""What a run store holds, for `pixsift inspect STORE`: schema, counts, and score statistics.

Everything streams over work units (a shard of rows at a time), so memory stays flat at any size.
Percentiles come from a 65,536-bin histogram between the column's min and max, taken in a second
pass: each is within (max - min) / 65,536 of numpy's `percentile(values, q, method="lower")`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from pixsift.engine.core.candidates import error_kind
from pixsift.engine.core.config import Config, setting
from pixsift.engine.store.annotations import annotation_arrays, annotation_sets
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.selection import list_selections, selection_group

PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


@dataclass(kw_only=True)
class InspectConfig(Config):
    store: str = setting(positional=True, help="run store path or fsspec URL")


_BINS = 1 << 16
NOT_SCORED = "not scored"


@dataclass
class ScoreStats:
    column: str
    count: int = 0  # scored rows with a finite value
    nan: int = 0  # scored rows without one
    total: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    percentiles: dict[int, float] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else math.nan


@dataclass
class StoreSummary:
    n_rows: int
    planned: bool
    units: int
    units_done: int
    status: Counter = field(default_factory=Counter)  # "ok", "failed", NOT_SCORED
    errors: Counter = field(default_factory=Counter)  # error kind of failed rows
    plan_errors: Counter = field(default_factory=Counter)  # error kind found by the scan
    decoders: Counter = field(default_factory=Counter)  # finished units by the decoder that read them
    scores: list[ScoreStats] = field(default_factory=list)


def summarize(store: RunStore) -> StoreSummary:
    units = store.units()
    summary = StoreSummary(store.n_rows, store.planned, len(units), len(store.done_units()))
    float_columns = [c.name for c in store.score_columns if c.dtype == "float32"] if store.planned else []
    float_columns += [n for n, a in annotation_arrays(store.group).items() if a.dtype == np.float32]
    summary.scores = [ScoreStats(name) for name in float_columns]
    summary.decoders.update(r.get("decoder", "unrecorded") for r in store.unit_reports().values())
    for unit in units:
        rows = slice(unit.start, unit.stop)
        summary.plan_errors.update(error_kind(e) for e in store.arrays["plan_error"][rows].tolist() if e)
        if not store.planned:
            continue
        summary.status.update(s or NOT_SCORED for s in store.arrays["status"][rows].tolist())
        summary.errors.update(error_kind(e) for e in store.arrays["error"][rows].tolist() if e)
        for stats in summary.scores:
            _accumulate(stats, store.arrays[stats.column][rows])
    scored = summary.status["ok"] + summary.status["failed"]
    for stats in summary.scores:
        stats.nan = scored - stats.count
    _add_percentiles(store, summary.scores)
    return summary


def inspect(url: str) -> str:
    store = RunStore.open(url, read_only=True)
    summary = summarize(store)
    plan = "complete" if summary.planned else "INTERRUPTED (it is redone on the next run)"
    lines = [
        f"run store {store.url}",
        f"schema {store.group.attrs['pixsift_schema_version']}, plan {plan}: {summary.n_rows:,} rows, "
        f"{summary.units_done:,} of {summary.units:,} units of {store.shard_rows:,} rows done",
        f"config: {json.dumps(store.config, sort_keys=True)}",
        "",
        _table(
            ["column", "dtype", "shape", "chunks", "shards", "meaning"],
            [
                [
                    c.name,
                    c.dtype,
                    *(str(getattr(store.arrays[c.name], p)) for p in ("shape", "chunks", "shards")),
                    c.doc,
                ]
                for c in store.columns
            ],
        ),
        "",
        _counts("rows by status", summary.status),
        _counts("failed rows by error kind", summary.errors),
        _counts("rows with a scan error, by kind", summary.plan_errors),
        _counts("units by decoder", summary.decoders),
        "",
        _table(
            ["score", "values", "nan", "min", "mean", *(f"p{q}" for q in PERCENTILES), "max"],
            [
                [
                    s.column,
                    f"{s.count:,}",
                    f"{s.nan:,}",
                    *(
                        _number(v)
                        for v in (
                            s.min,
                            s.mean,
                            *(s.percentiles.get(q, math.nan) for q in PERCENTILES),
                            s.max,
                        )
                    ),
                ]
                for s in summary.scores
            ],
        ),
        "",
        *_annotation_lines(store),
        *_selection_lines(store),
    ]
    return "\n".join(lines) + "\n"


def _annotation_lines(store: RunStore) -> list[str]:
    """Each annotation set (pixsift caption, judge): how it was made, its units and its rows by status."""
    sets = annotation_sets(store.url, store.group)
    lines = ["annotation sets:" if sets else "annotation sets: none"]
    for found in sets:
        attrs = found.group.attrs
        settings = attrs["settings"]
        made = ", ".join(f"{k} {settings[k]}" for k in ("model", "selection") if settings.get(k))
        statuses, _ = found.totals()
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items()))
        done = f"{len(found.done_units()):,} of {len(found.units()):,} units"
        lines.append(f"  {found.name}: {attrs['stage']} ({made}); {done}; {counts or 'no rows yet'}")
    return lines


def _selection_lines(store: RunStore) -> list[str]:
    """Each complete selection with its funnel: the rows each step dropped, in order."""
    names = list_selections(store)
    if not names:
        return ["selections: none"]
    lines = ["selections:"]
    for name in names:
        attrs = selection_group(store, name).attrs
        funnel = ", ".join(f"{f['step']} -{f['dropped']:,}" for f in attrs["funnel"])
        lines.append(f"  {name}: kept {attrs['n_kept']:,} of {store.n_rows:,} ({funnel})")
    return lines


def _accumulate(stats: ScoreStats, values: np.ndarray) -> None:
    finite = values[np.isfinite(values)].astype(np.float64)
    if finite.size:
        stats.count += finite.size
        stats.total += finite.sum()
        stats.min = min(stats.min, finite.min())
        stats.max = max(stats.max, finite.max())


def _add_percentiles(store: RunStore, scores: list[ScoreStats]) -> None:
    """Second pass: a histogram per column over [min, max], then percentiles read from it."""
    spread = [s for s in scores if s.max > s.min]
    histograms = {s.column: np.zeros(_BINS, np.int64) for s in spread}
    for unit in store.units() if spread else ():
        for stats in spread:
            values = store.arrays[stats.column][unit.start : unit.stop]
            finite = values[np.isfinite(values)]
            histograms[stats.column] += np.histogram(finite, bins=_BINS, range=(stats.min, stats.max))[0]
    for stats in scores:
        if stats.count:
            stats.percentiles = {q: _percentile(histograms.get(stats.column), stats, q) for q in PERCENTILES}


def _percentile(histogram: np.ndarray | None, stats: ScoreStats, q: float) -> float:
    if histogram is None:  # a single value
        return stats.min
    rank = math.floor(q / 100 * (stats.count - 1))  # the "lower" order statistic, found in its bin
    cumulative = np.cumsum(histogram)
    bin_index = int(np.searchsorted(cumulative, rank, side="right"))
    before = cumulative[bin_index] - histogram[bin_index]
    width = (stats.max - stats.min) / _BINS
    value = stats.min + (bin_index + (rank - before + 0.5) / histogram[bin_index]) * width
    return float(min(max(value, stats.min), stats.max))


def _counts(title: str, counts: Counter) -> str:
    if not counts:
        return f"{title}: none"
    return f"{title}: " + ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items()))


def _number(value: float) -> str:
    return "-" if math.isnan(value) or math.isinf(value) else f"{value:.4g}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = (
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)) for row in [header, *rows]
    )
    return "\n".join(line.rstrip() for line in lines)
