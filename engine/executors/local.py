"""Run a job's work units on this machine: one worker process per visible GPU, or one in-process worker
(the job protocol is in engine.executors.base)."""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
import traceback

from pixsift.engine.core.errors import UserError
from pixsift.engine.core.progress import Progress
from pixsift.engine.executors.base import Job, ReportCollector, RunResult, UnitReport, capped


def default_workers(device: str) -> int:
    import torch  # here: building a command's flags imports this module, and needs no torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.device_count() if device == "cuda" else 1
    return 1


def run_local(job: Job, progress: Progress, workers: int = 1) -> RunResult:
    """Run `job`'s pending units on `workers` processes (in this process when 1), dealt to them in
    turn."""
    collect = ReportCollector(progress)
    units = job.pending_units()
    cores = os.cpu_count() or 1
    most = max(1, min(len(units), cores))
    workers = capped(workers, most, f"{len(units):,} work units to run, {cores} CPU cores", progress)
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
            if isinstance(msg[2], UserError):  # the user's to fix: one line, as from this process
                raise msg[2]
            raise RuntimeError(f"worker {msg[1]} failed:\n{msg[2]}")
    for p in procs:
        p.join()


def _worker(job: Job, rank: int, units: list[int], reports) -> None:
    import torch

    if torch.cuda.is_available():
        os.environ.setdefault("LOCAL_RANK", str(rank))
        torch.cuda.set_device(rank % torch.cuda.device_count())
    try:
        job.run_units(units, rank, reports.put)
        reports.put(("done", rank))
    except UserError as e:
        reports.put(("error", rank, e))
    except BaseException:
        reports.put(("error", rank, traceback.format_exc()))
    finally:
        job.close()
