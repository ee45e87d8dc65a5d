"""The trainer's `pixsift` commands as the command lists them (the `pixsift.commands` entry points in
pyproject.toml): each one's stage (or parser) and run function are in trainer/cli.py, loaded only when
it runs."""

from __future__ import annotations

from pixsift.engine.core.commands import Command

TOKENIZE = Command(
    "tokenize",
    "tokenize a selection for Janus training into a Zarr token store (resumable)",
    "pixsift.trainer.cli:TOKENIZE_STAGE.add",
)
TRAIN = Command(
    "train",
    "fine-tune Janus-Pro on a token store with DeepSpeed ZeRO (resumable)",
    "pixsift.trainer.cli:TRAIN_STAGE.add",
)
SAMPLE = Command(
    "sample",
    "generate images from a Janus-Pro checkpoint for a file of prompts (text-to-image and editing)",
    "pixsift.trainer.cli:SAMPLE_STAGE.add",
)
CONVERT_JANUS = Command(
    "convert-janus",
    "convert a Janus / Janus-Pro folder in DeepSeek's original format into transformers' format",
    "pixsift.trainer.cli:add_convert_janus",
)
