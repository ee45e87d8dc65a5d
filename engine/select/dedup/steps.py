"""Dedup steps of `pixsift select` (engine.select.steps.base.WholeSetStep): exact duplicates by content hash,
then semantic ones.

Run "dedup:exact" before "dedup:semantic": identical bytes are cheap to find and would otherwise fill the
semantic step's clusters. Each keeps one row per duplicate group, the one with the highest `keep_by`
value (the select engine's weighted score by default; NaN ranks last, ties go to the lowest row), and
reports every member's group as the row index of the kept member.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pixsift.engine.select.dedup.semantic import SemanticSettings, semantic_groups
from pixsift.engine.select.steps.base import ColumnReader, StepResult, WholeSetStep
from pixsift.engine.store.schema import WEIGHTED_SCORE


@dataclass(frozen=True)
class ExactDedup(WholeSetStep):
    """Rows with the same `content_hash` are one group; a hash of 0 (bytes never read) groups nothing."""

    name: str = "dedup:exact"
    keep_by: str = WEIGHTED_SCORE

    def __call__(self, rows: np.ndarray, read: ColumnReader) -> StepResult:
        hashes = np.asarray(read("content_hash", rows), dtype=np.int64)
        return keep_one_per_group(rows, exact_components(hashes), read, self.keep_by)


@dataclass(frozen=True)
class SemanticDedup(WholeSetStep):
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
        embeddings = lambda start, stop: read(self.column, rows[start:stop])
        groups = semantic_groups(embeddings, len(rows), self.settings)
        return keep_one_per_group(rows, groups.component, read, self.keep_by)


def exact_components(hashes: np.ndarray) -> np.ndarray:
    """The first position holding each position's hash; a zero hash is a group of its own."""
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    component = first[inverse]
    unread = hashes == 0
    component[unread] = np.flatnonzero(unread)
    return component


def keep_one_per_group(
    rows: np.ndarray, component: np.ndarray, read: ColumnReader, keep_by: str
) -> StepResult:
    scores = np.asarray(read(keep_by, rows), dtype=np.float64)
    if scores.shape != rows.shape:
        raise ValueError(f"dedup: column {keep_by!r} gave {scores.shape[0]} values for {len(rows)} rows")
    keep, kept_position = keep_best(component, scores)
    return StepResult(keep, np.where(kept_position >= 0, rows[kept_position], -1))


def keep_best(component: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the highest-scoring position of each component (NaN lowest; ties: the lowest position).

    Returns the bool keep mask and, per position, the position kept in its component (int64; -1 for a
    component of one).
    """
    n = len(component)
    ranked = np.where(np.isnan(scores), -np.inf, scores)
    order = np.lexsort((np.arange(n), -ranked, component))
    by_component = component[order]
    starts = np.flatnonzero(np.r_[True, by_component[1:] != by_component[:-1]]) if n else np.empty(0, int)
    sizes = np.diff(np.r_[starts, n])
    keep = np.zeros(n, dtype=bool)
    keep[order[starts]] = True
    kept_position = np.empty(n, dtype=np.int64)
    kept_position[order] = np.where(np.repeat(sizes, sizes) > 1, np.repeat(order[starts], sizes), -1)
    return keep, kept_position
