"""What an extra scorer adds to `pixsift score`, per image: the same pool scored with the main CLIP alone,
then with each scorer beside it, at the scorer's real size with random weights (the cost is the same).

    python -m benchmarks.bench_scorers                 # every kind: PickScore, HPSv2, aesthetic, ImageReward
    python -m benchmarks.bench_scorers --candidates 64 --model ViT-L-14
    python -m benchmarks.bench_scorers --scorers image_reward   # the main CLIP alone, then that scorer
    python -m benchmarks.bench_scorers --shape tiny --candidates 8   # tiny models: the code path only

PickScore's folder is a transformers CLIPModel of PickScore_v1's shape (ViT-H/14: vision 1280 wide, 32
layers, patch 14 at 224; text 1024 wide, 24 layers; projection 1024), built once into the cache with a
character-level tokenizer (captions come out longer than with CLIP's BPE, so its text tower does a little
more work than the real one). HPSv2's checkpoint is open_clip's ViT-H-14 with random weights under
"state_dict", as HPS_v2.1_compressed.pt holds them. The aesthetic predictor's folder is a random SigLIP
so400m-patch14-384 vision tower (1152 wide, 27 layers, 384 px) with a random v2.5 head. ImageReward's folder
holds a random ImageReward.pt of the release's shape (BLIP's ViT-L/16 at 224: 1024 wide, 24 layers; its
BERT-base: 768 wide, 12 layers, cross-attention to the image) with its med_config.json.
`--shape tiny` builds each kind at the tests' tiny sizes instead (HPSv2 has one architecture, ViT-H-14, so it
has no tiny shape): a check of the code path, not a figure. `added_s_per_image` is (wall with the scorer -
wall without) / images, the scorer's loading included.
"""

from __future__ import annotations

from pathlib import Path

import torch

from benchmarks import harness
from benchmarks.photo_pool import POOL_DIR, make_pool, score_pool
from tests.fixtures import scorer_models
from tests.fixtures.tiny_diffusers import char_tokenizer

SO400M = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
              image_size=384, patch_size=14)  # fmt: skip
PICKSCORE_SHAPE = dict(
    vision=dict(hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=16,
                image_size=224, patch_size=14),
    text=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
              max_position_embeddings=77, vocab_size=49408),
    projection_dim=1024,
)  # fmt: skip


TINY = dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=2)  # the tests'
TINY_PICKSCORE = dict(
    vision={**TINY, "image_size": 224, "patch_size": 32},
    text={**TINY, "vocab_size": len(char_tokenizer()), "max_position_embeddings": 77},
    projection_dim=16,
)


def pickscore_folder(cache: Path, shape: str) -> str:
    """A random CLIPModel of PickScore_v1's shape (or tiny) with a CLIP processor, saved once into `cache`."""
    folder = cache / f"pickscore-{shape}"
    if not (folder / "config.json").exists():
        sizes = PICKSCORE_SHAPE if shape == "real" else TINY_PICKSCORE
        scorer_models.save_pickscore(folder, sizes["text"], sizes["vision"], sizes["projection_dim"])
    return str(folder)


def hpsv2_checkpoint(cache: Path, shape: str) -> str:
    """A random open_clip ViT-H-14 saved as HPSv2's checkpoint is, once into `cache`."""
    path = cache / "hpsv2-shape.pt"
    return str(path) if path.exists() else scorer_models.save_hpsv2(path, "ViT-H-14")


def aesthetic_folder(cache: Path, shape: str) -> str:
    """A random SigLIP so400m-patch14-384 vision tower (or a tiny one) and a v2.5 head, saved as the
    predictor's folder is."""
    from pixsift.engine.score.scorers.aesthetic_v25 import HEAD

    folder = cache / f"aesthetic-v25-{shape}"
    vision = SO400M if shape == "real" else {**TINY, "image_size": 56, "patch_size": 14}
    return str(folder) if (folder / HEAD).exists() else scorer_models.save_aesthetic_v25(folder, vision, HEAD)


IMAGE_REWARD_SHAPES = {
    "real": dict(
        vision=dict(width=1024, depth=24, patch=16, image_size=224),
        text=dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                  vocab_size=30524),
    ),
    "tiny": dict(
        vision=dict(width=128, depth=2, patch=16, image_size=224),
        text=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
    ),
}  # fmt: skip


def image_reward_folder(cache: Path, shape: str) -> str:
    """A random ImageReward.pt of the release's shape (or tiny) with its med_config.json, saved once into
    `cache`."""
    from tests.fixtures.image_reward import save_image_reward

    folder = cache / f"image-reward-{shape}"
    if not (folder / "ImageReward.pt").exists():
        save_image_reward(folder, IMAGE_REWARD_SHAPES[shape]["vision"], IMAGE_REWARD_SHAPES[shape]["text"])
    return str(folder)


SCORERS = {
    "pickscore": ("pickscore", pickscore_folder),
    "hpsv2": ("hps", hpsv2_checkpoint),
    "aesthetic_v25": ("aesthetic", aesthetic_folder),
    "image_reward": ("image_reward", image_reward_folder),
}


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--model", default="ViT-B-32", help="the main CLIP")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "pixsift" / "bench_scorers")
    parser.add_argument("--scorers", nargs="+", choices=sorted(SCORERS))
    parser.add_argument("--shape", choices=("real", "tiny"), default="real")
    args = parser.parse_args()
    tiny = [k for k in SCORERS if k != "hpsv2"]
    args.scorers = args.scorers or (list(SCORERS) if args.shape == "real" else tiny)
    if args.shape == "tiny" and "hpsv2" in args.scorers:
        parser.error("hpsv2 has one architecture (ViT-H-14): no tiny shape")
    device = torch.device(args.device)
    args.cache.mkdir(parents=True, exist_ok=True)
    manifest = make_pool(POOL_DIR / "mixed", args.candidates, distinct=min(args.candidates, 512), size=None)
    settings = dict(clip_model=args.model, device=device.type, batch_size=args.batch_size, shard_rows=4096)
    runs = {"none": {}}
    for kind in args.scorers:
        column, folder = SCORERS[kind]
        runs[kind] = {"scorers": {column: folder(args.cache, args.shape)}}
    walls = {}
    for scorer, extra in runs.items():
        walls[scorer] = score_pool(manifest, **settings, **extra).wall_seconds
    rows = [
        dict(
            benchmark="scorers",
            scorer=scorer,
            shape=args.shape,
            main_model=args.model,
            candidates=args.candidates,
            wall_s=wall,
            images_per_s=args.candidates / wall,
            added_s_per_image=(wall - walls["none"]) / args.candidates,
        )
        for scorer, wall in walls.items()
    ]
    env, hardware = (
        harness.environment(device, ("open_clip_torch", "transformers")),
        harness.measure_hardware(device),
    )
    harness.print_table(
        f"pixsift score with extra scorers ({env['device']})",
        rows,
        ("scorer", "shape", "main_model", "candidates", "wall_s", "images_per_s", "added_s_per_image"),
    )
    print(harness.append_results("bench_scorers", rows, env, hardware, args.results))


if __name__ == "__main__":
    main()
