"""`type = "best_of_n"`, `by = "group"`: the best weighted score per group (ties: lowest row); rows with
no group (-1) are their own group. `by` may name another int column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from pixsift.engine.select.ranking import RunningBestPerGroup, rank_keys
from pixsift.engine.select.steps.base import Run, check_keys
from pixsift.engine.select.steps.ranked import RankingStep, drop_alive, revive


@dataclass(frozen=True)
class BestOfN(RankingStep, type="best_of_n"):
    column_kind: ClassVar[str] = "integer"  # the groups: group_id, or another int column
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
            rows, scores = drop_alive(run, start, stop, code)
            ranked = ~np.isnan(scores)
            keys = rank_keys(scores[ranked], rows[ranked])
            grouped = groups[ranked] != -1
            alone.append(keys[~grouped])
            best.add(groups[ranked][grouped], keys[grouped])
        revive(run, best.result())
        for keys in alone:
            revive(run, keys)
