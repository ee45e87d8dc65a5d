"""`type = "top_k"`, `k = 100000` or `fraction = 0.3`: the best of the rows alive, globally."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pixsift.engine.select.ranking import RunningTopK, rank_keys
from pixsift.engine.select.steps.base import Run, check_keys, exactly_one, floor_fraction, number
from pixsift.engine.select.steps.ranked import RankingStep, drop_alive, revive, row_ranges


@dataclass(frozen=True)
class TopK(RankingStep, type="top_k"):
    k: int | None = None
    fraction: float | None = None
    reason: str = "top_k"
    columns: tuple[str, ...] = ()

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[TopK]:
        check_keys(table, {"type", "k", "fraction"}, where)
        key = exactly_one(table, ("k", "fraction"), where)
        return (cls(**{key: number(table, key, where, "count" if key == "k" else "fraction")}),)

    def apply(self, run: Run, code: int) -> None:
        k = self.k
        if k is None:
            k = floor_fraction(self.fraction, int(np.count_nonzero(run.reason == 0)))
        top = RunningTopK(k)
        for start, stop in row_ranges(run):
            rows, scores = drop_alive(run, start, stop, code)
            ranked = ~np.isnan(scores)
            top.add(rank_keys(scores[ranked], rows[ranked]))
        revive(run, top.result())
