"""What every executor shares: the job protocol, unit reports, and the driver's collection of them.

A job is a picklable object with `pending_units()` (the indices of its unfinished units, read from its
store), `run_units(units, rank, emit)`, which processes those units in order and calls
`emit(UnitReport)` after committing each one, and `close()`. Models and decoders load on first use in
the process that runs the units, and stay loaded for the job's later calls there until `close()`.
Executors know only jobs, units and reports: engine.executors.local runs them on processes of this
machine, engine.executors.ray_cluster on a Ray cluster; the driver aggregates the reports into
progress lines, per-worker counts and a summary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from engine.core.progress import Progress, StageTimes


@dataclass
class UnitReport:
    rank: int
    unit: int
    rows: int
    failed: int
    seconds: dict[str, float] = field(default_factory=dict)
    worker: str = ""  # set by the executor: which process or actor ran the unit


class Job(Protocol):
    def pending_units(self) -> list[int]: ...

    def run_units(self, units: Iterable[int], rank: int, emit) -> None: ...

    def close(self) -> None: ...


@dataclass
class WorkerCounts:
    units: int = 0
    rows: int = 0
    failed: int = 0  # rows that got a failed status
    lost_units: int = 0  # units it was running when it was lost; they were retried elsewhere


def worker_lines(workers: dict[str, WorkerCounts]) -> list[str]:
    """A summary's per-worker lines, when there was more than one worker or one was lost; else none."""
    if len(workers) <= 1 and not any(w.lost_units for w in workers.values()):
        return []
    return ["per worker:"] + [
        f"  {name}: {w.units} units, {w.rows:,} rows, {w.failed:,} failed"
        + (f", lost while running {w.lost_units} (retried elsewhere)" if w.lost_units else "")
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
        self.units += 1
        self.times.merge(report.seconds)
        counts = self.workers.setdefault(report.worker, WorkerCounts())
        counts.units += 1
        counts.rows += report.rows
        counts.failed += report.failed
        self.progress.update(report.rows, report.failed)

    def lost(self, worker: str, unit: int, detail: str) -> None:
        self.workers.setdefault(worker, WorkerCounts()).lost_units += 1
        self.progress.retry(f"{worker} was lost while running work unit {unit} ({detail}); retrying the unit")

    def result(self) -> RunResult:
        p = self.progress
        return RunResult(p.done, dict(self.times.seconds), p.elapsed, self.units, self.workers)


def run_unit(job: Job, unit: int, rank: int) -> UnitReport:
    """Run one unit of `job` in this process and return its report."""
    reports: list[UnitReport] = []
    job.run_units([unit], rank, reports.append)
    return reports[0]
