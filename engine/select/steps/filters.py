"""Row filters: each row is kept or dropped by its own values. Consecutive row filters run in one pass over
the shards (engine.select.job groups them).

    type = "filter"     column = "clip_cosine"   min = 0.2   max = 0.9      (either bound or both; one
                        step per bound, reasons "filter:clip_cosine>=0.2" and "filter:clip_cosine<=0.9";
                        NaN fails every bound). Columns: any numeric store column, `weighted_score`, and
                        `aspect` (long side / short side), `min_side`, `pixels`.

Status ok is always the first step: rows that failed or were not scored are dropped as "status".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pixsift.engine.select.steps.base import Run, SpecError, check_keys, number


class RowFilter:
    reason: str
    columns: tuple[str, ...]
    column_kind: ClassVar[str] = "numeric"
    thresholds: ClassVar[tuple] = ()

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
    column_kind: ClassVar[str] = "any"

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

    @property
    def thresholds(self) -> tuple[tuple[str, str, float], ...]:
        return ((self.column, self.op, self.value),)

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
        bounds = tuple(cls(table["column"], ops[k], number(table, k, where)) for k in ops if k in table)
        if len(bounds) == 2 and bounds[0].value > bounds[1].value:
            raise SpecError(f"{where}: min {bounds[0].value} is above max {bounds[1].value}: no row can pass")
        return bounds
