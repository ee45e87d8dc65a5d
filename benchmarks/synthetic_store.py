"""Synthetic run stores for the benchmarks that read stores at scale (select, search): written a shard at
a time, each unit marked done as the score stage marks it (select and search read only scored units), and
cached between runs (a store is complete once its `bench_complete` attribute says this layout's VERSION)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pixsift.engine.store.run_store import RunStore

STATUS = np.array(["ok", "failed"], dtype=object)
VERSION = 2  # 2: units marked done

# (rng, first row, rows) -> the columns of those rows
Fill = Callable[[np.random.Generator, int, int], dict[str, np.ndarray]]


def build(path: Path, rows: int, fill: Fill, attrs: dict | None = None, **layout) -> None:
    """The store at `path` with `rows` rows, each shard's columns from `fill` (skipped when complete);
    `layout` goes to RunStore.create (shard_rows, chunk_rows, image_dim, text_dim, config)."""
    if (
        path.exists()
        and RunStore.open(str(path), read_only=True).group.attrs.get("bench_complete") == VERSION
    ):
        return
    started = time.perf_counter()
    store = RunStore.create(str(path), **layout)
    for array in store.arrays.values():
        array.resize((rows, *array.shape[1:]))
    rng = np.random.default_rng(0)
    for start in range(0, rows, store.shard_rows):
        n = min(store.shard_rows, rows - start)
        columns = fill(rng, start, n)
        for name, values in columns.items():
            store.arrays[name][start : start + n] = values
        status = dict(zip(*np.unique(columns["status"].astype(str), return_counts=True), strict=True))
        marker = {"start": start, "stop": start + n, "status": {k: int(v) for k, v in status.items()}}
        store.write_marker(start // store.shard_rows, {**marker, "errors": {}})
        print(f"\rbuilding {path.name}: {start + n:,} of {rows:,} rows", end="", file=sys.stderr, flush=True)
    store.group.update_attributes(
        {"plan_complete": True, "n_rows": rows, **(attrs or {}), "bench_complete": True}
    )
    print(f"\nbuilt in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def statuses(rng: np.random.Generator, n: int, failed: float = 0.01) -> np.ndarray:
    """`n` statuses, about `failed` of them failed."""
    return STATUS[(rng.random(n) < failed).astype(np.int64)]
