"""`pixsift tokenize` and `pixsift train`, registered with the `pixsift` command through the
`pixsift.commands` entry points (pyproject.toml): the engine never imports the trainer.

pixsift train --recipe janus4o --tokens TOKENS --model JANUS --out RUN [--set section.key=value ...]
deepspeed --num_gpus 8 --module engine.cli train --recipe janus4o ...
"""

from __future__ import annotations

from engine.core.commands import add_command, config_from
from trainer.tokenize import TokenizeConfig


def add_tokenize(sub) -> None:
    add_command(
        sub,
        "tokenize",
        _run_tokenize,
        config=TokenizeConfig,
        help="tokenize a selection for Janus training into a Zarr token store (resumable)",
        description="Each kept row of the selection to its Janus prompt tokens and the VQ codes of its image "
        "(and, for edits, its source image as pixels and codes), in a Zarr token store that `pixsift train` "
        "reads. Run the same command again to resume a killed job.",
    )


def _run_tokenize(args) -> int:
    from trainer.tokenize import tokenize

    cfg = config_from(args, TokenizeConfig)
    tokenize(cfg).report(cfg.out)
    return 0


def add_train(sub) -> None:
    p = add_command(
        sub,
        "train",
        _run_train,
        help="fine-tune Janus-Pro on a token store with DeepSpeed ZeRO (resumable)",
        description="Fine-tune Janus-Pro for image generation on a token store written by `pixsift "
        "tokenize`, with the settings of a recipe (shipped: trainer/recipes/) and overrides. Logs each step "
        "to the console and <out>/train_log.jsonl, checkpoints to <out>/checkpoints, and exports a Hugging "
        "Face checkpoint to <out>/hf. One plain process on the CPU, or one per GPU under the `deepspeed` "
        "launcher.",
    )
    source = p.add_mutually_exclusive_group()
    source.add_argument("--recipe", default="janus4o", help="a shipped recipe name or a TOML file (janus4o)")
    source.add_argument("--config", metavar="FILE.toml", help="a recipe file (the same as --recipe FILE)")
    p.add_argument("--tokens", required=True, help="the token store")
    p.add_argument("--model", required=True, help="local Janus-Pro checkpoint folder (transformers format)")
    p.add_argument("--out", required=True, help="run folder: log, checkpoints, exported model")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a recipe setting, e.g. parallel.zero_stage=3 or optim.lr=1e-5 (repeatable)",
    )
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in <out>")


def _run_train(args) -> int:
    from trainer.config import load_config
    from trainer.loop import train

    cfg = load_config(args.config or args.recipe, args.overrides)
    cfg.data.tokens, cfg.model.path, cfg.out = args.tokens, args.model, args.out
    train(cfg, resume=args.resume)
    return 0
