"""Progress lines for long jobs (rows/s, ETA, failures), time per stage with NVTX ranges, and the summary."""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import nvtx

from pixsift.engine.core.terminal import printable

if TYPE_CHECKING:
    import torch


class StageTimes:
    """Seconds per named stage; each stage is also an NVTX range, so `nsys profile` shows it.

    With a CUDA `device` a stage is timed by CUDA events on the current stream, read when `seconds` is
    asked for (once the work is done, say after a unit's results were copied back): what the device
    spent, and timing never makes the host wait for the device. Otherwise, and for a `host` stage (work
    the host does, such as writing a store), it is wall-clock time.
    """

    def __init__(self, device: torch.device | str | None = None) -> None:
        self._seconds: dict[str, float] = defaultdict(float)
        self._pending: list[tuple[str, torch.cuda.Event, torch.cuda.Event]] = []
        # torch only where a device is timed: progress lines and wall-clock stages need none of it.
        self._cuda = device is not None and str(device).startswith("cuda")

    @property
    def seconds(self) -> dict[str, float]:
        for name, start, end in self._pending:
            end.synchronize()
            self._seconds[name] += start.elapsed_time(end) / 1000
        self._pending.clear()
        return self._seconds

    @contextmanager
    def stage(self, name: str, host: bool = False):
        with nvtx.annotate(name, domain="pixsift"):
            if self._cuda and not host:
                import torch

                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                yield
                end.record()
                self._pending.append((name, start, end))
            else:
                started = time.perf_counter()
                yield
                self._seconds[name] += time.perf_counter() - started

    def merge(self, other: dict[str, float]) -> None:
        for name, s in other.items():
            self._seconds[name] += s


@dataclass
class Progress:
    """Counts rows as they finish and prints a line at most every `interval` seconds."""

    label: str
    total: int
    interval: float = 2.0
    stream: object = None  # None: the stderr of when it starts
    done: int = 0
    failed: int = 0
    retried: int = 0  # units retried after their worker was lost
    started: float = field(default_factory=time.perf_counter)
    _last_print: float = 0.0
    _warm: tuple[float, int] | None = None  # (time, rows done) after the first update: warm-up's end
    noun: str = "rows"  # what is counted: rows, images

    def __post_init__(self) -> None:
        if self.stream is None:
            self.stream = sys.stderr

    def update(self, rows: int, failed: int = 0) -> None:
        now = time.perf_counter()
        self.done += rows
        self.failed += failed
        if self._warm is None:
            self._warm = (now, self.done)
        if now - self._last_print >= self.interval or self.done >= self.total:
            self._last_print = now
            print(self.line(), file=self.stream, flush=True)

    def retry(self, event: str) -> None:
        """Count a unit retried after its worker was lost, and say why now."""
        self.retried += 1
        print(f"{self.label}: {printable(event)}", file=self.stream, flush=True)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def line(self) -> str:
        rate = self.done / self.elapsed if self.elapsed > 0 else 0.0
        # The ETA comes from the rate since the first update: the first rows also paid for loading
        # models and compiling kernels, and would put it far too late ("--:--" until then).
        remaining = 0.0 if self.done >= self.total else float("inf")
        if self._warm is not None and (since := time.perf_counter() - self._warm[0]) > 0:
            if (warm_rate := (self.done - self._warm[1]) / since) > 0:
                remaining = (self.total - self.done) / warm_rate
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return (
            f"{self.label}: {self.done:,}/{self.total:,} {self.noun} ({pct:.1f}%)  "
            f"{rate:,.1f} {self.noun}/s  "
            f"ETA {format_seconds(remaining)}  failed {self.failed:,}"
            + (f"  units retried {self.retried:,}" if self.retried else "")
        )


def stage_line(seconds: dict[str, float], summed_over: str) -> str:
    """'time per stage (s, summed over ...): read 1.0 (10%), ...' for a job's summary."""
    total = sum(seconds.values()) or 1.0
    parts = ", ".join(f"{k} {v:.1f} ({100 * v / total:.0f}%)" for k, v in seconds.items()) or "nothing ran"
    return f"time per stage (s, summed over {summed_over}): {parts}"


def format_seconds(s: float) -> str:
    if s == float("inf"):
        return "--:--"
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
