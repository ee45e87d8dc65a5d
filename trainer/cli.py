"""`pixsift tokenize`, `pixsift train`, `pixsift sample` and `pixsift convert-janus`, registered with the
`pixsift` command through the `pixsift.commands` entry points (pyproject.toml): the engine never imports
the trainer.

pixsift train --recipe janus4o --tokens TOKENS --model JANUS --out RUN [--set section.key=value ...]
deepspeed --num_gpus 8 --module pixsift.engine.cli train --recipe janus4o ...
"""

from __future__ import annotations

from pathlib import Path

from pixsift.engine.core.commands import add_command
from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.pipeline import Stage, all_fields
from pixsift.trainer.common.token_store import TokenStore
from pixsift.trainer.sample.job import OUTPUT_KIND as SAMPLES_KIND
from pixsift.trainer.sample.job import SampleConfig
from pixsift.trainer.tokenize.job import TokenizeConfig
from pixsift.trainer.train.config import OUTPUT_KIND as TRAIN_KIND
from pixsift.trainer.train.config import PATH_KEYS, RESULT_SECTIONS, TrainConfig, TrainRun, load_config


def _train_config(table, where: str) -> TrainConfig:
    """A pipeline's [train] table: `recipe`, the paths, and tables of settings by section."""
    sections = dict(table)
    recipe = sections.pop("recipe", "janus4o")
    paths = {key: sections.pop(key, "") for key in PATH_KEYS}
    if missing := [key for key, value in paths.items() if not value]:
        raise BadInput(
            where, f"needs {', '.join(missing)} (the token store, the model folder, the run folder)"
        )
    return load_config(recipe, sections=sections, where=where, paths=paths, resume=True)


def _run_train(cfg: TrainConfig) -> int:
    from pixsift.trainer.train.job import train

    train(cfg, resume=cfg.resume)
    return 0


def _run_tokenize_config(cfg: TokenizeConfig) -> int:
    from pixsift.trainer.tokenize.job import tokenize

    tokenize(cfg).report(cfg.out)
    return 0


TOKENIZE_STAGE = Stage(
    "tokenize",
    after=("select",),
    config=TokenizeConfig,
    description="Each kept row of the selection to its Janus prompt tokens and the VQ codes of its image "
    "(and, for edits, its source image as pixels and codes), in a Zarr token store that `pixsift train` "
    "reads. Run the same command again to resume a killed job.",
    run=_run_tokenize_config,
    outputs=lambda cfg: [cfg.out],
    settings=lambda cfg: cfg.value_settings(),
    provides=lambda cfg: {"tokens": cfg.out, "model": cfg.model},
    takes={"store": "store", "selection": "selection"},
    kind=TokenStore.KIND,
    inputs=lambda cfg: [cfg.store, cfg.model],
)

TRAIN_STAGE = Stage(
    "train",
    after=("tokenize",),
    config=TrainRun,
    build=TrainRun.train_config,
    load=_train_config,
    description="Fine-tune Janus-Pro for image generation on a token store written by `pixsift tokenize`, "
    "with the settings of a recipe (shipped: trainer/train/recipes/) and overrides. Logs each step to the "
    "console and <out>/train_log.jsonl, checkpoints to <out>/checkpoints, and exports a Hugging Face "
    "checkpoint to <out>/hf. One plain process on the CPU, or one per GPU under the `deepspeed` launcher.",
    config_help="settings file: recipe, tokens, model, out, overrides (a list), resume",
    run=_run_train,
    outputs=lambda cfg: [cfg.out],
    settings=lambda cfg: {k: v for k, v in cfg.to_dict().items() if k in RESULT_SECTIONS},
    provides=lambda cfg: {"model": str(cfg.export_dir)},
    takes={"tokens": "tokens", "model": "model"},
    complete=lambda cfg: (cfg.export_dir if cfg.checkpoint.export else cfg.checkpoint_dir).is_dir(),
    kind=TRAIN_KIND,
    inputs=lambda cfg: [cfg.data.tokens, cfg.model.path],
)


def _run_sample_config(cfg: SampleConfig) -> int:
    from pixsift.trainer.sample.job import sample

    sample(cfg)
    return 0


SAMPLE_STAGE = Stage(
    "sample",
    after=("train",),
    config=SampleConfig,
    description="Sample each prompt (text-to-image, or editing with a `source` image) with "
    "classifier-free guidance, seeded per prompt, into <out>/images, with samples.jsonl, captions.jsonl "
    "and contact_sheet.png; --score then scores them with the score stage, to compare checkpoints on the "
    "same prompts.",
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
