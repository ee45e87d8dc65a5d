"""A bound on a column: each row is kept or dropped by its own value (a RowFilter).

type = "filter"     column = "clip_cosine"   min = 0.2   max = 0.9      (either bound or both; one
                    step per bound, reasons "filter:clip_cosine>=0.2" and "filter:clip_cosine<=0.9";
                    NaN fails every bound). Columns: any numeric store column, `weighted_score`, and
                    `aspect` (long side / short side), `min_side`, `pixels`.
                    task = "edit": the bound applies to the rows of that task only (the pair columns of
                    editing rows, engine.score.edit_pairs, are NaN for the others); reason
                    "filter:edit:edit_ssim<=0.95"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pixsift.engine.select.steps.base import RowFilter, SpecError, check_keys, number


@dataclass(frozen=True)
class Bound(RowFilter, type="filter"):
    column: str
    op: str  # ">=" or "<="
    value: float
    task: str = ""  # the task whose rows it bounds; "" for every row

    @property
    def reason(self) -> str:
        return f"filter:{f'{self.task}:' if self.task else ''}{self.column}{self.op}{self.value}"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column, "task") if self.task else (self.column,)

    def column_kinds(self) -> list[tuple[str, str]]:
        return [(self.column, "numeric"), *([("task", "any")] if self.task else [])]

    @property
    def thresholds(self) -> tuple[tuple[str, str, float], ...]:
        return ((self.column, self.op, self.value),)

    def drops(self, values):
        v = values[self.column]
        out = ~(v >= self.value) if self.op == ">=" else ~(v <= self.value)
        return out & (values["task"] == self.task) if self.task else out

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[Bound, ...]:
        check_keys(table, {"type", "column", "min", "max", "task"}, where)
        task = table.get("task", "")
        if not isinstance(task, str):
            raise SpecError(f"{where}: 'task' must be a task name (a string), got {task!r}")
        if not isinstance(table.get("column"), str):
            raise SpecError(f"{where}: a filter needs 'column' (a column name)")
        if "min" not in table and "max" not in table:
            raise SpecError(f"{where}: a filter needs 'min', 'max' or both")
        ops = {"min": ">=", "max": "<="}
        bounds = tuple(cls(table["column"], ops[k], number(table, k, where), task) for k in ops if k in table)
        if len(bounds) == 2 and bounds[0].value > bounds[1].value:
            raise SpecError(f"{where}: min {bounds[0].value} is above max {bounds[1].value}: no row can pass")
        return bounds
