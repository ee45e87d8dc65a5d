"""Cutting a stream of items into batches, optionally timing how long each took to read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

from pixsift.engine.core.progress import StageTimes

T = TypeVar("T")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last may be shorter), read lazily."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def timed_batches(items: Iterable[T], size: int) -> Iterator[tuple[int, list[T], StageTimes]]:
    """Consecutive batches of `size` items: (index of the batch's first item, the batch, the stage times
    its reading went into as "read", for the caller to add its own stages to)."""
    iterator = iter(items)
    first = 0
    while True:
        times = StageTimes()
        with times.stage("read"):
            batch = list(islice(iterator, size))
        if not batch:
            return
        yield first, batch, times
        first += len(batch)
