"""`pixsift tokenize`, `pixsift train`, `pixsift sample` and `pixsift convert-janus`, registered with the
`pixsift` command through the `pixsift.commands` entry points (pyproject.toml): the engine never imports
the trainer.

pixsift train --recipe janus4o --tokens TOKENS --model JANUS --out RUN [--set section.key=value ...]
deepspeed --num_gpus 8 --module pixsift.engine.cli train --recipe janus4o ...
"""

from __future__ import annotations

from pathlib import Path

from pixsift.engine.core.commands import add_command, config_from
from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.pipeline import PipelineStage, all_fields, from_table
from pixsift.trainer.common.token_store import TokenStore
from pixsift.trainer.sample.job import OUTPUT_KIND as SAMPLES_KIND
from pixsift.trainer.sample.job import SampleConfig
from pixsift.trainer.tokenize.job import TokenizeConfig
from pixsift.trainer.train.config import OUTPUT_KIND as TRAIN_KIND
from pixsift.trainer.train.config import RESULT_SECTIONS


def add_tokenize(p) -> None:
    add_command(
        p,
        _run_tokenize,
        config=TokenizeConfig,
        description="Each kept row of the selection to its Janus prompt tokens and the VQ codes of its image "
        "(and, for edits, its source image as pixels and codes), in a Zarr token store that `pixsift train` "
        "reads. Run the same command again to resume a killed job.",
    )


def _run_tokenize(args) -> int:
    return _run_tokenize_config(config_from(args, TokenizeConfig))


def add_train(p) -> None:
    add_command(
        p,
        _run_train,
        description="Fine-tune Janus-Pro for image generation on a token store written by `pixsift "
        "tokenize`, with the settings of a recipe (shipped: trainer/train/recipes/) and overrides. Logs each "
        "step to the console and <out>/train_log.jsonl, checkpoints to <out>/checkpoints, and exports a "
        "Hugging Face checkpoint to <out>/hf. One plain process on the CPU, or one per GPU under the "
        "`deepspeed` launcher.",
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
    from pixsift.trainer.train.config import load_config
    from pixsift.trainer.train.job import train

    cfg = load_config(args.config or args.recipe, args.overrides)
    cfg.data.tokens, cfg.model.path, cfg.out = args.tokens, args.model, args.out
    train(cfg, resume=args.resume)
    return 0


def _train_config(table, where: str):
    from pixsift.trainer.train.config import load_config

    sections = dict(table)
    recipe = sections.pop("recipe", "janus4o")
    paths = {key: sections.pop(key, "") for key in ("tokens", "model", "out")}
    if missing := [key for key, value in paths.items() if not value]:
        raise BadInput(
            where, f"needs {', '.join(missing)} (the token store, the model folder, the run folder)"
        )
    cfg = load_config(recipe, sections=sections, where=where)
    cfg.data.tokens, cfg.model.path, cfg.out = paths["tokens"], paths["model"], paths["out"]
    return cfg


def _run_train_config(cfg) -> int:
    from pixsift.trainer.train.job import train

    train(cfg, resume=True)
    return 0


def _run_tokenize_config(cfg: TokenizeConfig) -> int:
    from pixsift.trainer.tokenize.job import tokenize

    tokenize(cfg).report(cfg.out)
    return 0


TOKENIZE_STAGE = PipelineStage(
    "tokenize",
    after=("select",),
    config=from_table(TokenizeConfig),
    run=_run_tokenize_config,
    outputs=lambda cfg: [cfg.out],
    settings=lambda cfg: cfg.value_settings(),
    provides=lambda cfg: {"tokens": cfg.out, "model": cfg.model},
    takes={"store": "store", "selection": "selection"},
    kind=TokenStore.KIND,
    inputs=lambda cfg: [cfg.store, cfg.model],
)

TRAIN_STAGE = PipelineStage(
    "train",
    after=("tokenize",),
    config=_train_config,
    run=_run_train_config,
    outputs=lambda cfg: [cfg.out],
    settings=lambda cfg: {k: v for k, v in cfg.to_dict().items() if k in RESULT_SECTIONS},
    provides=lambda cfg: {"model": str(cfg.export_dir)},
    takes={"tokens": "tokens", "model": "model"},
    complete=lambda cfg: (cfg.export_dir if cfg.checkpoint.export else cfg.checkpoint_dir).is_dir(),
    kind=TRAIN_KIND,
    inputs=lambda cfg: [cfg.data.tokens, cfg.model.path],
)


def add_sample(p) -> None:
    add_command(
        p,
        _run_sample,
        config=SampleConfig,
        description="Sample each prompt (text-to-image, or editing with a `source` image) with "
        "classifier-free guidance, seeded per prompt, into <out>/images, with samples.jsonl, captions.jsonl "
        "and contact_sheet.png; --score then scores them with the score stage, to compare checkpoints on the "
        "same prompts.",
    )


def _run_sample(args) -> int:
    return _run_sample_config(config_from(args, SampleConfig))


def _run_sample_config(cfg: SampleConfig) -> int:
    from pixsift.trainer.sample.job import sample

    sample(cfg)
    return 0


SAMPLE_STAGE = PipelineStage(
    "sample",
    after=("train",),
    config=from_table(SampleConfig),
    run=_run_sample_config,
    outputs=lambda cfg: [cfg.out],
    settings=all_fields,
    takes={"model": "model"},
    complete=lambda cfg: (Path(cfg.out) / "contact_sheet.png").is_file(),
    kind=SAMPLES_KIND,
    inputs=lambda cfg: [cfg.model, cfg.prompts],
)


def add_convert_janus(p) -> None:
    add_command(
        p,
        _run_convert_janus,
        description="Convert a local folder in DeepSeek's original Janus format (config model_type "
        "multi_modality, as deepseek-ai/Janus-Pro-7B ships) into transformers' Janus format, which tokenize, "
        "train and sample read. Offline; the weights are read as plain tensors; DST must not exist.",
    )
    p.add_argument("src", help="the original-format folder (config.json, weights, tokenizer.json)")
    p.add_argument("dst", help="the new transformers-format folder")


def _run_convert_janus(args) -> int:
    from pixsift.trainer.convert.job import convert_janus

    convert_janus(args.src, args.dst)
    return 0
