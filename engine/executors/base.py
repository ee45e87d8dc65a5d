"""What every executor shares: the job protocol, unit reports, and the driver's collection of them.

A job is a picklable object with `pending_units()` (the indices of its unfinished units, read from its
store), `run_units(units, rank, emit)`, which processes those units in order and calls
`emit(UnitReport)` after committing each one (and, while a long unit runs, partial reports of the rows
done so far), and `close()`. Models and decoders load on first use in
the process that runs the units, and stay loaded for the job's later calls there until `close()`.
Executors know only jobs, units and reports: engine.executors.local runs them on processes of this
machine, engine.executors.ray_cluster on a Ray cluster; the driver aggregates the reports into
progress lines, per-worker counts and a summary.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pixsift.engine.core.progress import Progress, StageTimes


@dataclass
class UnitReport:
    rank: int
    unit: int
    rows: int
    failed: int
    seconds: dict[str, float] = field(default_factory=dict)
    worker: str = ""  # set by the executor: which process or actor ran the unit
    # A report from inside a unit, every PARTIAL_SECONDS or more: `rows` more rows of it are done (the
    # unit's last report then counts only the rest), so progress moves while a long unit runs.
    partial: bool = False


PARTIAL_SECONDS = 1.0


class UnitProgress:
    """The reports of one unit: partial ones as its rows get done (at most every PARTIAL_SECONDS), then
    the last, which counts the rows not reported yet."""

    def __init__(self, emit, rank: int, unit: int):
        self.emit, self.rank, self.unit = emit, rank, unit
        self.reported, self.last = 0, time.monotonic()

    def done_so_far(self, rows: int) -> None:
        """`rows` of the unit are done (a running count)."""
        if rows > self.reported and time.monotonic() - self.last >= PARTIAL_SECONDS:
            self.emit(UnitReport(self.rank, self.unit, rows - self.reported, 0, partial=True))
            self.reported, self.last = rows, time.monotonic()

    def finished(self, rows: int, failed: int, seconds: dict[str, float]) -> None:
        self.emit(UnitReport(self.rank, self.unit, rows - self.reported, failed, seconds))


def capped(workers: int, most: int, why: str, progress: Progress) -> int:
    """`workers`, or `most` when more were asked for, with a line saying so and why."""
    if workers <= most:
        return workers
    print(f"{progress.label}: {workers:,} workers asked for, {most} start ({why})", file=progress.stream)
    return most


class Job(Protocol):
    def pending_units(self) -> list[int]: ...

    def run_units(self, units: Iterable[int], rank: int, emit) -> None: ...

    def close(self) -> None: ...


@dataclass
class WorkerCounts:
    units: int = 0
    rows: int = 0
    failed: int = 0  # rows that got a failed status
    lost_units: list[int] = field(default_factory=list)  # units it was running when lost; retried elsewhere


def worker_lines(workers: dict[str, WorkerCounts]) -> list[str]:
    """A summary's per-worker lines, when there was more than one worker or one was lost; else none."""
    if len(workers) <= 1 and not any(w.lost_units for w in workers.values()):
        return []
    return ["per worker:"] + [
        f"  {name}: {w.units} units, {w.rows:,} rows, {w.failed:,} failed"
        + (
            f", lost while running unit {', '.join(map(str, w.lost_units))} (retried elsewhere)"
            if w.lost_units
            else ""
        )
        for name, w in sorted(workers.items())
    ]


@dataclass
class RunResult:
    rows: int
    stage_seconds: dict[str, float]
    wall_seconds: float
    units: int
    workers: dict[str, WorkerCounts]


class ReportCollector:
    """The driver's view of a run: unit reports in, progress lines, per-worker counts and the result."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.times = StageTimes()
        self.units = 0
        self.workers: dict[str, WorkerCounts] = {}

    def __call__(self, report: UnitReport) -> None:
        counts = self.workers.setdefault(report.worker, WorkerCounts())
        if not report.partial:
            self.units += 1
            self.times.merge(report.seconds)
            counts.units += 1
        counts.rows += report.rows
        counts.failed += report.failed
        self.progress.update(report.rows, report.failed)

    def lost(self, worker: str, unit: int, detail: str) -> None:
        self.workers.setdefault(worker, WorkerCounts()).lost_units.append(unit)
        self.progress.retry(f"{worker} was lost while running work unit {unit} ({detail}); retrying the unit")

    def result(self) -> RunResult:
        p = self.progress
        return RunResult(p.done, dict(self.times.seconds), p.elapsed, self.units, self.workers)


def run_unit(job: Job, unit: int, rank: int) -> UnitReport:
    """Run one unit of `job` in this process and return its report (its partial reports summed in)."""
    reports: list[UnitReport] = []
    job.run_units([unit], rank, reports.append)
    final = reports[-1]
    final.rows = sum(r.rows for r in reports)
    return final
