"""`type = "quota"`, `by = "category"` or `["category", "style"]` (cells of both), or a generated sample's
provenance (`image_generator`, `prompt_generator`, `enhancer`, read from `meta`: engine.store.meta_fields),
alone or with the others, and one of

k = 500                  the best k of each cell
fraction = 0.05          the best floor(fraction * alive) of each cell
total = 6000  or  total_fraction = 0.05   split as evenly as the cells allow
per_value = { animals = 900 }   overrides k or fraction for named values"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixsift.engine.select.ranking import RunningCellTopK, rank_keys
from pixsift.engine.select.steps.base import Run, SpecError, check_keys, exactly_one, floor_fraction, number
from pixsift.engine.select.steps.ranked import RankingStep, drop_alive, revive
from pixsift.engine.store.meta_fields import PROVENANCE_FIELDS, MetaField
from pixsift.engine.store.schema import VOCABULARY_COLUMNS

BY = (*VOCABULARY_COLUMNS, *PROVENANCE_FIELDS)


@dataclass(frozen=True)
class Quota(RankingStep, type="quota"):
    by: tuple[str, ...]
    mode: str  # k | fraction | total | total_fraction
    value: float
    per_value: tuple[tuple[str, float], ...] = ()

    MODES = ("k", "fraction", "total", "total_fraction")

    @property
    def reason(self) -> str:
        return "quota:" + "+".join(self.by)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f"{c}_id" if c in VOCABULARY_COLUMNS else "meta" for c in self.by))

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> tuple[Quota]:
        check_keys(table, {"type", "by", *cls.MODES, "per_value"}, where)
        by = (table.get("by"),) if isinstance(table.get("by"), str) else tuple(table.get("by") or ())
        if not by or len(set(by)) != len(by) or not set(by) <= set(BY):
            raise SpecError(f"{where}: 'by' must be one or more of {', '.join(BY)}, got {table.get('by')!r}")
        mode = exactly_one(table, cls.MODES, where)
        kind = "count" if mode in ("k", "total") else "fraction"
        value = number(table, mode, where, kind)
        per_value = table.get("per_value", {})
        if per_value and (len(by) != 1 or mode not in ("k", "fraction") or not isinstance(per_value, dict)):
            raise SpecError(
                f"{where}: 'per_value' is a table of values of one 'by' column, with k or fraction"
            )
        overrides = tuple((str(v), number(per_value, v, f"{where} per_value", kind)) for v in per_value)
        return (cls(by, mode, value, overrides),)

    def apply(self, run: Run, code: int) -> None:
        fields = {c: MetaField(c) for c in self.by if c in PROVENANCE_FIELDS}
        if fields:  # their values, in the order first met: the codes every later pass gives
            for _, _, values in run.chunks(("meta",)):
                for field in fields.values():
                    field.codes(values["meta"])
        vocabularies = [fields[c].values if c in fields else run.vocabulary(c) for c in self.by]
        labels = [["", *v] for v in vocabularies]  # cell index = id + 1; "" has id -1
        sizes = [len(v) for v in labels]
        counts = np.zeros(math.prod(sizes), np.int64)
        for start, stop, values in run.chunks(self.columns):
            counts += np.bincount(
                self._cells(values, fields, sizes, run.reason[start:stop] == 0), minlength=len(counts)
            )
        top = RunningCellTopK(self._quotas(counts, labels[0]))
        for start, stop, values in run.chunks(self.columns):
            cells = self._cells(values, fields, sizes, run.reason[start:stop] == 0)
            rows, scores = drop_alive(run, start, stop, code)
            ranked = ~np.isnan(scores)
            top.add(cells[ranked], rank_keys(scores[ranked], rows[ranked]))
        revive(run, top.result())

    def _cells(self, values, fields: dict[str, MetaField], sizes: list[int], alive: np.ndarray) -> np.ndarray:
        cells = np.zeros(int(alive.sum()), np.int64)
        for column, size in zip(self.by, sizes, strict=True):
            codes = (
                fields[column].codes(values["meta"][alive])
                if column in fields
                else values[f"{column}_id"][alive]
            )
            cells = cells * size + codes + 1
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
