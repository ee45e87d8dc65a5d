"""Run an iterator on a background thread, a bounded number of items ahead of its consumer; read an
iterator in timed batches."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

from engine.core.progress import StageTimes

T = TypeVar("T")
_END = object()


def prefetch(items: Iterable[T], depth: int, name: str = "pixsift-prefetch") -> Iterator[T]:
    """Yield `items` in order while a thread produces up to `depth` ahead; its errors re-raise here."""
    buffer: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stopped = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stopped.is_set():
                    return
                buffer.put(item)
            buffer.put(_END)
        except BaseException as exc:  # handed to the consumer, which raises it
            buffer.put(exc)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()
        while thread.is_alive():  # unblock a producer waiting on a full buffer
            try:
                buffer.get(timeout=0.05)
            except queue.Empty:
                pass


def timed_batches(items: Iterable[T], size: int) -> Iterator[tuple[int, list[T], StageTimes]]:
    """Consecutive batches of `size` items: (index of the batch's first item, the batch, the stage times
    its reading went into as "read", for the caller to add its own stages to)."""
    items = iter(items)
    first = 0
    while True:
        times = StageTimes()
        with times.stage("read"):
            batch = list(islice(items, size))
        if not batch:
            return
        yield first, batch, times
        first += len(batch)
