"""What the selection report shows, gathered in two streaming passes over the store a work unit at a time.

Pass one finds each score's range and the cut (the lowest weighted score kept); pass two bins every score
into fixed histograms (kept and dropped apart; the edit pair metrics among them), counts kept rows per
category and style, counts rows and kept rows per generator and enhancer (the provenance `pixsift generate`
writes into `meta`), counts the funnel per task (text-to-image and editing apart), and keeps only the few
rows the report shows: the kept rows nearest the cut, the dropped rows nearest it, the same for editing
pairs, and the first duplicate groups. Memory stays flat with the store's size.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from pixsift.engine.store.meta_fields import PROVENANCE_FIELDS, MetaField
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import EDIT_TASK, WEIGHTED_SCORE
from pixsift.engine.store.selection import selection_group

BINS = 40
SHOWN = 12  # thumbnails on each side of the cut
DUP_GROUPS = 6
DUP_MEMBERS = 6


@dataclass
class Histogram:
    column: str
    edges: np.ndarray
    kept: np.ndarray  # counts per bin
    dropped: np.ndarray
    thresholds: list[tuple[str, float]] = field(default_factory=list)  # (operator, value)


@dataclass
class ReportData:
    n_rows: int
    n_kept: int
    cut: float  # the lowest weighted score kept; NaN when nothing is kept
    funnel: list[dict]
    spec: object
    histograms: list[Histogram]  # the weighted score first, then each score column, then the sizes
    counts: dict[str, Counter]  # "category" / "style" / "format" -> kept rows per value
    sources: list[tuple[str, int, int]]  # (input file, its rows, kept) in plan order
    near_cut_kept: list[int]  # rows, nearest the cut first
    near_cut_dropped: list[int]
    dup_groups: list[list[int]]  # rows per group, the kept member first
    task_funnel: dict[str, list[tuple[str, int, int]]]  # task -> (step, dropped, remaining), with 2+ tasks
    provenance: dict[str, dict[str, tuple[int, int]]]  # "image_generator", ... -> value -> (rows, kept)
    pairs_kept: list[int]  # editing rows, nearest the cut first
    pairs_dropped: list[int]


# What the candidates are, beside their scores: histograms of these columns too (kept and dropped apart).
SIZE_COLUMNS = ("width", "height", "byte_size")


def gather(store: RunStore, selection: str) -> ReportData:
    chosen = selection_group(store, selection)
    scores = [c.name for c in store.score_columns if c.dtype == "float32"]
    columns = [WEIGHTED_SCORE, *scores, *SIZE_COLUMNS]
    ranges = {c: [math.inf, -math.inf] for c in columns}
    n_kept, cut = 0, math.inf
    for _, values, kept in _chunks(store, chosen, [*scores, *SIZE_COLUMNS], (WEIGHTED_SCORE,)):
        n_kept += int(kept.sum())
        for column in columns:
            finite = values[column][np.isfinite(values[column])]
            if finite.size:
                ranges[column] = [min(ranges[column][0], finite.min()), max(ranges[column][1], finite.max())]
        weighted = values[WEIGHTED_SCORE][kept]
        if np.isfinite(weighted).any():
            cut = min(cut, float(np.nanmin(weighted)))
    cut = cut if n_kept and math.isfinite(cut) else math.nan

    funnel = list(chosen.attrs.get("funnel", []))
    histograms = [_empty_histogram(c, *ranges[c], _thresholds(funnel, c)) for c in columns]
    counts = {"category": Counter(), "style": Counter(), "format": Counter()}
    kept_picks, dropped_picks, groups = _Nearest(SHOWN), _Nearest(SHOWN), _FirstGroups()
    pairs_kept, pairs_dropped = _Nearest(SHOWN), _Nearest(SHOWN)
    sources, tasks = _Sources(store.inputs), _TaskFunnel(chosen.attrs["reasons"])
    provenance = _Provenance()
    read = [*scores, *SIZE_COLUMNS, *counts, "task", "meta"]
    for start, values, kept in _chunks(store, chosen, read, (WEIGHTED_SCORE, "dup_group", "reason_code")):
        for histogram in histograms:
            column = values[histogram.column]
            histogram.kept += np.histogram(column[kept], histogram.edges)[0]
            histogram.dropped += np.histogram(column[~kept], histogram.edges)[0]
        for name, counter in counts.items():
            counter.update(values[name][kept].tolist())
        rows = np.arange(start, start + len(kept))
        weighted = values[WEIGHTED_SCORE]
        kept_picks.add(rows[kept], weighted[kept] - cut)
        dropped_picks.add(rows[~kept], np.abs(weighted[~kept] - cut))
        groups.add(rows, values["dup_group"])
        sources.add(rows, kept)
        tasks.add(values["task"], values["reason_code"])
        provenance.add(values["meta"], kept)
        edit = values["task"] == EDIT_TASK
        pairs_kept.add(rows[kept & edit], weighted[kept & edit] - cut)
        pairs_dropped.add(rows[~kept & edit], np.abs(weighted[~kept & edit] - cut))
    return ReportData(
        n_rows=store.n_rows,
        n_kept=n_kept,
        cut=cut,
        funnel=funnel,
        spec=chosen.attrs.get("spec"),
        histograms=[h for h in histograms if h.kept.sum() + h.dropped.sum()],
        counts={name: counter for name, counter in counts.items() if set(counter) - {""}},
        sources=sources.table(),
        near_cut_kept=kept_picks.rows(),
        near_cut_dropped=dropped_picks.rows(),
        dup_groups=groups.groups(),
        task_funnel=tasks.table(),
        provenance=provenance.table(),
        pairs_kept=pairs_kept.rows(),
        pairs_dropped=pairs_dropped.rows(),
    )


def _chunks(store: RunStore, chosen, store_columns: list[str], selection_columns: tuple[str, ...]):
    """(first row, values per column, kept mask) per work unit; only the columns named are read."""
    for unit in store.units():
        rows = slice(unit.start, unit.stop)
        values = {c: store.arrays[c][rows] for c in store_columns}
        values |= {c: chosen[c][rows] for c in selection_columns}
        yield unit.start, values, chosen["kept"][rows]


def _empty_histogram(column: str, low: float, high: float, thresholds) -> Histogram:
    if not math.isfinite(low):
        low, high = 0.0, 1.0
    values = [low, high, *(v for _, v in thresholds if math.isfinite(v))]
    low, high = min(values), max(values)
    if high == low:
        low, high = low - 0.5, high + 0.5
    zeros = np.zeros(BINS, np.int64)
    return Histogram(column, np.linspace(low, high, BINS + 1), zeros, zeros.copy(), thresholds)


def _thresholds(funnel: list[dict], column: str) -> list[tuple[str, float]]:
    """(operator, value) of each cut the selection's steps make on `column`, as select recorded them."""
    cuts = (cut for step in funnel for cut in step.get("thresholds", []))
    return [(cut["op"], float(cut["value"])) for cut in cuts if cut["column"] == column]


class _Sources:
    """Rows and kept rows per input file of the store (engine.store.input_record); rows that no input
    planned now (their file changed or went away) count as one line of their own."""

    GONE = "(inputs no longer planned: changed or removed)"

    def __init__(self, inputs: list[dict]):
        self.paths = [record["path"] for record in inputs] + [self.GONE]
        ranges = sorted((r["rows"][0], r["rows"][1], i) for i, r in enumerate(inputs))
        self.starts = np.array([r[0] for r in ranges], np.int64)
        self.stops = np.array([r[1] for r in ranges], np.int64)
        self.index = np.array([r[2] for r in ranges] + [len(inputs)], np.int64)
        self.rows = np.zeros(len(self.paths), np.int64)
        self.kept = np.zeros(len(self.paths), np.int64)

    def add(self, rows: np.ndarray, kept: np.ndarray) -> None:
        at = np.searchsorted(self.starts, rows, side="right") - 1
        planned = (at >= 0) & (rows < self.stops[np.maximum(at, 0)] if len(self.stops) else False)
        which = np.where(planned, self.index[np.maximum(at, 0)], len(self.paths) - 1)
        self.rows += np.bincount(which, minlength=len(self.paths))
        self.kept += np.bincount(which, weights=kept, minlength=len(self.paths)).astype(np.int64)

    def table(self) -> list[tuple[str, int, int]]:
        return [(p, int(n), int(k)) for p, n, k in zip(self.paths, self.rows, self.kept, strict=True) if n]


class _Provenance:
    """Rows and kept rows per value of each provenance field in `meta` (engine.store.meta_fields)."""

    def __init__(self):
        self.fields = [MetaField(name) for name in PROVENANCE_FIELDS]
        self.rows = {f.name: Counter() for f in self.fields}
        self.kept = {f.name: Counter() for f in self.fields}

    def add(self, metas: np.ndarray, kept: np.ndarray) -> None:
        for meta_field in self.fields:
            codes = meta_field.codes(metas)
            values = meta_field.values
            for counter, mask in ((self.rows, codes >= 0), (self.kept, (codes >= 0) & kept)):
                counts = np.bincount(codes[mask], minlength=len(values))
                counter[meta_field.name].update({values[i]: int(n) for i, n in enumerate(counts) if n})

    def table(self) -> dict[str, dict[str, tuple[int, int]]]:
        return {
            name: {value: (n, self.kept[name][value]) for value, n in sorted(counts.items())}
            for name, counts in self.rows.items()
            if counts
        }


class _TaskFunnel:
    """Rows dropped by each step, per task: the selection's funnel for text-to-image and editing apart."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons  # code -> step ("" for kept)
        self.dropped: dict[str, np.ndarray] = {}

    def add(self, tasks: np.ndarray, codes: np.ndarray) -> None:
        for task in np.unique(tasks).tolist():
            counts = np.bincount(codes[tasks == task], minlength=len(self.reasons))
            name = task or "t2i"  # a row without a task is scored as text-to-image
            self.dropped[name] = self.dropped.get(name, 0) + counts

    def table(self) -> dict[str, list[tuple[str, int, int]]]:
        if len(self.dropped) < 2:
            return {}
        table = {}
        for task, counts in sorted(self.dropped.items()):
            remaining = int(counts.sum())
            table[task] = []
            for step, dropped in zip(self.reasons[1:], counts[1:].tolist(), strict=True):
                remaining -= dropped
                table[task].append((step, dropped, remaining))
        return table


class _Nearest:
    """The `k` rows of smallest distance seen so far (NaN distances never), ties to the lower row."""

    def __init__(self, k: int):
        self.k = k
        self._rows = np.empty(0, np.int64)
        self._distance = np.empty(0, np.float64)

    def add(self, rows: np.ndarray, distance: np.ndarray) -> None:
        finite = np.isfinite(distance)
        rows = np.concatenate([self._rows, rows[finite]])
        distance = np.concatenate([self._distance, distance[finite].astype(np.float64)])
        order = np.lexsort((rows, distance))[: self.k]
        self._rows, self._distance = rows[order], distance[order]

    def rows(self) -> list[int]:
        return self._rows.tolist()


class _FirstGroups:
    """Members of the duplicate groups with the smallest ids (a group's id is its kept member's row)."""

    def __init__(self):
        self._members: dict[int, list[int]] = {}

    def add(self, rows: np.ndarray, groups: np.ndarray) -> None:
        wanted = groups >= 0
        if len(self._members) == DUP_GROUPS:
            wanted &= groups <= max(self._members)
        for row, group in zip(rows[wanted].tolist(), groups[wanted].tolist(), strict=True):
            members = self._members.setdefault(group, [])
            if row == group or len(members) < DUP_MEMBERS - 1:
                members.append(row)
            if len(self._members) > DUP_GROUPS:
                del self._members[max(self._members)]

    def groups(self) -> list[list[int]]:
        return [
            sorted(members, key=lambda r: (r != group, r))[:DUP_MEMBERS]
            for group, members in sorted(self._members.items())
        ]
