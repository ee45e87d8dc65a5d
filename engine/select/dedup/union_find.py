"""Connected components of an undirected graph given as edge arrays, by vectorized union-find."""

from __future__ import annotations

import numpy as np


def connected_components(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The component of each of the `n` nodes: int64 (n,), the smallest node index in its component.

    Union by hooking each edge's larger root under its smaller one, then full path compression, until
    no edge joins two roots; the invariant parent[x] <= x rules out cycles. Rounds grow as the log of
    the longest chain, and each round is a few numpy passes over the edges.
    """
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    if u.shape != v.shape or u.ndim != 1:
        raise ValueError(f"edge arrays must be 1-D and of one length, got shapes {u.shape} and {v.shape}")
    if len(u) and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= n):
        raise ValueError(f"edges name nodes outside [0, {n})")
    parent = np.arange(n, dtype=np.int64)
    while True:
        root_u, root_v = parent[u], parent[v]
        joins = root_u != root_v
        if not joins.any():
            return parent
        low = np.minimum(root_u[joins], root_v[joins])
        high = np.maximum(root_u[joins], root_v[joins])
        np.minimum.at(parent, high, low)
        while True:
            grandparent = parent[parent]
            if np.array_equal(grandparent, parent):
                break
            parent = grandparent
