"""`type = "dedup"`, `name = "exact"`: rows with the same content hash are one group, one kept
("dedup:exact"). Run it before "dedup:semantic": identical bytes are cheap to find and would otherwise fill
the semantic step's clusters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixsift.engine.select.steps.base import ColumnReader, StepResult, WholeSetStep
from pixsift.engine.select.steps.groups import exact_components, keep_one_per_group
from pixsift.engine.store.schema import WEIGHTED_SCORE


@dataclass(frozen=True)
class ExactDedup(WholeSetStep, type="dedup", name="exact"):
    """Rows with the same `content_hash` are one group; a hash of 0 (bytes never read) groups nothing."""

    name: str = "dedup:exact"
    keep_by: str = WEIGHTED_SCORE

    def __call__(self, rows: np.ndarray, read: ColumnReader) -> StepResult:
        hashes = np.asarray(read("content_hash", rows), dtype=np.int64)
        return keep_one_per_group(rows, exact_components(hashes), read, self.keep_by)
