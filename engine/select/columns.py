"""The columns a selection reads: the store's 1-D columns, a few derived from them, and the weighted score."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixsift.engine.select.group_norm import GROUP_COLUMN, NORMALIZATIONS, GroupStats
from pixsift.engine.select.steps.base import SpecError, check_keys, number
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import WEIGHTED_SCORE
from pixsift.engine.store.selection import CAPTION, with_captions


def _sides(values: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    width, height = (
        np.where(values[s] > 0, values[s], np.nan).astype(np.float64) for s in ("width", "height")
    )
    return np.minimum(width, height), np.maximum(width, height)  # NaN where either side is unknown


# name -> (store columns it needs, function of their values); NaN where the size is unknown
DERIVED: dict[str, tuple[tuple[str, ...], Callable]] = {
    "aspect": (("width", "height"), lambda v: np.divide(*reversed(_sides(v)))),
    "min_side": (("width", "height"), lambda v: _sides(v)[0]),
    "pixels": (("width", "height"), lambda v: np.multiply(*_sides(v))),
}


@dataclass(frozen=True)
class ScoreTerm:
    """weight * the column's value, normalised within its group first when `normalize` says so
    (engine.select.group_norm), then clipped to [min, max]."""

    column: str
    weight: float
    min: float | None = None
    max: float | None = None
    normalize: str | None = None

    @classmethod
    def from_value(cls, column: str, value: Any, where: str) -> ScoreTerm:
        table = value if isinstance(value, dict) else {"weight": value}
        check_keys(table, {"weight", "min", "max", "normalize"}, f"{where} {column}")
        if "weight" not in table:
            raise SpecError(f"{where} {column}: needs a 'weight'")
        normalize = table.get("normalize")
        if normalize is not None and normalize not in NORMALIZATIONS:
            raise SpecError(
                f"{where} {column}: normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}"
            )
        numbers = {k: float(number(table, k, f"{where} {column}")) for k in table if k != "normalize"}
        if numbers.get("min", -math.inf) > numbers.get("max", math.inf):
            raise SpecError(f"{where} {column}: min {numbers['min']} is above max {numbers['max']}")
        return cls(column, **numbers, normalize=normalize)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        values = values.astype(np.float32)
        if self.min is not None or self.max is not None:
            values = np.clip(values, self.min, self.max)  # NaN stays NaN
        return np.float32(self.weight) * values


def columns_of_kind(store: RunStore, kind: str) -> list[str]:
    """What a spec may name: `any` column (steps from other modules), `numeric` (filters, score terms)
    or `integer` (best-of-N groups)."""
    stored = {
        "any": [n for n in store.arrays],
        "numeric": [n for n, a in store.arrays.items() if a.ndim == 1 and a.dtype.kind in "iuf"],
        "integer": [n for n, a in store.arrays.items() if a.ndim == 1 and a.dtype.kind in "iu"],
    }[kind]
    return sorted(stored) + ([] if kind == "integer" else [*DERIVED, WEIGHTED_SCORE])


def weighted_score(
    terms: tuple[ScoreTerm, ...], values: dict[str, np.ndarray], groups: dict[str, GroupStats] | None = None
) -> np.ndarray:
    """The weighted score of a block of rows; `groups` holds the statistics of each normalised column."""

    def term_values(term: ScoreTerm) -> np.ndarray:
        if term.normalize is None:
            return values[term.column]
        return groups[term.column].normalize(term.normalize, values[GROUP_COLUMN], values[term.column])

    return sum((term(term_values(term)) for term in terms), np.float32(0.0)).astype(np.float32)


def read_columns(
    store: RunStore, names: tuple[str, ...], rows: slice, score: np.ndarray, caption_column: str = CAPTION
) -> dict[str, np.ndarray]:
    """`names` for `rows`: stored columns from the store, derived ones computed, the weighted score from
    `score`; the caption of text-to-image rows from `caption_column` (engine.store.selection)."""
    stored = {n for n in names if n in store.arrays} | {
        c for n in names if n in DERIVED for c in DERIVED[n][0]
    }
    replaced = CAPTION in names and caption_column != CAPTION
    stored |= {"task", caption_column} if replaced else set()
    values = {n: store.arrays[n][rows] for n in sorted(stored)}
    if replaced:
        values[CAPTION] = with_captions(values[CAPTION], values["task"], values[caption_column])
    for name in names:
        if name in DERIVED:
            values[name] = DERIVED[name][1](values)
        elif name == WEIGHTED_SCORE:
            values[name] = score[rows]
    return values
