"""Keeping one row per duplicate group: groups by content hash, and the best member of each group by a
column (NaN ranks last, ties go to the lowest row), reported as the row index of the kept member."""

from __future__ import annotations

import numpy as np

from pixsift.engine.select.steps.base import ColumnReader, StepResult


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
