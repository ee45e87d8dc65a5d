"""Generation throughput: images/s and seconds per image of SDXL-sized generation on one GPU, with and
without torch.compile of the UNet, and the share of wall time in the text encoders, the UNet and the VAE.

    python -m benchmarks.bench_generate                  # SDXL base 1.0 shapes, random bf16 weights, CUDA
    python -m benchmarks.bench_generate --tiny           # the few-MB test pipeline on the CPU

The SDXL pipeline is built from its published architecture with random weights (the cost is the same
as trained weights) and runs through engine.generate.pipeline.Generator, the code `pixsift generate`
uses, so the stage times are its StageTimes (each model call synchronized on the GPU). `--tiny` measures
the tiny test pipeline on the CPU: it checks the benchmark runs, and its numbers say nothing about
SDXL or a GPU; its rows say `tiny` in the pipeline column.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import harness
from pixsift.engine.core.progress import StageTimes
from pixsift.engine.generate.config import GenerateConfig
from pixsift.engine.generate.pipeline import Generator
from tests.fixtures.tiny_diffusers import save_tiny_sd, sdxl_pipeline

STAGES = ("encode_prompt", "denoise", "decode")
SHARE_COLUMNS = {"encode_prompt": "text_enc_%", "denoise": "unet_%", "decode": "vae_%"}


def run(args: argparse.Namespace) -> list[dict]:
    device = torch.device("cpu" if args.tiny else "cuda")
    if not args.tiny and not torch.cuda.is_available():
        raise SystemExit(
            "bench_generate: the SDXL-sized run needs a CUDA GPU and none is visible; "
            "run `python -m benchmarks.bench_generate --tiny` for the CPU check"
        )
    hw = harness.measure_hardware(device)
    env = harness.environment(device, ("diffusers", "transformers"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for compile_unet in args.compile:
            rows.append(_measure(args, device, compile_unet, Path(tmp)))
    columns = ("pipeline", "resolution", "steps", "batch", "compile", "images_per_s", "s_per_image")
    harness.print_table("generation", rows, (*columns, *SHARE_COLUMNS.values(), "other_%"))
    print("\n" + harness.append_results("bench_generate", rows, env, hw, args.results))
    return rows


def _measure(args: argparse.Namespace, device: torch.device, compile_unet: bool, tmp: Path) -> dict:
    name = "tiny-sd (random, CPU)" if args.tiny else "sdxl-base-1.0 shapes (random, bf16)"
    pipeline = save_tiny_sd(tmp / "tiny-sd") if args.tiny else None
    cfg = GenerateConfig(
        task="t2i",
        inputs="unused.jsonl",
        out=str(tmp / "unused"),
        pipeline=str(pipeline or "in-memory"),
        steps=args.steps,
        guidance=args.guidance,
        width=args.resolution,
        height=args.resolution,
        compile=compile_unet,
    )
    times = StageTimes()
    generator = Generator(cfg, device, times, pipe=None if args.tiny else sdxl_pipeline())
    captions = [f"a photograph of object number {i}" for i in range(args.batch)]
    generator(captions, list(range(args.batch)))  # warm-up: compilation, allocator, kernels autotuning
    times.seconds.clear()
    start = time.perf_counter()
    for r in range(args.repeats):
        generator(captions, [args.batch * (r + 1) + i for i in range(args.batch)])
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    images = args.batch * args.repeats
    shares = {SHARE_COLUMNS[s]: 100 * times.seconds.get(s, 0.0) / wall for s in STAGES}
    return {
        "pipeline": name,
        "resolution": args.resolution,
        "steps": args.steps,
        "guidance": args.guidance,
        "batch": args.batch,
        "compile": compile_unet,
        "images_per_s": images / wall,
        "s_per_image": wall / images,
        **shares,
        "other_%": 100 - sum(shares.values()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = harness.parser(__doc__, device=False)
    parser.add_argument("--tiny", action="store_true", help="the tiny test pipeline on the CPU (a smoke run)")
    parser.add_argument("--resolution", type=int, help="square side (default 1024; --tiny: 64)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--batch", type=int, help="images per pipeline call (default 4; --tiny: 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed batches after one warm-up batch")
    parser.add_argument(
        "--compile", nargs="+", type=lambda v: v == "on", default=[False, True], metavar="off|on",
        help="runs without and with torch.compile of the UNet (default: both)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.resolution = args.resolution or (64 if args.tiny else 1024)
    args.batch = args.batch or (2 if args.tiny else 4)
    run(args)


if __name__ == "__main__":
    main()
