"""`pixsift score --executor ray` scaling: the same job on 1 to N Ray workers of a local Ray cluster.

    python -m benchmarks.bench_ray                          # 1..cores CPU actors, or 1..GPUs GPU actors
    python -m benchmarks.bench_ray --workers 1 2 --candidates 1024

Each run scores a fresh store of a pool of `--size` px JPEGs made from real photographs
(benchmarks.photo_pool) with the tiny random-weight CLIP config (tests/fixtures/tiny-clip.json),
so the figures are about the executor, not the model. A CPU actor reserves one CPU (its torch and
numba threads are limited to it), a GPU actor one GPU. `rows_per_s` is over the whole run, actor
start-up and model load included; `steady_rows_per_s` leaves them out: it is the difference of two
runs, the full pool and one unit per worker, (rows_full - rows_small) / (wall_full - wall_small).
Efficiency is steady throughput(N) / (N x steady throughput(1)). The local executor's row (one
in-process worker, all the machine's threads on the CPU) is the reference a Ray run must not fall
far behind with one GPU actor. Without a GPU all figures are CPU figures, and the rows say so.
"""

from __future__ import annotations

import os
import time

import torch

from benchmarks import harness
from benchmarks.photo_pool import POOL_DIR, make_pool, score_pool
from pixsift.engine.store.unit_job import UnitJobSummary
from pixsift.kernels.optional import require
from tests.fixtures import TINY_CLIP_CONFIG

TINY_CLIP = TINY_CLIP_CONFIG
SETTLE_S = 2.0  # the last run's actors exit in the background; on a small machine they would slow the next


def measure(args, executor: str, workers: int) -> dict:
    """Score the pool with `workers` workers of `executor`. A Ray run is measured twice, the full pool
    and a pool of one unit per worker, so that their difference leaves the actors' start-up out; a
    local run's clock starts with its model already loaded."""
    full = run(args, args.candidates, executor, workers)
    steady = full.rows / full.wall_seconds
    if executor == "ray":
        small = run(args, workers * args.shard_rows, executor, workers)
        steady = (full.rows - small.rows) / (full.wall_seconds - small.wall_seconds)
    return dict(
        benchmark="ray_scaling",
        executor=executor,
        workers=workers,
        candidates=full.rows,
        image_size=args.size,
        wall_s=full.wall_seconds,
        rows_per_s=full.rows / full.wall_seconds,
        steady_rows_per_s=steady,
        ok=full.statuses.get("ok", 0),
    )


def run(args, candidates: int, executor: str, workers: int) -> UnitJobSummary:
    manifest = make_pool(POOL_DIR / str(args.size), candidates, min(candidates, 256), args.size)
    time.sleep(SETTLE_S)
    return score_pool(
        manifest,
        clip_config=str(TINY_CLIP),
        fidelity_size=args.size,
        fidelity_via=args.size // 2,
        batch_size=args.batch_size,
        shard_rows=args.shard_rows,
        executor=executor,
        workers=workers,
    )


def main(argv: list[str] | None = None) -> None:
    gpus = torch.cuda.device_count()
    most = gpus or os.cpu_count() or 1
    parser = harness.parser(__doc__, device=False)
    parser.add_argument("--workers", nargs="+", type=int, default=list(range(1, most + 1)))
    parser.add_argument("--candidates", type=int, default=20_000 if gpus else 2048)
    parser.add_argument("--size", type=int, default=256 if gpus else 128, help="image side in pixels")
    parser.add_argument("--batch-size", type=int, default=256 if gpus else 32)
    parser.add_argument("--shard-rows", type=int, default=1024 if gpus else 64)
    args = parser.parse_args(argv)

    device = torch.device("cuda" if gpus else "cpu")
    env = harness.environment(device, ("ray", "open_clip_torch", "zarr"))
    hardware = harness.measure_hardware(device)
    print(f"{env['device']}  {hardware.as_dict()}  git {env['git_sha']}")
    rows = [measure(args, "local", 1)]
    ray = require("ray", "benchmarks.bench_ray")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        rows += [measure(args, "ray", n) for n in args.workers]
    finally:
        ray.shutdown()
    one = next((r["steady_rows_per_s"] for r in rows if r["executor"] == "ray" and r["workers"] == 1), None)
    for r in rows:
        if r["executor"] == "ray" and one:
            r["efficiency"] = r["steady_rows_per_s"] / (r["workers"] * one)
    kind = "GPU actors" if gpus else "CPU actors, 1 CPU each"
    columns = (
        "executor",
        "workers",
        "candidates",
        "image_size",
        "wall_s",
        "rows_per_s",
        "steady_rows_per_s",
        "efficiency",
        "ok",
    )
    harness.print_table(f"pixsift score on Ray ({kind}): {env['device']}", rows, columns)
    print("\n" + harness.append_results("bench_ray", rows, env, hardware, args.results))


if __name__ == "__main__":
    main()
