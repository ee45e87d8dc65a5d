"""`type = "dedup"`, `name = "semantic"`: rows whose embeddings have cosine >= 1 - eps, transitively, are
one group, one kept ("dedup:semantic"; engine.select.dedup.semantic groups them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixsift.engine.select.dedup.settings import SemanticSettings
from pixsift.engine.select.steps.base import ColumnReader, StepResult, WholeSetStep
from pixsift.engine.select.steps.groups import keep_one_per_group
from pixsift.engine.store.schema import WEIGHTED_SCORE


@dataclass(frozen=True)
class SemanticDedup(WholeSetStep, type="dedup", name="semantic"):
    """Rows whose `column` embeddings have cosine >= 1 - eps, transitively, are one group."""

    name: str = "dedup:semantic"
    column: str = "image_embedding"
    settings: SemanticSettings = SemanticSettings()
    keep_by: str = WEIGHTED_SCORE

    @classmethod
    def from_params(cls, params: dict) -> SemanticDedup:
        """The grouping settings (eps, neighbours, ...) may be given flat, beside the step's own keys."""
        own = {"column", "keep_by"}
        settings = {k: v for k, v in params.items() if k not in own}
        return cls(**{k: v for k, v in params.items() if k in own}, settings=SemanticSettings(**settings))

    def __call__(self, rows: np.ndarray, read: ColumnReader) -> StepResult:
        from pixsift.engine.select.dedup.semantic import semantic_groups  # torch: only when it runs

        embeddings = lambda start, stop: read(self.column, rows[start:stop])
        groups = semantic_groups(embeddings, len(rows), self.settings)
        return keep_one_per_group(rows, groups.component, read, self.keep_by)
