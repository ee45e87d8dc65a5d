"""Running a batch so that what fails is only the items that fail: on any error, each half in turn, down to
single items; an item that fails alone is named with its reason, so its row fails instead of the job.

Out of memory (GPU, or CPU allocation) is `oom`: the item alone does not fit. Any other error of an item
alone is `score` with the error, so one image that breaks a model or a kernel costs only its row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

from pixsift.engine.core.candidates import failure

Result = TypeVar("Result")


def isolate_failures(
    fn: Callable[[Sequence[int]], Result], items: Sequence[int], join: Callable[[list[Result]], Result]
) -> tuple[Result | None, dict[int, str]]:
    """`fn(items)`, or on an error the `join` of `fn` over halves (recursively); also each item that fails
    alone, with its reason. The result is None when no item succeeds."""
    try:
        return fn(items), {}
    except (torch.OutOfMemoryError, MemoryError):
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        reason = failure("oom", "the image alone does not fit in memory")
    except Exception as e:  # noqa: BLE001 -- narrowed down to the item that raises it, whose row fails
        reason = failure("score", f"{type(e).__name__}: {e}")
    if len(items) == 1:
        return None, {items[0]: reason}
    half = len(items) // 2
    first, first_failed = isolate_failures(fn, items[:half], join)
    second, second_failed = isolate_failures(fn, items[half:], join)
    parts = [p for p in (first, second) if p is not None]
    return (join(parts) if parts else None), {**first_failed, **second_failed}
