"""`pixsift caption`: a detailed caption per row from a local vision-language model, with what is wrong
with it (engine.vlm.caption_checks), into the annotation set named by the caption's column."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from pixsift.engine.store.schema import Column
from pixsift.engine.vlm.caption_checks import flags, repetition
from pixsift.engine.vlm.config import CaptionConfig
from pixsift.engine.vlm.job import run_model
from pixsift.engine.vlm.rows import RowBatch


class Captioner:
    stage, verb, task = "caption", "captioned", None

    def __init__(self, cfg: CaptionConfig):
        self.cfg = cfg
        self.name = cfg.column

    def columns(self) -> list[Column]:
        c = self.cfg.column
        return [
            Column(c, "str", "", "the caption the model wrote"),
            Column(f"{c}_tokens", "int32", -1, "its length in tokens; -1 when none was written"),
            Column(f"{c}_truncated", "uint8", 0, "1 when it stopped at the token limit"),
            Column(
                f"{c}_repetition", "float32", math.nan, "share of its word n-grams that repeat an earlier one"
            ),
            Column(f"{c}_flags", "str", "", "empty, truncated, repetitive: comma-separated; '' when none"),
        ]

    def settings(self) -> dict[str, Any]:
        return self.cfg.value_settings()

    def prepare(self, model) -> None:
        pass

    def annotate(self, model, batch: RowBatch, columns: dict[str, np.ndarray]) -> dict[int, str]:
        cfg, c = self.cfg, self.cfg.column
        prompt = model.prompt(cfg.prompt, 1)
        images = [[row["image"]] for row in batch.images]
        written, failed = run_model(
            model,
            [prompt] * len(images),
            images,
            cfg.max_new_tokens,
            lambda inputs: model.generate(inputs, cfg.max_new_tokens),
        )
        for i, out in written.items():
            position = batch.positions[i]
            repeated = repetition(out.text, cfg.repetition_ngram)
            columns[c][position] = out.text
            columns[f"{c}_tokens"][position] = out.tokens
            columns[f"{c}_truncated"][position] = out.hit_limit
            columns[f"{c}_repetition"][position] = repeated
            columns[f"{c}_flags"][position] = flags(out.text, out.hit_limit, repeated, cfg.repetition_max)
        return {batch.positions[i]: reason for i, reason in failed.items()}
