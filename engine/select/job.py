"""`pixsift select`: run a selection spec over a run store and write the result as a named selection.

Memory: the run holds one reason code (uint8) and one weighted score (float32) per row, 5 bytes a
row. Columns are read a block of whole shards (about BLOCK_ROWS rows) at a time, on a background
thread, and the rankings keep only their running candidates (k keys, the quotas' keys, one key per
group). The first pass (status, then any filters that follow it) also computes the weighted score."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.prefetch import prefetch
from pixsift.engine.select.columns import columns_of_kind, read_columns, weighted_score
from pixsift.engine.select.group_norm import GROUP_COLUMN, GroupStats
from pixsift.engine.select.ranking import MAX_ROWS
from pixsift.engine.select.spec import SelectSpec
from pixsift.engine.select.steps.base import SpecError, Step
from pixsift.engine.store.lock import writing
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import VOCABULARY_COLUMNS, WEIGHTED_SCORE
from pixsift.engine.store.selection import CAPTION, SelectionWriter, check_writable

BLOCK_ROWS = 1 << 20


@dataclass
class SelectionResult:
    name: str
    store: str
    n_rows: int
    n_kept: int
    funnel: list[dict]
    counts: dict[str, dict[str, int]]
    seconds: dict[str, float] = field(default_factory=dict)  # per pass over the store, plus "write"

    def text(self) -> str:
        width = max(len(f["step"]) for f in self.funnel)
        lines = [f"selection {self.name!r} in {self.store}: kept {self.n_kept:,} of {self.n_rows:,} rows"]
        lines.append(f"  {'step':<{width}}  {'dropped':>12}  {'remaining':>12}")
        for f in self.funnel:
            lines.append(f"  {f['step']:<{width}}  {f['dropped']:>12,}  {f['remaining']:>12,}")
        lines.append("seconds per pass: " + ", ".join(f"{k} {v:.2f}" for k, v in self.seconds.items()))
        return "\n".join(lines)

    def warning(self) -> str | None:
        """What to tell the user when the selection keeps nothing: the step that dropped the last rows."""
        if self.n_kept or not self.n_rows:
            return None
        last = next((f for f in self.funnel if f["remaining"] == 0), None)
        where = f"; step {last['step']!r} dropped the last {last['dropped']:,}" if last else ""
        return f"selection {self.name!r} keeps none of the {self.n_rows:,} rows{where}"


class SelectionRun:
    """The state of a selection in progress, as the steps see it (engine.select.steps.base.Run)."""

    def __init__(self, store: RunStore, spec: SelectSpec):
        if store.n_rows >= MAX_ROWS:
            raise BadInput(store.url, f"{store.n_rows:,} rows; selection supports fewer than {MAX_ROWS:,}")
        self.store, self.terms, self.caption_column = store, spec.score, spec.caption_column
        self.reason = np.zeros(store.n_rows, np.uint8)
        self.score = np.full(store.n_rows, np.nan, np.float32)
        self.dup_group: np.ndarray | None = None
        self._scored = False

    def chunks(self, columns: tuple[str, ...]) -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
        """(start, stop, values) per block, read ahead on a thread; the first pass also scores."""
        scoring = not self._scored
        terms = tuple(t.column for t in self.terms) if scoring else ()
        normalized = sorted({t.column for t in self.terms if t.normalize}) if scoring else []
        groups = self._group_stats(normalized)
        wanted = tuple(dict.fromkeys((*columns, *terms, *([GROUP_COLUMN] if normalized else []))))

        def read() -> Iterator[tuple[int, int, dict[str, np.ndarray]]]:
            for rows in self.blocks():
                values = read_columns(
                    self.store,
                    tuple(c for c in wanted if c != WEIGHTED_SCORE),
                    rows,
                    self.score,
                    self.caption_column,
                )
                if scoring:
                    self.score[rows] = weighted_score(self.terms, values, groups)
                if WEIGHTED_SCORE in wanted:
                    values[WEIGHTED_SCORE] = self.score[rows]
                yield rows.start, rows.stop, values

        yield from prefetch(read(), 2, "pixsift-select-read")
        self._scored = True

    def _group_stats(self, columns: list[str]) -> dict[str, GroupStats]:
        """Per-group statistics of the normalised score columns, from one pass over the store."""
        stats = {column: GroupStats() for column in columns}
        if not columns:
            return stats
        for rows in self.blocks():
            values = read_columns(self.store, (GROUP_COLUMN, *columns), rows, self.score, self.caption_column)
            for column in columns:
                stats[column].add(values[GROUP_COLUMN], values[column])
        for column in columns:
            stats[column].finish()
        return stats

    def blocks(self) -> Iterator[slice]:
        """Row ranges of whole shards, about BLOCK_ROWS rows each: small shards are read several at a time."""
        step = self.store.shard_rows * max(1, BLOCK_ROWS // self.store.shard_rows)
        return (
            slice(start, min(start + step, self.store.n_rows)) for start in range(0, self.store.n_rows, step)
        )

    def alive_rows(self) -> np.ndarray:
        return np.flatnonzero(self.reason == 0)

    def read_rows(self, rows: np.ndarray, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
        """`columns` at `rows` (sorted), reading only the shards that hold them."""
        parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
        shard_rows = self.store.shard_rows
        bounds = np.searchsorted(rows, np.arange(0, self.store.n_rows + shard_rows, shard_rows))
        for unit in self.store.units():
            local = rows[bounds[unit.index] : bounds[unit.index + 1]] - unit.start
            if len(local):
                values = read_columns(
                    self.store, columns, slice(unit.start, unit.stop), self.score, self.caption_column
                )
                for column in columns:
                    parts[column].append(values[column][local])
        empty = {
            c: read_columns(self.store, (c,), slice(0, 0), self.score, self.caption_column)[c]
            for c in columns
            if not parts[c]
        }
        return {c: np.concatenate(p) if p else empty[c] for c, p in parts.items()}

    def vocabulary(self, column: str) -> list[str]:
        return self.store.vocabulary(column)

    def set_dup_groups(self, rows: np.ndarray, groups: np.ndarray) -> None:
        """Record duplicate groups (the step's ids); a row keeps the group an earlier step gave it."""
        if self.dup_group is None:
            self.dup_group = np.full(self.store.n_rows, -1, np.int64)
        fresh = (groups != -1) & (self.dup_group[rows] == -1)
        self.dup_group[rows[fresh]] = groups[fresh]


def select(
    store: RunStore | str,
    spec: SelectSpec,
    name: str | None = None,
    *,
    overwrite: bool = False,
    allow_partial: bool = False,
) -> SelectionResult:
    """Run `spec` over the store and write `selections/<name>` (the spec's name by default); a store with
    unscored rows is refused unless `allow_partial`."""
    store = store if isinstance(store, RunStore) else RunStore.open(store)
    with writing(store.url, "run store"):
        return _select(store, spec, name or spec.name, overwrite, allow_partial)


def _select(
    store: RunStore, spec: SelectSpec, name: str, overwrite: bool, allow_partial: bool
) -> SelectionResult:
    check_writable(store, name, overwrite)
    store.require_scored(allow_partial)
    steps: list[Step] = list(spec.all_steps)
    check_columns(store, spec)
    run = SelectionRun(store, spec)
    seconds = {}
    for group in _passes(steps):
        started = time.perf_counter()
        group[0][0].apply_pass(run, group)
        seconds[" + ".join(s.reason for s, _ in group)] = time.perf_counter() - started
    started = time.perf_counter()
    result = _write(run, name, steps, spec, overwrite)
    result.seconds = {**seconds, "write": time.perf_counter() - started}
    return result


def _passes(steps: list[Step]) -> list[list[tuple[Step, int]]]:
    """Steps with their reason codes (1, 2, ...), consecutive steps that fuse (row filters) in one pass."""
    passes: list[list[tuple[Step, int]]] = []
    for code, step in enumerate(steps, start=1):
        if step.fuses and passes and passes[-1][0][0].fuses:
            passes[-1].append((step, code))
        else:
            passes.append([(step, code)])
    return passes


def check_columns(store: RunStore, spec: SelectSpec) -> None:
    """Raise SpecError naming each column the spec names that the store cannot give."""
    terms = [c for c in columns_of_kind(store, "numeric") if c != WEIGHTED_SCORE]
    wanted = [("[score]", t.column, "numeric", terms) for t in spec.score]
    for step in spec.steps:
        wanted += [
            (f"step {step.reason}", column, kind, columns_of_kind(store, kind))
            for column, kind in step.column_kinds()
        ]
    if spec.caption_column != CAPTION:
        text = [n for n, a in store.arrays.items() if a.ndim == 1 and a.dtype.kind in "OTU"]
        wanted.append(("caption_column", spec.caption_column, "text", text))
    for what, column, kind, known in wanted:
        if column not in known:
            raise SpecError(
                f"spec {spec.name or '(unnamed)'} on {store.url}: {what}: no {kind} column {column!r}; "
                f"{kind} columns: {', '.join(known)}"
            )


def _write(
    run: SelectionRun, name: str, steps: list[Step], spec: SelectSpec, overwrite: bool
) -> SelectionResult:
    store = run.store
    reasons = [s.reason for s in steps]
    writer = SelectionWriter(store, name, ["", *reasons], overwrite=overwrite)
    vocabularies = {c: [*store.vocabulary(c), ""] for c in VOCABULARY_COLUMNS}  # id -1 indexes ""
    kept_per_code = {c: np.zeros(len(v), np.int64) for c, v in vocabularies.items()}
    id_columns = tuple(f"{c}_id" for c in VOCABULARY_COLUMNS)
    for start, stop, values in run.chunks(id_columns):
        kept = run.reason[start:stop] == 0
        dup_group = (
            run.dup_group[start:stop] if run.dup_group is not None else np.full(stop - start, -1, np.int64)
        )
        writer.write(start, kept, run.reason[start:stop], run.score[start:stop], dup_group)
        for column in VOCABULARY_COLUMNS:
            codes = values[f"{column}_id"][kept]
            kept_per_code[column] += np.bincount(
                codes + len(vocabularies[column]) * (codes < 0), minlength=len(vocabularies[column])
            )
    counts = {
        c: {value: int(n) for value, n in zip(vocabularies[c], kept_per_code[c], strict=True) if n}
        for c in VOCABULARY_COLUMNS
    }
    dropped = np.bincount(run.reason, minlength=len(reasons) + 1)[1:]
    remaining = store.n_rows - np.cumsum(dropped)
    funnel = [
        {"step": s.reason, "dropped": int(d), "remaining": int(left), "thresholds": _thresholds(s)}
        for s, d, left in zip(steps, dropped, remaining, strict=True)
    ]
    n_kept = int(remaining[-1])
    writer.finish({"spec": spec.table, "funnel": funnel, "counts": counts, "n_kept": n_kept})
    return SelectionResult(name, store.url, store.n_rows, n_kept, funnel, counts)


def _thresholds(step: Step) -> list[dict]:
    """The values the step cuts at, as data for the report: [{column, op, value}]."""
    return [{"column": c, "op": op, "value": value} for c, op, value in step.thresholds]
