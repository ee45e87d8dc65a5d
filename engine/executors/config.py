"""Where a stage's work units run, shared by `pixsift generate`, `score` and `tokenize`: the settings, and
the dispatch to worker processes on this machine (engine.executors.local) or actors on a Ray cluster
(engine.executors.ray_cluster)."""

from __future__ import annotations

from dataclasses import dataclass

from pixsift.engine.core.config import Config, setting
from pixsift.engine.core.device import DEVICES, resolve_device
from pixsift.engine.core.progress import Progress
from pixsift.engine.executors.base import Job, RunResult
from pixsift.engine.executors.local import default_workers, run_local

EXECUTORS = ("local", "ray")


@dataclass(kw_only=True)
class ExecutorConfig(Config):
    device: str = setting(
        "auto", help="where the models run: auto (the GPU when there is one), cpu or cuda", choices=DEVICES
    )
    workers: int = setting(
        0,
        min=0,
        help="worker processes or Ray actors (0: one per visible GPU or per GPU of the Ray cluster, else 1)",
    )
    executor: str = setting(
        "local", choices=EXECUTORS, help="local: processes on this machine; ray: actors on a Ray cluster"
    )
    ray_address: str | None = setting(
        None,
        help="Ray cluster to run on (default: RAY_ADDRESS, else one started on this machine, else a new one)",
    )
    ray_cpus_per_worker: float = setting(
        1.0, min=0.01, help="CPUs each Ray actor reserves (a GPU actor also takes one GPU)"
    )

    def resolved_device(self) -> str:
        return resolve_device(self.device)

    def runs_in_process(self) -> bool:
        """Whether the units run in this process (the driver's models can be reused)."""
        return self.executor == "local" and self.local_workers() == 1

    def run(self, job: Job, progress: Progress) -> RunResult:
        """Run `job`'s pending units on the configured executor."""
        if self.executor == "ray":
            from pixsift.engine.executors.ray_cluster import run_ray

            return run_ray(
                job,
                progress,
                address=self.ray_address,
                workers=self.workers,
                device=self.device,
                cpus_per_worker=self.ray_cpus_per_worker,
            )
        return run_local(job, progress, self.local_workers())

    def local_workers(self) -> int:
        return self.workers or default_workers(self.resolved_device())
