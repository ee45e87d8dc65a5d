"""Settings of `pixsift caption` and `pixsift judge`: the model, the rows, and each stage's own."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pixsift.engine.core.config import SettingError, setting
from pixsift.engine.core.device import DTYPES
from pixsift.engine.core.llm_backend import BackendConfig
from pixsift.engine.executors.config import ExecutorConfig
from pixsift.engine.io.sources import MAX_BYTES

# ShareGPT4V's instruction for its detailed captions (Chen et al. 2023).
SHAREGPT4V_PROMPT = "Analyze the image in a comprehensive and detailed manner."
_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(kw_only=True)
class VlmConfig(BackendConfig, ExecutorConfig):
    store: str = setting(positional=True, help="the run store (made by pixsift score)")
    model: str = setting(
        affects_values=True,
        help="a local vision-language model folder: transformers AutoModelForImageTextToText and its "
        "processor with a chat template (Qwen2.5-VL, LLaVA-OneVision, Janus-Pro, ...)",
    )
    selection: str | None = setting(
        None,
        affects_values=True,
        help="only the rows this selection kept (the others are 'skipped'); default: every scored row",
    )
    dtype: str = setting(
        "auto",
        choices=DTYPES,
        affects_values=True,
        help="model dtype (auto: bfloat16 on a GPU, else float32)",
    )
    batch_size: int = setting(8, min=1, max=4096, help="rows per model batch (batched by image size)")
    replace: bool = setting(
        False, help="make the annotation set again when it was made with other settings (else refused)"
    )
    max_bytes: int = setting(MAX_BYTES, min=1, help="images larger than this are not read")
    prefetch_batches: int = setting(2, min=1, max=64, help="batches read and decoded ahead of the model")

    def check_name(self, field: str, value: str) -> None:
        if not _NAME.fullmatch(value):
            raise SettingError(
                field, f"must be lowercase letters, digits and _, starting with a letter: {value!r}"
            )


@dataclass(kw_only=True)
class CaptionConfig(VlmConfig):
    column: str = setting(
        "caption_vlm",
        help="the caption's column; the set adds <column>_tokens, _truncated, _repetition, _flags",
    )
    prompt: str = setting(
        SHAREGPT4V_PROMPT, affects_values=True, help="what the model is asked for each image"
    )
    max_new_tokens: int = setting(
        512,
        min=1,
        max=1 << 16,
        affects_values=True,
        help="longest caption in tokens (longer ones are flagged)",
    )
    repetition_ngram: int = setting(
        4, min=1, max=64, affects_values=True, help="word n-grams counted for <column>_repetition"
    )
    repetition_max: float = setting(
        0.2,
        min=0.0,
        max=1.0,
        affects_values=True,
        help="flag a caption 'repetitive' when more than this share of its n-grams repeat an earlier one",
    )

    def check(self) -> None:
        super().check()
        self.check_name("column", self.column)


@dataclass(kw_only=True)
class JudgeConfig(VlmConfig):
    rubrics: list[str] = setting(
        flag="--rubric",
        affects_values=True,
        help="t2i, edit (engine/vlm/rubrics), or a rubric TOML file of your own; repeat it to judge each "
        "task by its own rubric (each makes its own set)",
    )
    name: str | None = setting(
        None,
        help="the annotation set and its columns' prefix, with one rubric (default: judge_<rubric name>)",
    )
    explain: bool = setting(
        False, affects_values=True, help="also generate the model's short reasoning into <name>_explain"
    )
    explain_tokens: int = setting(
        96, min=1, max=4096, affects_values=True, help="longest explanation in tokens"
    )

    NEEDS = {"explain_tokens": "explain"}

    def check(self) -> None:
        super().check()
        if not self.rubrics:
            raise SettingError("rubrics", "name at least one rubric")
        if self.name is not None:
            self.check_name("name", self.name)
            if len(self.rubrics) > 1:
                raise SettingError("name", f"names one set, but {len(self.rubrics)} rubrics are given")

    def set_names(self) -> list[str]:
        """The annotation set of each rubric."""
        return [self.name or f"judge_{Path(rubric).stem}" for rubric in self.rubrics]
