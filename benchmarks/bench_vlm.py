"""What `pixsift caption` and `pixsift judge` cost per image: a pool of mixed JPEGs (up to 1600x1200)
scored once, then captioned and judged by a Qwen2.5-VL with random weights (the cost is the same as trained
ones; a random model never ends a caption early, so every caption is max_new_tokens long, the worst case).

    python -m benchmarks.bench_vlm                           # Qwen2.5-VL-3B's shape, 4 images
    python -m benchmarks.bench_vlm --shape tiny --images 64  # the stage's own cost around a tiny model

Images go through Qwen's processor with max_pixels = --max-pixels (256 x 28 x 28 by default: 256 visual
tokens after the 2x2 merge, a setting Qwen's model card suggests to bound cost). `judge` asks the t2i
rubric's three questions (one forward pass each, no generation); `caption` generates --max-new-tokens.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import torch

from benchmarks import harness
from benchmarks.photo_pool import POOL_DIR, make_pool
from tests.fixtures.tiny_vlm import save_tiny_qwen25vl


def model_folder(cache: Path, shape: str, max_pixels: int, device: torch.device) -> str:
    """The random model of `shape`, saved once into `cache` (its weights drawn on `device`)."""
    folder = cache / f"qwen25vl-{shape}-{max_pixels}"
    if not (folder / "config.json").exists():
        save_tiny_qwen25vl(folder, shape, max_pixels=max_pixels, device=device.type)
    return str(folder)


def main() -> None:
    from pixsift.engine.score.config import ScoreConfig
    from pixsift.engine.score.job import score
    from pixsift.engine.vlm.caption import Captioner
    from pixsift.engine.vlm.config import CaptionConfig, JudgeConfig
    from pixsift.engine.vlm.job import annotate
    from pixsift.engine.vlm.judge import Judge

    parser = harness.parser(__doc__)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--shape", choices=("tiny", "3b"), default="3b")
    parser.add_argument("--max-pixels", type=int, default=256 * 28 * 28)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "pixsift" / "bench_vlm")
    args = parser.parse_args()
    device = torch.device(args.device)
    args.cache.mkdir(parents=True, exist_ok=True)
    model = model_folder(args.cache, args.shape, args.max_pixels, device)
    manifest = make_pool(POOL_DIR / "mixed", args.images, distinct=min(args.images, 512), size=None)
    shared = dict(model=model, device=device.type, batch_size=args.batch_size)
    rows = []
    with tempfile.TemporaryDirectory() as store:
        scored = ScoreConfig(
            inputs=[str(manifest)],
            store=store,
            clip_model="ViT-B-32",
            clip_random_init=True,
            device=device.type,
        )
        score(scored, io.StringIO())
        caption = CaptionConfig(store=store, max_new_tokens=args.max_new_tokens, **shared)
        judge = JudgeConfig(store=store, rubrics=["t2i"], **shared)
        stages = {
            "caption": (caption, Captioner(caption)),
            "judge t2i": (judge, Judge(judge, "t2i", "judge_t2i")),
        }
        for stage, (cfg, annotator) in stages.items():
            started = time.perf_counter()
            summary = annotate(cfg, annotator, io.StringIO())
            wall = time.perf_counter() - started
            tokens = args.max_new_tokens if stage == "caption" else 0
            rows.append(
                dict(
                    benchmark="vlm",
                    stage=stage,
                    shape=args.shape,
                    images=args.images,
                    max_pixels=args.max_pixels,
                    max_new_tokens=tokens,
                    wall_s=wall,
                    s_per_image=wall / args.images,
                    images_per_s=args.images / wall,
                    ok=summary.statuses.get("ok", 0),
                )
            )
    env, hardware = harness.environment(device, ("transformers",)), harness.measure_hardware(device)
    harness.print_table(
        f"pixsift caption and judge, Qwen2.5-VL {args.shape} shape ({env['device']})",
        rows,
        ("stage", "shape", "images", "max_pixels", "max_new_tokens", "wall_s", "s_per_image", "ok"),
    )
    print(harness.append_results("bench_vlm", rows, env, hardware, args.results))


if __name__ == "__main__":
    main()
