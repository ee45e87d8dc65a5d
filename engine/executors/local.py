"""Run a job's work units on this machine: one worker process per visible GPU, or one in-process worker.

A job is a picklable object with `pending_units()` (the indices of its unfinished units, read from its
store), `run_units(units, rank, emit)`, which processes those units in order and calls
`emit(UnitReport)` after committing each one, and `close()`. Models and decoders load on first use in
the process that runs the units, and stay loaded for the job's later calls there until `close()`.
Executors know only jobs, units and reports: this module runs them on local processes,
engine.executors_ray on a Ray cluster.
The driver aggregates the reports into progress lines, per-worker counts and a summary.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
import traceback
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Self

import torch

from engine.core.progress import Progress, StageTimes, format_seconds, stage_line


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


@dataclass
class UnitJobSummary:
    """What one call of a store-backed job (score, tokenize) did, and its store's totals."""

    rows: int  # processed by this call
    wall_seconds: float
    stage_seconds: dict[str, float]
    units_run: int
    units_total: int
    statuses: Counter  # over the whole store
    errors: Counter  # over the whole store, by kind
    workers: dict[str, WorkerCounts]  # by this call
    verb: ClassVar[str] = "processed"
    store_name: ClassVar[str] = "store"

    @classmethod
    def of(cls, result: RunResult, units_total: int, statuses: Counter, errors: Counter) -> Self:
        return cls(
            result.rows,
            result.wall_seconds,
            result.stage_seconds,
            result.units,
            units_total,
            statuses,
            errors,
            result.workers,
        )

    def text(self) -> str:
        rate = self.rows / self.wall_seconds if self.wall_seconds > 0 else 0.0
        lines = [
            f"{self.verb} {self.rows:,} rows in {format_seconds(self.wall_seconds)} ({rate:,.1f} rows/s); "
            f"{self.units_run} of {self.units_total} work units run now, the rest were done before",
            f"{self.store_name}: " + ", ".join(f"{k} {v:,}" for k, v in sorted(self.statuses.items())),
        ]
        if self.errors:
            lines.append("errors by kind: " + ", ".join(f"{k} {v:,}" for k, v in self.errors.most_common()))
        lines += worker_lines(self.workers)
        lines.append(stage_line(self.stage_seconds, "threads and workers"))
        return "\n".join(lines)


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


def default_workers(device: str) -> int:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.device_count() if device == "cuda" else 1
    return 1


def run_local(job: Job, progress: Progress, workers: int = 1) -> RunResult:
    """Run `job`'s pending units on `workers` processes (in this process when 1), dealt to them in
    turn."""
    collect = ReportCollector(progress)
    units = job.pending_units()
    if workers == 1:
        try:
            job.run_units(units, 0, _labelled(collect, "process 0"))
        finally:
            job.close()
    else:
        _run_processes(job, [units[rank::workers] for rank in range(workers)], collect)
    return collect.result()


def _labelled(collect: ReportCollector, worker: str):
    def emit(report: UnitReport) -> None:
        report.worker = worker
        collect(report)

    return emit


def _run_processes(job: Job, shares: list[list[int]], collect: ReportCollector) -> None:
    ctx = mp.get_context("spawn")
    reports = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(job, rank, share, reports), daemon=True)
        for rank, share in enumerate(shares)
    ]
    for p in procs:
        p.start()
    finished = 0
    while finished < len(procs):
        try:
            msg = reports.get(timeout=1.0)
        except queue_module.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(
                    f"worker process {procs.index(dead[0])} died with exit code {dead[0].exitcode}"
                ) from None
            continue
        if isinstance(msg, UnitReport):
            _labelled(collect, f"process {msg.rank}")(msg)
        elif msg[0] == "done":
            finished += 1
        else:
            for p in procs:
                p.terminate()
            raise RuntimeError(f"worker {msg[1]} failed:\n{msg[2]}")
    for p in procs:
        p.join()


def _worker(job: Job, rank: int, units: list[int], reports) -> None:
    if torch.cuda.is_available():
        os.environ.setdefault("LOCAL_RANK", str(rank))
        torch.cuda.set_device(rank % torch.cuda.device_count())
    try:
        job.run_units(units, rank, reports.put)
        reports.put(("done", rank))
    except BaseException:
        reports.put(("error", rank, traceback.format_exc()))
    finally:
        job.close()
