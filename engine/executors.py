"""Run a job's work units on this machine: one worker process per visible GPU, or one in-process worker.

A job is any picklable object with `run(rank, world_size, emit)`: it processes the units that belong
to `rank` (datatrove style: unit index % world_size == rank), skipping units already done, and calls
`emit(UnitReport)` after committing each unit. The driver aggregates the reports into progress lines
and a summary.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
import traceback
from dataclasses import dataclass, field
from typing import Protocol

import torch

from engine.progress import Progress, StageTimes


@dataclass
class UnitReport:
    rank: int
    unit: int
    rows: int
    failed: int
    seconds: dict[str, float] = field(default_factory=dict)


class Job(Protocol):
    def run(self, rank: int, world_size: int, emit) -> None: ...


@dataclass
class RunResult:
    rows: int
    stage_seconds: dict[str, float]
    wall_seconds: float
    units: int


def default_workers(device: str) -> int:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.device_count() if device == "cuda" else 1
    return 1


def run_local(job: Job, progress: Progress, workers: int = 1) -> RunResult:
    """Run `job` on `workers` processes (in this process when 1) and aggregate their unit reports."""
    times = StageTimes()
    units = 0

    def collect(report: UnitReport) -> None:
        nonlocal units
        units += 1
        times.merge(report.seconds)
        progress.update(report.rows, report.failed)

    if workers == 1:
        job.run(0, 1, collect)
    else:
        _run_processes(job, workers, collect)
    return RunResult(progress.done, dict(times.seconds), progress.elapsed, units)


def _run_processes(job: Job, workers: int, collect) -> None:
    ctx = mp.get_context("spawn")
    reports = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(job, rank, workers, reports), daemon=True)
        for rank in range(workers)
    ]
    for p in procs:
        p.start()
    finished = 0
    while finished < workers:
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
            collect(msg)
        elif msg[0] == "done":
            finished += 1
        else:
            for p in procs:
                p.terminate()
            raise RuntimeError(f"worker {msg[1]} failed:\n{msg[2]}")
    for p in procs:
        p.join()


def _worker(job: Job, rank: int, world_size: int, reports) -> None:
    if torch.cuda.is_available():
        os.environ.setdefault("LOCAL_RANK", str(rank))
        torch.cuda.set_device(rank % torch.cuda.device_count())
    try:
        job.run(rank, world_size, reports.put)
        reports.put(("done", rank))
    except BaseException:
        reports.put(("error", rank, traceback.format_exc()))
