"""The one base of a selection step, its two kinds, the registry of step types, and what a step sees of the
selection in progress.

    Step            reason, columns, column_kind, thresholds, apply(run, code), from_table(table, where)
      RowFilter     drops(values) per row, streamed; consecutive row filters run in one pass
      WholeSetStep  decides over all alive rows at once: __call__(rows, read) -> StepResult (prompt
                    filters, dedup), or its own apply (the ranking steps)

A step type registers itself where it is defined: `class TopK(WholeSetStep, type="top_k")`, or for the
kinds chosen by `name` (prompt, dedup) `class LengthFilter(CaptionFilter, type="prompt", name="length")`.
Every module of engine.select.steps is imported by the package, so adding a step is adding a module.

A step has a `reason` (what reports call the rows it drops: "status", "filter:clip_cosine>=0.2",
"top_k", "prompt:length", "dedup:semantic", ...), the `columns` it reads as it streams and their kind,
its `thresholds` as data ((column, operator, value), for the report's histograms), and
`apply(run, code)`, which marks the alive rows it drops with its reason code. Steps are built from
their spec table by `from_table`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import Any, ClassVar, Protocol

import numpy as np

from pixsift.engine.core.errors import UserError

ColumnReader = Callable[[str, np.ndarray], np.ndarray]  # read(column, rows) -> values at those rows


class SpecError(UserError, ValueError):
    """A selection spec that cannot run; the message names the spec, the step and the key."""

    def __init__(self, message: str):
        super().__init__("", message)


class Run(Protocol):
    """What a step sees of the selection in progress (engine.select.job.SelectionRun)."""

    reason: np.ndarray  # uint8 per row: 0 alive, else the code of the step that dropped it
    score: np.ndarray  # float32 weighted score per row

    def chunks(self, columns: tuple[str, ...]): ...  # (start, stop, {column: values}) per block of shards

    def alive_rows(self) -> np.ndarray: ...

    def read_rows(self, rows: np.ndarray, columns: tuple[str, ...]) -> dict[str, np.ndarray]: ...

    def vocabulary(self, column: str) -> list[str]: ...

    def set_dup_groups(self, rows: np.ndarray, groups: np.ndarray) -> None: ...


@dataclass(frozen=True)
class StepResult:
    keep: np.ndarray  # bool, one per row
    dup_group: np.ndarray | None = None  # int64, one per row; -1 = in no group


# The registered step types: `type` -> class, and for the kinds chosen by `name`, `type` -> name -> class.
TYPES: dict[str, type[Step]] = {}
NAMED: dict[str, dict[str, type[Step]]] = {}


class Step:
    """A step of a selection spec (see the module docstring)."""

    reason: str  # what reports call the rows it drops
    columns: ClassVar[tuple[str, ...]] = ()  # what it streams: store columns, derived ones, weighted_score
    column_kind: ClassVar[str] = "any"  # what its columns must be: "numeric", "integer" or "any"
    thresholds: ClassVar[tuple] = ()  # (column, ">=" or "<=", value) it cuts at, for the report
    fuses: ClassVar[bool] = False  # consecutive steps that fuse run as one pass (apply_pass)

    def __init_subclass__(cls, type: str | None = None, name: str | None = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if type is not None and name is None:
            TYPES[type] = cls
        elif type is not None:
            NAMED.setdefault(type, {})[name] = cls

    def column_kinds(self) -> list[tuple[str, str]]:
        """(column, the kind it must be) for each column it reads."""
        return [(column, self.column_kind) for column in self.columns]

    def apply(self, run: Run, code: int) -> None:
        """Mark the alive rows it drops with `code`."""
        raise NotImplementedError

    def apply_pass(self, run: Run, steps: list[tuple[Step, int]]) -> None:
        """Apply `steps` (this one first, the others fused with it) with their codes."""
        for step, code in steps:
            step.apply(run, code)

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[Step, ...]:
        """The step (or steps) of one [[steps]] table."""
        raise NotImplementedError


class RowFilter(Step):
    """A step that drops each row by its own values, streamed a block of shards at a time."""

    column_kind: ClassVar[str] = "numeric"
    fuses: ClassVar[bool] = True

    def drops(self, values: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def apply(self, run: Run, code: int) -> None:
        self.apply_pass(run, [(self, code)])

    def apply_pass(self, run: Run, steps: list[tuple[Step, int]]) -> None:
        """One pass over the shards for consecutive row filters, each seeing the rows the previous left."""
        columns = tuple(dict.fromkeys(c for f, _ in steps for c in f.columns))
        for start, stop, values in run.chunks(columns):
            reason = run.reason[start:stop]
            for row_filter, code in steps:
                reason[(reason == 0) & row_filter.drops(values)] = code


class WholeSetStep(Step):
    """A step called once with all alive rows, `step(rows, read) -> StepResult`:

        rows   sorted int64 row indices of the alive candidates
        read   read(column, rows) -> numpy array of that column at those rows (rows sorted, any subset of
               the alive rows); besides the store's columns it serves the weighted score

    The result keeps rows by a bool mask and, for steps that group duplicates, gives each row's group (the
    row index of the group's kept member; -1 for rows in no group). `name` is the step's reason."""

    name: str

    @property
    def reason(self) -> str:
        return self.name

    def __call__(self, rows: np.ndarray, read: ColumnReader) -> StepResult:
        raise NotImplementedError

    def apply(self, run: Run, code: int) -> None:
        rows = run.alive_rows()
        result = self(rows, lambda column, at: run.read_rows(at, (column,))[column])
        keep = np.asarray(result.keep, dtype=bool)
        if keep.shape != rows.shape:
            raise ValueError(f"step {self.reason}: keep mask has shape {keep.shape}, expected {rows.shape}")
        run.reason[rows[~keep]] = code
        if result.dup_group is not None:
            run.set_dup_groups(rows, np.asarray(result.dup_group, dtype=np.int64))

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[WholeSetStep]:
        """The step from its spec table: the keys besides `type` and `name` are its fields."""
        params = {k: v for k, v in table.items() if k not in ("type", "name")}
        try:
            return (cls.from_params(params),)
        except (TypeError, ValueError) as e:
            raise SpecError(f"{where}: {e}") from e

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> WholeSetStep:
        accepted = {f.name for f in fields(cls)} - {"name"}
        if unknown := sorted(params.keys() - accepted):
            raise TypeError(f"unknown keys {', '.join(unknown)}; allowed: {', '.join(sorted(accepted))}")
        return cls(**params)


def check_keys(table: dict[str, Any], allowed: set[str], where: str) -> None:
    if unknown := table.keys() - allowed:
        raise SpecError(
            f"{where}: unknown keys {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
        )


def number(table: dict[str, Any], key: str, where: str, kind: str = "number"):
    """table[key], checked to be a `kind`: a finite number, a count (an integer >= 0) or a fraction (in
    [0, 1]); NaN is none of them."""
    value = table[key]
    if kind == "count":
        ok = isinstance(value, int)
    else:
        ok = isinstance(value, int | float) and math.isfinite(value)
    in_range = {"number": True, "count": ok and value >= 0, "fraction": ok and 0 <= value <= 1}[kind]
    if isinstance(value, bool) or not ok or not in_range:
        raise SpecError(f"{where}: '{key}' must be a {kind}, got {value!r}")
    return value


def exactly_one(table: dict[str, Any], keys: tuple[str, ...], where: str) -> str:
    given = [k for k in keys if k in table]
    if len(given) != 1:
        raise SpecError(f"{where}: give exactly one of {', '.join(keys)}")
    return given[0]


def floor_fraction(fraction: float, n: int) -> int:
    """floor(fraction * n) with the fraction read as written (0.29 * 100 is 29, not 28)."""
    return math.floor(Fraction(str(fraction)) * n)
