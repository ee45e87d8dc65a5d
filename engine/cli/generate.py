"""`pixsift generate t2i` and `pixsift generate edit`: the command-line side of engine.generate."""

from __future__ import annotations

from engine.executors.config import add_executor_arguments, executor_arguments
from engine.generate.config import DEFAULT_PIPELINE, IMAGE_FORMATS


def add_generate(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="generate candidates with a diffusers pipeline into WebDataset shards (resumable)",
        description="Generate text-to-image or editing candidates into shards that `pixsift score` reads. "
        "Run the same command again to resume a killed job: finished shards are kept.",
    )
    tasks = p.add_subparsers(dest="task", required=True)
    t2i = tasks.add_parser("t2i", help="captions -> N images per caption")
    t2i.add_argument("--captions", required=True, help="caption pool, .jsonl or .parquet (caption, id, ...)")
    _add_common(t2i)
    t2i.add_argument("--images-per-caption", type=int, default=1)
    t2i.add_argument("--resolution", type=int, help="square image side (default: the pipeline's)")
    t2i.add_argument("--width", type=int)
    t2i.add_argument("--height", type=int)
    edit = tasks.add_parser("edit", help="(source image, instruction) pairs -> edited images")
    edit.add_argument(
        "--pairs", required=True, help=".jsonl or .parquet of source (image path), instruction, id, ..."
    )
    _add_common(edit)
    edit.add_argument("--images-per-caption", type=int, default=1, help="edited images per pair")
    edit.add_argument("--resolution", type=int, help="resize sources to this square side (default: as is)")
    edit.add_argument("--image-guidance", type=float, help="InstructPix2Pix image guidance scale")
    p.set_defaults(func=_run_generate)


def _add_common(p) -> None:
    p.add_argument(
        "--out", required=True, help="folder of shard-NNNNNN.tar, plan.jsonl, rejects.jsonl, generate.json"
    )
    p.add_argument(
        "--pipeline", default=DEFAULT_PIPELINE, help="local folder or hub id in the local cache (no download)"
    )
    p.add_argument("--steps", type=int, help="inference steps (default: the pipeline's)")
    p.add_argument("--guidance", type=float, help="classifier-free guidance scale")
    p.add_argument("--scheduler", help="diffusers scheduler class name, e.g. EulerDiscreteScheduler")
    p.add_argument("--negative-prompt")
    p.add_argument("--seed", type=int, default=0, help="base seed; each image's seed derives from it")
    p.add_argument("--format", dest="image_format", choices=IMAGE_FORMATS, default="png")
    p.add_argument("--captions-per-shard", type=int, default=256, help="prompts per work unit and shard")
    p.add_argument("--batch-size", type=int, default=8, help="images per pipeline call")
    p.add_argument("--compile", action="store_true", help="torch.compile the denoiser")
    p.add_argument("--vae-slicing", action="store_true")
    p.add_argument("--vae-tiling", action="store_true")
    p.add_argument("--cpu-offload", action="store_true", help="model CPU offload (smaller GPUs)")
    add_executor_arguments(p)


def _run_generate(args) -> int:
    from engine.generate.config import GenerateConfig
    from engine.generate.job import generate

    width = args.width if args.task == "t2i" and args.width else args.resolution
    height = args.height if args.task == "t2i" and args.height else args.resolution
    cfg = GenerateConfig(
        task=args.task,
        inputs=args.captions if args.task == "t2i" else args.pairs,
        out=args.out,
        pipeline=args.pipeline,
        images_per_caption=args.images_per_caption,
        steps=args.steps,
        guidance=args.guidance,
        image_guidance=getattr(args, "image_guidance", None),
        width=width,
        height=height,
        scheduler=args.scheduler,
        negative_prompt=args.negative_prompt,
        seed=args.seed,
        image_format=args.image_format,
        captions_per_shard=args.captions_per_shard,
        batch_size=args.batch_size,
        compile=args.compile,
        vae_slicing=args.vae_slicing,
        vae_tiling=args.vae_tiling,
        cpu_offload=args.cpu_offload,
        **executor_arguments(args),
    )
    print(generate(cfg).text())
    return 0
