"""The steps of a selection. Each drops some of the rows still alive and names itself as their reason.

Step tables (TOML, in a spec's [[steps]]):

    type = "filter"     column = "clip_cosine"   min = 0.2   max = 0.9      (either bound or both; one
                        step per bound, reasons "filter:clip_cosine>=0.2" and "filter:clip_cosine<=0.9";
                        NaN fails every bound). Columns: any numeric store column, `weighted_score`, and
                        `aspect` (long side / short side), `min_side`, `pixels`.
    type = "best_of_n"  by = "group"             the best weighted score per group (ties: lowest row);
                        rows with no group (-1) are their own group. `by` may name another int column.
    type = "top_k"      k = 100000  or  fraction = 0.3     the best of the rows alive, globally
    type = "quota"      by = "category" or ["category", "style"] (cells of both), and one of
                        k = 500                  the best k of each cell
                        fraction = 0.05          the best floor(fraction * alive) of each cell
                        total = 6000  or  total_fraction = 0.05   split as evenly as the cells allow
                        per_value = { animals = 900 }   overrides k or fraction for named values
    type = "prompt" | "dedup"   name = "length" | "exact" | ... (EXTERNAL_STEPS) and that step's own keys
                        (engine.prompt_filters, engine.dedup); reason: the step's own name, "dedup:exact"

The ranking steps (best_of_n, top_k, quota) never keep a row whose weighted score is NaN and count
"alive" as the rows alive when the step starts.
"""

from __future__ import annotations

import importlib
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from engine.select.ranking import RunningBestPerGroup, RunningCellTopK, RunningTopK, key_rows, rank_keys


class SpecError(ValueError):
    """A selection spec that cannot run; the message names the spec, the step and the key."""


class Run(Protocol):
    """What a step sees of the selection in progress (engine.select.SelectionRun)."""

    reason: np.ndarray  # uint8 per row: 0 alive, else the code of the step that dropped it
    score: np.ndarray  # float32 weighted score per row

    def chunks(self, columns: tuple[str, ...]): ...  # (start, stop, {column: values}) per block of shards

    def alive_rows(self) -> np.ndarray: ...

    def read_rows(self, rows: np.ndarray, columns: tuple[str, ...]) -> dict[str, np.ndarray]: ...

    def vocabulary(self, column: str) -> list[str]: ...

    def set_dup_groups(self, rows: np.ndarray, groups: np.ndarray) -> None: ...


class Step(Protocol):
    reason: str
    columns: tuple[str, ...]  # what it reads: store columns, derived columns or weighted_score

    def apply(self, run: Run, code: int) -> None: ...


def check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    if unknown := table.keys() - allowed:
        raise SpecError(
            f"{where}: unknown keys {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def _number(table: dict[str, Any], key: str, where: str, kind: str = "number"):
    """table[key], checked to be a `kind`: number, count (an integer >= 0) or fraction (in [0, 1])."""
    value = table[key]
    ok = isinstance(value, int) if kind == "count" else isinstance(value, int | float)
    in_range = {"number": True, "count": ok and value >= 0, "fraction": ok and 0 <= value <= 1}[kind]
    if isinstance(value, bool) or not ok or not in_range:
        raise SpecError(f"{where}: '{key}' must be a {kind}, got {value!r}")
    return value


def _exactly_one(table: dict[str, Any], keys: tuple[str, ...], where: str) -> str:
    given = [k for k in keys if k in table]
    if len(given) != 1:
        raise SpecError(f"{where}: give exactly one of {', '.join(keys)}")
    return given[0]


def floor_fraction(fraction: float, n: int) -> int:
    """floor(fraction * n) with the fraction read as written (0.29 * 100 is 29, not 28)."""
    return math.floor(Fraction(str(fraction)) * n)


@dataclass(frozen=True)
class ScoreTerm:
    column: str
    weight: float
    min: float | None = None
    max: float | None = None

    @classmethod
    def from_value(cls, column: str, value: Any, where: str) -> ScoreTerm:
        table = value if isinstance(value, dict) else {"weight": value}
        check_keys(table, {"weight", "min", "max"}, f"{where} {column}")
        if "weight" not in table:
            raise SpecError(f"{where} {column}: needs a 'weight'")
        numbers = {k: float(_number(table, k, f"{where} {column}")) for k in table}
        return cls(column, **numbers)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        values = values.astype(np.float32)
        if self.min is not None or self.max is not None:
            values = np.clip(values, self.min, self.max)  # NaN stays NaN
        return np.float32(self.weight) * values


# -- row filters: each row decided by its own values; consecutive ones run in one pass -------------


class RowFilter:
    reason: str
    columns: tuple[str, ...]

    def drops(self, values: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def apply(self, run: Run, code: int) -> None:
        apply_row_filters(run, [(self, code)])


def apply_row_filters(run: Run, filters: list[tuple[RowFilter, int]]) -> None:
    """One pass over the shards for consecutive row filters, each seeing the rows the previous left."""
    columns = tuple(dict.fromkeys(c for f, _ in filters for c in f.columns))
    for start, stop, values in run.chunks(columns):
        reason = run.reason[start:stop]
        for row_filter, code in filters:
            reason[(reason == 0) & row_filter.drops(values)] = code


@dataclass(frozen=True)
class StatusOk(RowFilter):
    """Always the first step: rows that failed or were not scored."""

    reason: str = "status"
    columns: tuple[str, ...] = ("status",)

    def drops(self, values):
        return values["status"] != "ok"


@dataclass(frozen=True)
class Bound(RowFilter):
    column: str
    op: str  # ">=" or "<="
    value: float

    @property
    def reason(self) -> str:
        return f"filter:{self.column}{self.op}{self.value}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def drops(self, values):
        v = values[self.column]
        return ~(v >= self.value) if self.op == ">=" else ~(v <= self.value)

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[Bound, ...]:
        check_keys(table, {"type", "column", "min", "max"}, where)
        if not isinstance(table.get("column"), str):
            raise SpecError(f"{where}: a filter needs 'column' (a column name)")
        if "min" not in table and "max" not in table:
            raise SpecError(f"{where}: a filter needs 'min', 'max' or both")
        ops = {"min": ">=", "max": "<="}
        return tuple(cls(table["column"], ops[k], _number(table, k, where)) for k in ops if k in table)


# -- ranking steps: mark every alive row dropped while streaming, then revive the winners ----------


def _drop_alive(run: Run, start: int, stop: int, code: int) -> tuple[np.ndarray, np.ndarray]:
    """Mark the alive rows of [start, stop) dropped by `code`; their row indices and scores."""
    reason = run.reason[start:stop]
    alive = np.flatnonzero(reason == 0)
    reason[alive] = code
    rows = alive + start
    return rows, run.score[rows]


def _revive(run: Run, keys: np.ndarray) -> None:
    run.reason[key_rows(keys)] = 0


@dataclass(frozen=True)
class BestOfN:
    by: str = "group"

    @property
    def reason(self) -> str:
        return "best_of_n" if self.by == "group" else f"best_of_n:{self.by}"

    @property
    def columns(self) -> tuple[str, ...]:
        return ("group_id" if self.by == "group" else self.by,)

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[BestOfN]:
        check_keys(table, {"type", "by"}, where)
        return (cls(str(table.get("by", "group"))),)

    def apply(self, run: Run, code: int) -> None:
        (column,) = self.columns
        best, alone = RunningBestPerGroup(), []
        for start, stop, values in run.chunks(self.columns):
            groups = values[column][run.reason[start:stop] == 0]
            rows, scores = _drop_alive(run, start, stop, code)
            ranked = ~np.isnan(scores)
            keys = rank_keys(scores[ranked], rows[ranked])
            grouped = groups[ranked] != -1
            alone.append(keys[~grouped])
            best.add(groups[ranked][grouped], keys[grouped])
        _revive(run, best.result())
        for keys in alone:
            _revive(run, keys)


@dataclass(frozen=True)
class TopK:
    k: int | None = None
    fraction: float | None = None
    reason: str = "top_k"
    columns: tuple[str, ...] = ()

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[TopK]:
        check_keys(table, {"type", "k", "fraction"}, where)
        key = _exactly_one(table, ("k", "fraction"), where)
        return (cls(**{key: _number(table, key, where, "count" if key == "k" else "fraction")}),)

    def apply(self, run: Run, code: int) -> None:
        k = self.k
        if k is None:
            k = floor_fraction(self.fraction, int(np.count_nonzero(run.reason == 0)))
        top = RunningTopK(k)
        for start, stop in _row_ranges(run):
            rows, scores = _drop_alive(run, start, stop, code)
            ranked = ~np.isnan(scores)
            top.add(rank_keys(scores[ranked], rows[ranked]))
        _revive(run, top.result())


def _row_ranges(run: Run):
    for start, stop, _ in run.chunks(()):
        yield start, stop


@dataclass(frozen=True)
class Quota:
    by: tuple[str, ...]
    mode: str  # k | fraction | total | total_fraction
    value: float
    per_value: tuple[tuple[str, float], ...] = ()

    MODES = ("k", "fraction", "total", "total_fraction")
    VOCABULARY_COLUMNS = ("category", "style")

    @property
    def reason(self) -> str:
        return "quota:" + "+".join(self.by)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(f"{c}_id" for c in self.by)

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[Quota]:
        check_keys(table, {"type", "by", *cls.MODES, "per_value"}, where)
        by = (table.get("by"),) if isinstance(table.get("by"), str) else tuple(table.get("by") or ())
        if not by or len(set(by)) != len(by) or not set(by) <= set(cls.VOCABULARY_COLUMNS):
            raise SpecError(
                f"{where}: 'by' must be category, style or [category, style], got {table.get('by')!r}"
            )
        mode = _exactly_one(table, cls.MODES, where)
        kind = "count" if mode in ("k", "total") else "fraction"
        value = _number(table, mode, where, kind)
        per_value = table.get("per_value", {})
        if per_value and (len(by) != 1 or mode not in ("k", "fraction") or not isinstance(per_value, dict)):
            raise SpecError(
                f"{where}: 'per_value' is a table of values of one 'by' column, with k or fraction"
            )
        overrides = tuple((str(v), _number(per_value, v, f"{where} per_value", kind)) for v in per_value)
        return (cls(by, mode, value, overrides),)

    def apply(self, run: Run, code: int) -> None:
        labels = [[""] + run.vocabulary(c) for c in self.by]  # cell index = id + 1; "" has id -1
        sizes = [len(v) for v in labels]
        counts = np.zeros(math.prod(sizes), np.int64)
        for start, stop, values in run.chunks(self.columns):
            counts += np.bincount(
                self._cells(values, sizes, run.reason[start:stop] == 0), minlength=len(counts)
            )
        top = RunningCellTopK(self._quotas(counts, labels[0]))
        for start, stop, values in run.chunks(self.columns):
            cells = self._cells(values, sizes, run.reason[start:stop] == 0)
            rows, scores = _drop_alive(run, start, stop, code)
            ranked = ~np.isnan(scores)
            top.add(cells[ranked], rank_keys(scores[ranked], rows[ranked]))
        _revive(run, top.result())

    def _cells(self, values: dict[str, np.ndarray], sizes: list[int], alive: np.ndarray) -> np.ndarray:
        cells = np.zeros(int(alive.sum()), np.int64)
        for column, size in zip(self.columns, sizes, strict=True):
            cells = cells * size + values[column][alive] + 1
        return cells

    def _quotas(self, counts: np.ndarray, first_labels: list[str]) -> np.ndarray:
        if self.mode in ("total", "total_fraction"):
            total = self.value if self.mode == "total" else floor_fraction(self.value, int(counts.sum()))
            return balanced_quotas(counts, int(total))
        per_cell = np.full(len(counts), self.value, dtype=object)
        for value, quota in self.per_value:
            if value not in first_labels:
                raise SpecError(f"quota per_value: {self.by[0]} {value!r} is not in the store")
            per_cell[first_labels.index(value)] = quota
        if self.mode == "k":
            return per_cell.astype(np.int64)
        return np.array([floor_fraction(f, int(n)) for f, n in zip(per_cell, counts, strict=True)], np.int64)


def balanced_quotas(counts: np.ndarray, total: int) -> np.ndarray:
    """Quotas summing to min(total, counts.sum()) that are as even as the counts allow (water-filling):
    every cell gets min(count, level), and the cells above the level share the remainder one row each,
    in cell order."""
    counts = counts.astype(np.int64)
    total = min(total, int(counts.sum()))
    low, high = 0, int(counts.max(initial=0))
    while low < high:  # the highest level whose quotas fit in the total
        mid = (low + high + 1) // 2
        low, high = (mid, high) if np.minimum(counts, mid).sum() <= total else (low, mid - 1)
    quotas = np.minimum(counts, low)
    above = np.flatnonzero(counts > low)
    quotas[above[: total - int(quotas.sum())]] += 1
    return quotas


# -- prompt filters and dedup (engine.prompt_filters, engine.dedup; their contract is engine.steps) ------

EXTERNAL_STEPS = {
    "prompt": {
        "length": "engine.select.prompt_filters:LengthFilter",
        "charset": "engine.select.prompt_filters:CharsetFilter",
        "language": "engine.select.prompt_filters:LanguageFilter",
        "blocklist": "engine.select.prompt_filters:BlocklistFilter",
        "near_duplicate": "engine.select.prompt_filters:near_duplicate_captions",
    },
    "dedup": {
        "exact": "engine.select.dedup.steps:ExactDedup",
        "semantic": "engine.select.dedup.steps:SemanticDedup",
    },
}


@dataclass(frozen=True)
class ExternalStep:
    """A prompt filter or dedup step (engine.steps.Step), called once with all alive rows.

    Table: `name` picks the step (EXTERNAL_STEPS); the other keys are its constructor's, except that
    semantic settings (eps, neighbours, ...) may be given flat, and a blocklist may be `file = PATH`."""

    step: Any  # engine.steps.Step
    reason: str
    columns: tuple[str, ...] = ()  # read on demand through the reader the step is given

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[ExternalStep]:
        names = EXTERNAL_STEPS[table["type"]]
        if table.get("name") not in names:
            raise SpecError(f"{where}: 'name' must be one of {', '.join(names)}, got {table.get('name')!r}")
        module, _, attribute = names[table["name"]].partition(":")
        params = {k: v for k, v in table.items() if k not in ("type", "name")}
        try:
            step = _construct(getattr(importlib.import_module(module), attribute), params)
        except (TypeError, ValueError) as e:
            raise SpecError(f"{where}: {e}") from e
        return (cls(step, step.name),)

    def apply(self, run: Run, code: int) -> None:
        rows = run.alive_rows()
        result = self.step(rows, lambda column, at: run.read_rows(at, (column,))[column])
        keep = np.asarray(result.keep, dtype=bool)
        if keep.shape != rows.shape:
            raise ValueError(f"step {self.reason}: keep mask has shape {keep.shape}, expected {rows.shape}")
        run.reason[rows[~keep]] = code
        if result.dup_group is not None:
            run.set_dup_groups(rows, np.asarray(result.dup_group, dtype=np.int64))


def _construct(factory: Callable, params: dict[str, Any]):
    from engine.select.dedup.semantic import SemanticSettings

    if "file" in params and hasattr(factory, "from_file"):
        return factory.from_file(params.pop("file"), **params)
    accepted = inspect.signature(factory).parameters
    settings = {k: params.pop(k) for k in list(params) if k not in accepted}
    if settings and "settings" in accepted:
        params["settings"] = SemanticSettings(**settings)
    elif settings:
        raise TypeError(f"unknown keys {', '.join(sorted(settings))}; allowed: {', '.join(accepted)}")
    return factory(**params)


STEP_TYPES: dict[str, Any] = {
    "filter": Bound,
    "best_of_n": BestOfN,
    "top_k": TopK,
    "quota": Quota,
    "prompt": ExternalStep,
    "dedup": ExternalStep,
}
