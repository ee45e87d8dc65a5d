"""Where a stage's work units run, shared by `pixsift score` and `pixsift generate`: the settings, their
command-line flags, and the dispatch to worker processes on this machine (engine.executors) or actors on
a Ray cluster (engine.executors_ray)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from engine.core.progress import Progress
from engine.executors.local import Job, RunResult, default_workers, run_local

EXECUTORS = ("local", "ray")


@dataclass(kw_only=True)
class ExecutorConfig:
    device: str = "auto"  # auto | cpu | cuda
    workers: int = 0  # 0: one per visible GPU (local) or per GPU in the Ray cluster, else one
    executor: str = "local"  # local (processes on this machine) | ray (actors on a Ray cluster)
    ray_address: str | None = None  # Ray cluster to join; else RAY_ADDRESS, one on this machine, a new one
    ray_cpus_per_worker: float = 1.0  # CPUs each Ray actor reserves (a GPU actor also takes one GPU)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")

    def resolved_device(self) -> str:
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def runs_in_process(self) -> bool:
        """Whether the units run in this process (the driver's models can be reused)."""
        return self.executor == "local" and self._local_workers() == 1

    def run(self, job: Job, progress: Progress) -> RunResult:
        """Run `job`'s pending units on the configured executor."""
        if self.executor == "ray":
            from engine.executors.ray_cluster import run_ray

            return run_ray(
                job,
                progress,
                address=self.ray_address,
                workers=self.workers,
                device=self.device,
                cpus_per_worker=self.ray_cpus_per_worker,
            )
        return run_local(job, progress, self._local_workers())

    def _local_workers(self) -> int:
        return self.workers or default_workers(self.resolved_device())


def add_executor_arguments(p) -> None:
    """The flags of ExecutorConfig's fields; unset ones are None (see `executor_arguments`)."""
    p.add_argument("--device", help="auto (default), cpu or cuda")
    p.add_argument(
        "--workers",
        type=int,
        help="worker processes or Ray actors (default: one per visible GPU, or per GPU of the Ray cluster)",
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        help="local: processes on this machine (default); ray: actors on a Ray cluster",
    )
    p.add_argument(
        "--ray-address",
        help="Ray cluster to run on (default: RAY_ADDRESS, else one started on this machine, else a new one)",
    )
    p.add_argument("--ray-cpus-per-worker", type=float, help="CPUs each Ray actor reserves (default 1)")


def executor_arguments(args) -> dict:
    """The ExecutorConfig fields given on the command line."""
    given = {f.name: getattr(args, f.name) for f in fields(ExecutorConfig)}
    return {name: value for name, value in given.items() if value is not None}
