"""Training throughput of Janus-Pro image generation on the GPU at hand: tokens/s and MFU of the 1B and 7B
shapes with random weights, through the code `pixsift train` runs (the DeepSpeed engine of trainer.train.job,
ZeRO-1, bf16, SDPA, gradient checkpointing, the janus4o recipe), and the projected wall time of the
Janus-4o recipe on 8 GPUs of that kind.

    python -m benchmarks.bench_train --shape 1b               # Janus-Pro-1B, full depth
    python -m benchmarks.bench_train --shape 1b --no-checkpointing  # 1B fits an 80 GB GPU without it
    python -m benchmarks.bench_train --shape 7b --layers 4 8  # 7B width at 4 and 8 of its 30 layers
    python -m benchmarks.bench_train --tiny                   # the tiny test model on the CPU
    python -m benchmarks.bench_train --shape 1b --results benchmarks/results   # record the rows

Batches are built before the timed steps (training's DataLoader workers build them ahead of the step),
and the rows are written only where `--results` says (by default nowhere: a check run leaves the checkout
alone).

Text-to-image and editing micro-batches are timed apart (training sorts each step's samples by length into
its micro-batches, so most hold one task), at
the sequence lengths of the recipe: the SFT template, a prompt of `--t2i-prompt-tokens` /
`--edit-prompt-tokens` tokens, an edit's two source blocks and the image positions. A 7B model does not fit
one GPU with full-depth AdamW states, so it is timed at truncated depths and the step time is fitted as
a + b * layers (the layers are identical) and extrapolated to 30 layers; with one depth, the step time is
scaled by 30 / layers. The projection divides the recipe's samples (45,717 text-to-image + 46,539 editing,
3 epochs) by 8 x the per-GPU rate x `--dp-efficiency`, and prints every assumption. `--tiny` only checks the
benchmark runs: its rows say `tiny` and its numbers say nothing about a GPU.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch

from benchmarks import harness
from pixsift.trainer.common.image_prep import SiglipNorm
from pixsift.trainer.common.prompt_format import SpecialIds
from pixsift.trainer.train.config import load_config
from pixsift.trainer.train.data import SampleFormat
from pixsift.trainer.train.flops import TrainingFlops, peak_flops
from pixsift.trainer.train.job import build_engine, init_distributed, train_step
from pixsift.trainer.train.loss import ImageGenerationModel
from pixsift.trainer.train.trainable import prepare_for_training
from tests.fixtures.tiny_janus import RELEASED_VOCAB, build_tokenizer, janus_config

RECIPE_SAMPLES = {"t2i": 45_717, "edit": 46_539}
RECIPE_EPOCHS = 3
FULL_DEPTH = {"tiny": 2, "1b": 24, "7b": 30}
TEMPLATE_TOKENS = 10  # BOS, "<|User|>: " and "\n\n<|Assistant|>:" around the prompt
PREBUILT_BATCHES = 4


def build_model(shape: str, layers: int, cfg, device: torch.device, ids: SpecialIds):
    from transformers import JanusForConditionalGeneration

    vocab = 400 if shape == "tiny" else RELEASED_VOCAB
    config = janus_config(shape, vocab, ids.image, 64 if shape == "tiny" else 384)
    config.text_config.num_hidden_layers = layers
    dtype = torch.bfloat16 if cfg.parallel.bf16 else torch.float32
    with torch.device(device):
        janus = JanusForConditionalGeneration._from_config(
            config, attn_implementation=cfg.model.attn_implementation, dtype=dtype
        )
    prepare_for_training(janus, cfg.model)
    return ImageGenerationModel(janus)


def batches(fmt: SampleFormat, kind: str, micro_batch: int, prompt_tokens: int, codebook: int, size: int):
    """An endless stream of random micro-batches of one kind at the recipe's sequence length."""
    rng = np.random.default_rng(0)
    t = fmt.n_image_tokens
    while True:
        samples = []
        for _ in range(micro_batch):
            prompt = rng.integers(10, 300, TEMPLATE_TOKENS + prompt_tokens)
            prompt[0] = fmt.ids.bos
            codes = rng.integers(0, codebook, t)
            source = None
            if kind == "edit":
                prompt[TEMPLATE_TOKENS // 2] = fmt.ids.image
                source = (rng.integers(0, 256, (size, size, 3), dtype=np.uint8), rng.integers(0, codebook, t))
            samples.append(fmt.sample(prompt, codes, source))
        yield fmt.collate(samples)


def measure(args, cfg, proc, shape: str, layers: int, kind: str, peak: float | None) -> dict:
    tokenizer = build_tokenizer()
    ids = SpecialIds.of(tokenizer)
    model = build_model(shape, layers, cfg, proc.device, ids)
    config = model.janus.config
    fmt = SampleFormat(ids, config.vision_config.num_image_tokens, SiglipNorm((0.5,) * 3, (0.5,) * 3))
    prompt = args.edit_prompt_tokens if kind == "edit" else args.t2i_prompt_tokens
    made = batches(
        fmt,
        kind,
        cfg.parallel.micro_batch,
        prompt,
        config.vq_config.num_embeddings,
        config.vision_config.image_size,
    )
    # Built before timing, as training's DataLoader workers build batches ahead of the step.
    stream = itertools.cycle(list(itertools.islice(made, PREBUILT_BATCHES)))
    flops = TrainingFlops.of(config, cfg.model.trainable)
    engine = build_engine(model, cfg, args.warmup + args.steps, proc.world_size)
    if proc.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    records = [train_step(engine, stream, 1, proc, flops, peak) for _ in range(args.warmup + args.steps)]
    timed = records[args.warmup :]
    seconds = float(np.median([r["step_seconds"] for r in timed]))
    tokens = timed[-1]["tokens"]
    achieved = float(np.median([r["flops"] for r in timed])) / seconds
    row = {
        "shape": shape,
        "layers": layers,
        "kind": kind,
        "checkpointing": cfg.model.gradient_checkpointing,
        "micro_batch": cfg.parallel.micro_batch,
        "seq_len": tokens // cfg.parallel.micro_batch,
        "step_s": seconds,
        "tokens_per_s": tokens / seconds,
        "samples_per_s": cfg.parallel.micro_batch / seconds,
        "TFLOPs": achieved / 1e12,
        "mfu_%": None if peak is None else 100 * achieved / peak,
        "memory_gib": max(r["memory_gib"] for r in timed),
        "loss": timed[-1]["loss"],
    }
    del engine, model
    if proc.device.type == "cuda":
        torch.cuda.empty_cache()
    return row


def full_depth_step(rows: list[dict], depth: int) -> float:
    """Seconds per step at `depth` layers from steps timed at truncated depths: a + b * layers fitted
    through the measured depths (scaled proportionally from a single one)."""
    layers = np.array([r["layers"] for r in rows], float)
    seconds = np.array([r["step_s"] for r in rows], float)
    if len(set(layers)) == 1:
        return float(seconds.mean() * depth / layers[0])
    slope, intercept = np.polyfit(layers, seconds, 1)
    return float(intercept + slope * depth)


def projection(args, rows: list[dict], shape: str, micro_batch: int) -> tuple[dict, list[str]]:
    depth = FULL_DEPTH[shape]
    gpus, eff = args.gpus, args.dp_efficiency
    hours = {}
    for kind, n in RECIPE_SAMPLES.items():
        step = full_depth_step([r for r in rows if r["kind"] == kind], depth)
        samples_per_s = micro_batch / step * gpus * eff
        hours[kind] = RECIPE_EPOCHS * n / samples_per_s / 3600
    truncated = sorted({r["layers"] for r in rows} - {depth})
    assumptions = [
        f"{sum(RECIPE_SAMPLES.values()):,} samples ({RECIPE_SAMPLES['t2i']:,} text-to-image, "
        f"{RECIPE_SAMPLES['edit']:,} editing) x {RECIPE_EPOCHS} epochs, global batch {gpus * micro_batch} = "
        f"{micro_batch} per GPU x {gpus} GPUs",
        f"prompts of {args.t2i_prompt_tokens} (text-to-image) and {args.edit_prompt_tokens} (editing) tokens "
        f"plus {TEMPLATE_TOKENS} of template",
        f"data-parallel efficiency {eff:.0%} on {gpus} GPUs (gradient all-reduce / ZeRO-1 partitioned step "
        "overlapping the backward pass); one GPU's step includes the whole AdamW step, 8 GPUs split it",
    ]
    if truncated:
        assumptions.append(
            f"{shape} step time extrapolated from {', '.join(map(str, truncated))} layers to {depth} "
            "(identical layers: time = a + b * layers)"
        )
    row = {
        "shape": shape,
        "kind": "projection",
        "gpus": gpus,
        "t2i_hours": hours["t2i"],
        "edit_hours": hours["edit"],
        "recipe_hours": sum(hours.values()),
    }
    return row, assumptions


def run(args: argparse.Namespace) -> list[dict]:
    shape = "tiny" if args.tiny else args.shape
    if not args.tiny and not torch.cuda.is_available():
        raise SystemExit(
            "bench_train: the 1B/7B shapes need a CUDA GPU and none is visible; "
            "run `python -m benchmarks.bench_train --tiny` for the CPU check"
        )
    overrides = [f"parallel.micro_batch={args.micro_batch}", f"parallel.global_batch={args.micro_batch}"]
    if args.tiny:
        overrides += ["parallel.bf16=false"]
    if args.tiny or not args.checkpointing:
        overrides += ["model.gradient_checkpointing=false"]
    cfg = load_config("janus4o", overrides)
    proc = init_distributed()
    hw = harness.measure_hardware(proc.device)
    # On the CPU there is no data-sheet peak: MFU is against the measured fp32 matmul rate.
    peak = peak_flops(proc.device, 0.0 if proc.device.type == "cuda" else hw.fp32_ops_per_s / 1e12)
    env = harness.environment(proc.device, ("transformers", "deepspeed"))
    depths = args.layers or [FULL_DEPTH[shape]]
    rows = [
        measure(args, cfg, proc, shape, layers, kind, peak)
        for layers, kind in itertools.product(depths, ("t2i", "edit"))
    ]
    columns = ("shape", "layers", "kind", "checkpointing", "micro_batch", "seq_len", "step_s")
    columns += ("tokens_per_s", "samples_per_s")
    harness.print_table(
        f"Janus-Pro training, one {proc.device.type} device",
        rows,
        (*columns, "TFLOPs", "mfu_%", "memory_gib"),
    )
    if not args.tiny:
        row, assumptions = projection(args, rows, shape, args.micro_batch)
        harness.print_table(f"Janus-4o recipe on {args.gpus} x {env['device']}", [row], tuple(row))
        print("assumptions:\n" + "\n".join(f"  - {a}" for a in assumptions))
        rows.append({**row, "assumptions": assumptions})
    print("\n" + harness.append_results("bench_train", rows, env, hw, args.results))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = harness.parser(__doc__, device=False)
    parser.set_defaults(results="")  # rows are recorded only where asked: --results benchmarks/results
    parser.add_argument("--shape", choices=("1b", "7b"), default="1b")
    parser.add_argument("--tiny", action="store_true", help="the tiny test model on the CPU")
    parser.add_argument("--layers", type=int, nargs="+", help="truncated depths to time (default: full)")
    parser.add_argument("--micro-batch", type=int, default=8, help="samples per GPU per step (recipe: 8)")
    parser.add_argument(
        "--no-checkpointing",
        dest="checkpointing",
        action="store_false",
        help="without gradient checkpointing (the recipe's is on; a 1B model fits without it)",
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--t2i-prompt-tokens", type=int, default=120)
    parser.add_argument("--edit-prompt-tokens", type=int, default=40)
    parser.add_argument("--gpus", type=int, default=8, help="GPUs of the projection")
    parser.add_argument("--dp-efficiency", type=float, default=0.9)
    args = parser.parse_args(argv)
    if args.tiny:
        args.micro_batch, args.steps, args.warmup = min(args.micro_batch, 2), min(args.steps, 3), 1
    run(args)


if __name__ == "__main__":
    main()
