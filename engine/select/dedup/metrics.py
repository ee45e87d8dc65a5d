"""How well a grouping (dedup groups) matches known groups: precision and recall over pairs of rows."""

from __future__ import annotations

import numpy as np


def pair_precision_recall(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Of the row pairs `predicted` puts in one group, the share that `truth` does too (precision), and of
    the pairs `truth` groups, the share `predicted` finds (recall). Labels are any integers, one per row;
    counted from group sizes, so it runs in O(n log n) on millions of rows. 1.0 when there are no pairs."""
    if predicted.shape != truth.shape or predicted.ndim != 1:
        raise ValueError(
            f"labels must be 1-D and of one length, got shapes {predicted.shape} and {truth.shape}"
        )

    def pairs(*labels: np.ndarray) -> int:
        _, counts = np.unique(np.stack(labels), axis=1, return_counts=True)
        return int((counts * (counts - 1) // 2).sum())

    both, found, wanted = pairs(predicted, truth), pairs(predicted), pairs(truth)
    return (both / found if found else 1.0), (both / wanted if wanted else 1.0)
