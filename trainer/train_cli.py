"""`pixsift train`: the command-line side of trainer.loop.

pixsift train --recipe janus4o --tokens TOKENS --model JANUS --out RUN [--set section.key=value ...]
deepspeed --num_gpus 8 --module engine.cli train --recipe janus4o ...
"""

from __future__ import annotations


def add_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="fine-tune Janus-Pro on a token store with DeepSpeed ZeRO (resumable)",
        description="Fine-tune Janus-Pro for image generation on a token store written by `pixsift "
        "tokenize`, with the settings of a recipe (shipped: trainer/recipes/) and overrides. Logs each step "
        "to the console and <out>/train_log.jsonl, checkpoints to <out>/checkpoints, and exports a Hugging "
        "Face checkpoint to <out>/hf. One plain process on the CPU, or one per GPU under the `deepspeed` "
        "launcher.",
    )
    p.add_argument(
        "--recipe", default="janus4o", help="a shipped recipe name or a TOML file (default janus4o)"
    )
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
    p.set_defaults(func=_run_train)


def _run_train(args) -> int:
    from engine.store.run_store import ConfigMismatch
    from trainer.config import ConfigError, load_config
    from trainer.loop import train

    try:
        cfg = load_config(args.recipe, args.overrides)
        cfg.data.tokens, cfg.model.path, cfg.out = args.tokens, args.model, args.out
        train(cfg, resume=args.resume)
    except (ConfigError, ConfigMismatch, FileExistsError, FileNotFoundError) as e:
        raise SystemExit(f"pixsift train: {e}") from e
    return 0
