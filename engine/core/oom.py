"""Running a batch that may not fit in GPU memory: on out-of-memory, each half in turn, down to single
items; what does not fit alone is named, so its row can fail with a reason instead of the whole job."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

Result = TypeVar("Result")


def split_on_oom(
    fn: Callable[[Sequence[int]], Result], items: Sequence[int], join: Callable[[list[Result]], Result]
) -> tuple[Result | None, list[int]]:
    """`fn(items)`, or on GPU out-of-memory the `join` of `fn` over halves (recursively); also the items that
    alone do not fit. The result is None when no item fits."""
    try:
        return fn(items), []
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        if len(items) == 1:
            return None, list(items)
    half = len(items) // 2
    first, first_oom = split_on_oom(fn, items[:half], join)
    second, second_oom = split_on_oom(fn, items[half:], join)
    parts = [p for p in (first, second) if p is not None]
    return (join(parts) if parts else None), first_oom + second_oom
