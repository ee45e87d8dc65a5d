"""End-to-end `pixsift score` throughput and memory.

    python -m benchmarks.bench_score                      # throughput for the device at hand
    python -m benchmarks.bench_score --memory             # peak RSS at 10K and 100K candidates (CPU)
    python -m benchmarks.bench_score --models ViT-L-14 --candidates 20000
    python -m benchmarks.bench_score --edits              # an edit row's cost beside a text-to-image row's

Throughput: a pool of JPEGs of mixed sizes (512x384 to 1600x1200, landscape and portrait, as web photos
come) made from real photographs (benchmarks.photo_pool), scored with random-weight open_clip models
(the cost is the same as trained weights) at their native input size: ViT-B-32 and ViT-L-14 at 224,
ViT-L-14-336 at 336. It reports images/s over the job, seconds per stage (summed over the read/decode
thread and the GPU thread, so they can add up to more than the wall time) and, on a GPU, the mean GPU
utilization sampled every 100 ms through NVML.

Edits: the same pool scored three times, as text-to-image rows, as edits whose sources are shared by 4
rows (a source edited with several instructions, or best-of-4 of one pair) and as edits each with a
source of its own; the edit rows add the pair metrics (engine.score.edit_pairs: the source read, decoded
and embedded once per distinct source, SSIM and L1 at 256 x 256). `cost_vs_t2i` is the wall time per row
over the text-to-image run's.

Memory: the same job at 10K and 100K candidates, each in a fresh process, with a tiny model,
128x128 images and a 64 -> 32 -> 64 fidelity round trip so that the run is about the engine's
streaming, not about model size; peak RSS must stay within 10% between the two. Without a GPU all
figures are CPU figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time

import torch

from benchmarks import harness
from benchmarks.photo_pool import POOL_DIR, make_pool, score_pool
from tests.fixtures import TINY_CLIP_CONFIG

TINY_CLIP = TINY_CLIP_CONFIG
MODELS = {"ViT-B-32": 224, "ViT-L-14": 224, "ViT-L-14-336": 336}


def throughput(model: str, candidates: int, batch_size: int, device: torch.device) -> dict:
    manifest = make_pool(POOL_DIR / "mixed", candidates, distinct=min(candidates, 512), size=None)
    settings = dict(
        clip_model=model, device=device.type, batch_size=batch_size, shard_rows=max(4096, batch_size)
    )
    with GpuBusy(device) as busy:
        summary = score_pool(manifest, **settings)
    return dict(
        benchmark="score",
        model=model,
        input_size=MODELS.get(model),
        candidates=candidates,
        batch_size=batch_size,
        images_per_s=summary.rows / summary.wall_seconds,
        wall_s=summary.wall_seconds,
        gpu_busy_pct=busy.percent,
        **{f"stage_{stage}_s": round(s, 3) for stage, s in summary.stage_seconds.items()},
        ok=summary.statuses.get("ok", 0),
    )


def edit_cost(model: str, candidates: int, batch_size: int, device: torch.device) -> list[dict]:
    """Text-to-image rows, then the same images as edits (sources shared by 4, then one each)."""
    rows = []
    for edits_per_source in (None, 4, 1):
        manifest = make_pool(
            POOL_DIR / "mixed", candidates, distinct=min(candidates, 512), size=None,
            edits_per_source=edits_per_source,
        )  # fmt: skip
        settings = dict(clip_model=model, device=device.type, batch_size=batch_size, shard_rows=4096)
        summary = score_pool(manifest, **settings)
        rows.append(
            dict(
                benchmark="score_edits",
                model=model,
                task="edit" if edits_per_source else "t2i",
                edits_per_source=edits_per_source,
                candidates=candidates,
                images_per_s=summary.rows / summary.wall_seconds,
                wall_s=summary.wall_seconds,
                ok=summary.statuses.get("ok", 0),
                **{f"stage_{stage}_s": round(s, 3) for stage, s in summary.stage_seconds.items()},
            )
        )
    for row in rows:
        row["cost_vs_t2i"] = rows[0]["images_per_s"] / row["images_per_s"]
    return rows


class GpuBusy:
    """Mean GPU utilization (NVML, sampled every 100 ms) while the block runs; None without a GPU."""

    def __init__(self, device: torch.device):
        self.device = device
        self.samples: list[int] = []
        self.percent: float | None = None
        self._stop = threading.Event()

    def __enter__(self):
        if self.device.type == "cuda":
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.samples.append(torch.cuda.utilization(self.device))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.device.type == "cuda":
            self._thread.join()
            self.percent = sum(self.samples) / max(1, len(self.samples))


def memory_child(candidates: int) -> None:
    """Score a pool of `candidates` in this process and print the peak RSS as JSON."""
    manifest = make_pool(POOL_DIR / "128", candidates, distinct=256, size=128)
    settings = dict(
        clip_config=str(TINY_CLIP), fidelity_size=64, fidelity_via=32, device="cpu", batch_size=256
    )
    start = time.perf_counter()
    summary = score_pool(manifest, **settings, shard_rows=4096)
    wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(dict(candidates=candidates, peak_rss_mib=peak_mib, wall_s=wall, ok=summary.statuses["ok"]))
    )


def memory(sizes: list[int]) -> list[dict]:
    rows = []
    for n in sizes:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_score", "--memory-child", str(n)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        rows.append(dict(benchmark="score_memory", **json.loads(out.strip().splitlines()[-1])))
    base = rows[0]["peak_rss_mib"]
    for row in rows:
        row["rss_vs_first_pct"] = 100 * (row["peak_rss_mib"] / base - 1)
        row["images_per_s"] = row["candidates"] / row["wall_s"]
    return rows


def main(argv: list[str] | None = None) -> None:
    gpu = torch.cuda.is_available()
    parser = harness.parser(__doc__)
    parser.add_argument("--models", nargs="+", default=list(MODELS) if gpu else ["ViT-B-32"])
    parser.add_argument("--candidates", type=int, default=20_000 if gpu else 256)
    parser.add_argument("--batch-size", type=int, default=512 if gpu else 64)
    parser.add_argument("--memory", action="store_true", help="only the peak-RSS check at --memory-sizes")
    parser.add_argument("--edits", action="store_true", help="only an edit row's cost beside a t2i row's")
    parser.add_argument("--memory-sizes", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child)
        return
    device = torch.device(args.device)
    env = harness.environment(device, ("open_clip_torch", "nvidia-dali-cuda130", "zarr"))
    hardware = harness.measure_hardware(device)
    print(f"{env['device']}  {hardware.as_dict()}  git {env['git_sha']}")
    if args.memory:
        rows = memory(args.memory_sizes)
        columns = (
            "benchmark",
            "candidates",
            "peak_rss_mib",
            "rss_vs_first_pct",
            "wall_s",
            "images_per_s",
            "ok",
        )
    elif args.edits:
        rows = [r for m in args.models for r in edit_cost(m, args.candidates, args.batch_size, device)]
        columns = ("model", "task", "edits_per_source", "candidates", "images_per_s", "cost_vs_t2i", "ok")
    else:
        rows = [throughput(m, args.candidates, args.batch_size, device) for m in args.models]
        stages = sorted({k for r in rows for k in r if k.startswith("stage_")})
        columns = ("model", "input_size", "candidates", "images_per_s", "wall_s", "gpu_busy_pct", *stages)
    harness.print_table("pixsift score", rows, columns)
    print("\n" + harness.append_results("bench_score", rows, env, hardware, args.results))


if __name__ == "__main__":
    main()
