"""What the ranking steps (best_of_n, top_k, quota) share: they keep the best rows by the weighted
score, never a row whose score is NaN, and count "alive" as the rows alive when the step starts. Each
marks every alive row dropped while it streams, then revives the winners."""

from __future__ import annotations

import numpy as np

from pixsift.engine.select.ranking import key_rows
from pixsift.engine.select.steps.base import Run, WholeSetStep


class RankingStep(WholeSetStep):
    """A step that keeps the best rows by weighted score: no thresholds to draw."""

    columns: tuple[str, ...] = ()


def drop_alive(run: Run, start: int, stop: int, code: int) -> tuple[np.ndarray, np.ndarray]:
    """Mark the alive rows of [start, stop) dropped by `code`; their row indices and scores."""
    reason = run.reason[start:stop]
    alive = np.flatnonzero(reason == 0)
    reason[alive] = code
    rows = alive + start
    return rows, run.score[rows]


def revive(run: Run, keys: np.ndarray) -> None:
    run.reason[key_rows(keys)] = 0


def row_ranges(run: Run):
    for start, stop, _ in run.chunks(()):
        yield start, stop
