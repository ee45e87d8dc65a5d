"""Exact rankings over rows streamed chunk by chunk: top-k, top-k per cell, best per group.

A row's rank key packs (score descending, row ascending) into one uint64, so a smaller key is a
better row and equal scores are broken by the lower row index. Keys are unique, so every ranking
below is exact and independent of how the rows were chunked. NaN scores get no key: callers drop
those rows before ranking.
"""

from __future__ import annotations

import numpy as np

MAX_ROWS = 2**32  # the row index takes the low 32 bits of a key
_ROW_BITS = np.uint64(32)
_NO_KEY = np.iinfo(np.uint64).max
_MIN_BUFFER = 1 << 20


def rank_keys(scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """uint64 keys, smaller = better: higher score first, then lower row. `scores` must not be NaN."""
    bits = (scores.astype(np.float32) + np.float32(0.0)).view(np.uint32)  # + 0.0 turns -0.0 into 0.0
    ascending = np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000))  # unsigned order = float order
    return ((~ascending).astype(np.uint64) << _ROW_BITS) | rows.astype(np.uint64)


def key_rows(keys: np.ndarray) -> np.ndarray:
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)


class RunningTopK:
    """The k smallest keys of everything added, keeping O(k + chunk) keys at any time."""

    def __init__(self, k: int):
        self.k = k
        self._parts: list[np.ndarray] = []
        self._size = 0
        self._bound = _NO_KEY  # once k keys are held, only smaller keys can enter

    def add(self, keys: np.ndarray) -> None:
        keys = keys[keys < self._bound] if self._bound != _NO_KEY else keys
        if self.k == 0 or not len(keys):
            return
        self._parts.append(keys)
        self._size += len(keys)
        if self._size > max(2 * self.k, _MIN_BUFFER):
            self._reduce()

    def result(self) -> np.ndarray:
        """The kept keys, best first."""
        self._reduce()
        return np.sort(self._parts[0]) if self._parts else np.empty(0, np.uint64)

    def _reduce(self) -> None:
        if not self._parts:
            return
        keys = np.concatenate(self._parts)
        if len(keys) >= self.k:
            keys = np.partition(keys, self.k - 1)[: self.k]
            self._bound = keys.max()
        self._parts, self._size = [keys], len(keys)


class RunningCellTopK:
    """Per cell c, the quota[c] smallest keys added with that cell; O(sum(quota) + chunk) keys held."""

    def __init__(self, quota: np.ndarray):
        self.quota = quota.astype(np.int64)
        self._cells: list[np.ndarray] = []
        self._keys: list[np.ndarray] = []
        self._size = 0
        self._bound = np.where(self.quota > 0, _NO_KEY, 0).astype(np.uint64)
        self._limit = max(2 * int(self.quota.sum()), _MIN_BUFFER)

    def add(self, cells: np.ndarray, keys: np.ndarray) -> None:
        entering = keys < self._bound[cells]
        self._cells.append(cells[entering])
        self._keys.append(keys[entering])
        self._size += int(entering.sum())
        if self._size > self._limit:
            self._reduce()

    def result(self) -> np.ndarray:
        """All kept keys, in no particular order."""
        self._reduce()
        return self._keys[0] if self._keys else np.empty(0, np.uint64)

    def _reduce(self) -> None:
        if not self._keys:
            return
        cells, keys = np.concatenate(self._cells), np.concatenate(self._keys)
        order = np.lexsort((keys, cells))
        cells, keys = cells[order], keys[order]
        first_of_cell = np.searchsorted(cells, cells, side="left")
        kept = np.arange(len(cells)) - first_of_cell < self.quota[cells]
        cells, keys = cells[kept], keys[kept]
        counts = np.bincount(cells, minlength=len(self.quota))
        full = np.flatnonzero((counts == self.quota) & (self.quota > 0))
        self._bound[full] = keys[np.searchsorted(cells, full, side="right") - 1]  # each full cell's worst key
        self._cells, self._keys, self._size = [cells], [keys], len(keys)


def best_per_group(groups: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(group, smallest key) once per distinct group, groups ascending."""
    if not len(groups):
        return groups, keys
    order = np.argsort(groups, kind="stable")  # stable: fast on the runs that chunked input makes
    groups = groups[order]
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    return groups[starts], np.minimum.reduceat(keys[order], starts)


class RunningBestPerGroup:
    """The smallest key of each group over everything added; holds one entry per group seen per chunk."""

    def __init__(self):
        self._groups: list[np.ndarray] = []
        self._keys: list[np.ndarray] = []

    def add(self, groups: np.ndarray, keys: np.ndarray) -> None:
        groups, keys = best_per_group(groups, keys)
        self._groups.append(groups)
        self._keys.append(keys)

    def result(self) -> np.ndarray:
        """The winning key of every group."""
        if not self._keys:
            return np.empty(0, np.uint64)
        return best_per_group(np.concatenate(self._groups), np.concatenate(self._keys))[1]
