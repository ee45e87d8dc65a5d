"""The contract between `pixsift select` and the steps it runs over the candidates still alive.

A step has a `name`, the drop reason shown in reports ("dedup:semantic", "prompt:length", ...), and is
called as `step(rows, read)`:

    rows   sorted int64 row indices of the alive candidates
    read   read(column, rows) -> numpy array of that column at those rows (rows sorted, any subset of the
           alive rows); besides the store's columns it serves "weighted_score", the select engine's
           weighted score, which dedup steps keep the best of

and returns a StepResult over those rows: a bool keep mask and, for steps that group duplicates, the
group of each row (the row index of the group's kept member, so the kept member is in its own group; -1
for rows in no group).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

ColumnReader = Callable[[str, np.ndarray], np.ndarray]
WEIGHTED_SCORE = "weighted_score"


@dataclass(frozen=True)
class StepResult:
    keep: np.ndarray  # bool, one per row
    dup_group: np.ndarray | None = None  # int64, one per row; -1 = in no group


class Step(Protocol):
    name: str

    def __call__(self, rows: np.ndarray, read: ColumnReader) -> StepResult: ...
