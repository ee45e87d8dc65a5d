"""Run a job's work units on a Ray cluster: one actor per GPU (or small CPU actors), units handed out
one at a time, a lost actor's unit retried on another.

The driver keeps a queue of pending unit indices and gives each actor one unit at a time, the next as
soon as it reports, so a slow worker holds only its own unit. When an actor dies or becomes
unreachable (its process or node was lost) the driver kills it for good and puts the unit back at the
head of the queue, up to `max_attempts` tries per unit: the next actor that is free takes it. It also
starts a replacement, which takes units once the cluster has room to place it (after a lost node it may
have none; the other actors then finish the job). An exception raised by
the job itself is not retried: it is a property of the unit, not of the worker, and is raised naming
the unit.

Committed once, with no duplicates and no gaps, even when a retry races the attempt it replaces (an
unreachable actor may still be writing when its unit starts elsewhere):
- A unit owns whole Zarr shards, one stored object per column, and writes each object whole in one
  put, which zarr's local store makes atomic (a temporary file renamed over the old one) and object
  stores make atomic by nature. So every object holds one attempt's complete bytes, never a mix. The
  last, partial shard too: zarr merges it with what is stored, but the write covers every row it
  has, so only the fill past the end is kept.
- An attempt writes its progress marker only after all of its column writes have returned, so a
  marker means every object of the unit holds some attempt's complete write.
- All attempts compute the same values from the same plan rows under the settings the store
  enforces (the scoring is deterministic: the tests compare stores bit for bit), so whichever attempt
  wrote an object last, the unit's values and marker are those of a single run. (On a cluster of
  mixed GPU models two attempts can differ in the last bits; each column is still one attempt's.)
- The driver counts a unit once, at its first report; a restarted driver takes the units without a
  marker and redoes them whole.
- A generate unit is one tar shard, its own marker: each attempt writes the whole shard under a
  temporary name of its own and renames it over the shard's (engine.generate.shards), and the images
  are seeded per image, so the shard holds one attempt's complete bytes.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from dataclasses import replace

from pixsift.engine.core.errors import BadInput, UserError
from pixsift.engine.core.progress import Progress
from pixsift.engine.executors.base import Job, ReportCollector, RunResult, UnitReport, capped, run_unit
from pixsift.kernels.optional import require

DEFAULT_MAX_ATTEMPTS = 3


class UnitWorker:
    """The actor: holds one copy of the job (models stay loaded) and runs the units it is given."""

    def __init__(self, job: Job, number: int):
        self.job = job
        self.number = number

    def ready(self) -> str:
        """Its name, with its node, once it is placed and built (a replacement may wait for room)."""
        import ray

        node = f"{ray.util.get_node_ip_address()} (node {ray.get_runtime_context().get_node_id()[:8]})"
        return f"actor {self.number} on {node}"

    def run_unit(self, unit: int) -> UnitReport:
        return replace(run_unit(self.job, unit, self.number), worker=self.ready())


def run_ray(
    job: Job,
    progress: Progress,
    *,
    address: str | None = None,
    workers: int = 0,
    device: str = "auto",
    cpus_per_worker: float = 1.0,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> RunResult:
    """Run `job`'s pending units on the Ray cluster at `address` (else RAY_ADDRESS, else a cluster
    already started on this machine, else a new local one). `workers` actors (0: one per GPU of the
    cluster, or as many CPU actors as its CPUs hold), each with `cpus_per_worker` CPUs and one GPU
    unless `device` is cpu or the cluster has no GPU."""
    ray = require("ray", "--executor ray")
    units = job.pending_units()
    if not units:
        return ReportCollector(progress).result()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=True)
    try:
        options, count = _actor_options(ray, address, device, cpus_per_worker, workers)
        count = capped(count, len(units), f"{len(units):,} work units to run", progress)
        return _Scheduler(ray, job, options, progress, max_attempts).run(units, count)
    finally:
        if started_here:
            ray.shutdown()


def _actor_options(
    ray, address: str | None, device: str, cpus_per_worker: float, workers: int
) -> tuple[dict, int]:
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), resources.get("CPU", 0)
    where = f"the Ray cluster at {address or os.environ.get('RAY_ADDRESS') or 'this machine'}"
    if device.startswith("cuda") and not gpus:
        raise BadInput(f"--device {device}", f"{where} has no GPU (resources: {resources})")
    if device != "cpu" and gpus:
        return {"num_cpus": cpus_per_worker, "num_gpus": 1}, workers or gpus
    if cpus_per_worker <= 0 or cpus_per_worker > cpus:
        raise BadInput("--ray-cpus-per-worker", f"must be in (0, {cpus}] on {where}, got {cpus_per_worker}")
    # Ray caps a CPU actor's torch (OpenMP) threads at its CPUs, but not numba's (the CPU SSIM kernel).
    threads = {"NUMBA_NUM_THREADS": str(max(1, int(cpus_per_worker)))}
    options = {"num_cpus": cpus_per_worker, "num_gpus": 0, "runtime_env": {"env_vars": threads}}
    return options, workers or max(1, int(cpus // cpus_per_worker))


class _Scheduler:
    def __init__(self, ray, job: Job, options: dict, progress: Progress, max_attempts: int):
        self.ray = ray
        self.actor_class = ray.remote(UnitWorker).options(max_restarts=0, max_task_retries=0, **options)
        self.job_ref = ray.put(job)
        self.collect = ReportCollector(progress)
        self.max_attempts = max_attempts
        self.started = 0
        self.labels: dict[object, str] = {}  # actor -> "actor n", then "actor n on <node>"

    def run(self, units: list[int], actors: int) -> RunResult:
        ray = self.ray
        pending = deque(units)
        attempts = dict.fromkeys(units, 0)
        running: dict[object, tuple[object, int]] = {}  # result ref -> (actor, unit)

        def give(actor) -> None:
            unit = pending.popleft()
            attempts[unit] += 1
            running[actor.run_unit.remote(unit)] = (actor, unit)

        idle: list[object] = []  # placed actors without a unit
        # ready ref -> an actor not placed yet, which takes units once it is (one may never be: more actors
        # asked for than the cluster holds, or a replacement after a lost node)
        starting: dict[object, object] = {}
        for _ in range(actors):
            actor = self._new_actor()
            starting[actor.ready.remote()] = actor
        try:
            while pending or running:
                while pending and idle:
                    give(idle.pop())
                if not (running or starting):
                    raise RuntimeError(f"every worker was lost; {len(pending)} work units were not run")
                [ref], _ = ray.wait([*running, *starting], num_returns=1)
                if ref in starting:  # placed: it takes units from now on
                    actor = starting.pop(ref)
                    with contextlib.suppress(ray.exceptions.RayActorError):
                        self.labels[actor] = ray.get(ref)
                        idle.append(actor)
                    continue
                actor, unit = running.pop(ref)
                try:
                    report = ray.get(ref)
                except ray.exceptions.RayActorError as e:
                    self.collect.lost(self.labels[actor], unit, _first_line(e))
                    ray.kill(actor, no_restart=True)  # an unreachable actor must not write on
                    if attempts[unit] >= self.max_attempts:
                        raise RuntimeError(
                            f"work unit {unit} was lost with its worker {attempts[unit]} times; "
                            f"giving up (last: {e})"
                        ) from e
                    pending.appendleft(unit)  # the next free actor takes it: a live one, or the replacement
                    replacement = (
                        self._new_actor()
                    )  # placed once the cluster has room (a lost node: maybe never)
                    starting[replacement.ready.remote()] = replacement
                    continue
                except ray.exceptions.RayTaskError as e:
                    if isinstance(e.cause, UserError):  # the user's to fix: one line, as from the driver
                        raise e.cause from None
                    raise RuntimeError(f"work unit {unit} failed on {self.labels[actor]}:\n{e}") from e
                self.labels[actor] = report.worker
                self.collect(report)
                idle.append(actor)
        finally:
            for actor in self.labels:
                ray.kill(actor, no_restart=True)
        return self.collect.result()

    def _new_actor(self):
        self.started += 1
        actor = self.actor_class.remote(self.job_ref, self.started)
        self.labels[actor] = f"actor {self.started}"
        return actor


def _first_line(error: Exception) -> str:
    return next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
