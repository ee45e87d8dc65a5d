"""Settings of `pixsift prompts`: the taxonomy, the writer and enhancer models, and the pool's filters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pixsift.engine.core.config import SettingError, setting
from pixsift.engine.core.device import DTYPES
from pixsift.engine.core.llm_backend import BackendConfig
from pixsift.engine.executors.config import ExecutorConfig
from pixsift.engine.io.ownership import claim_with_settings
from pixsift.engine.prompts.taxonomy import Taxonomy, load_taxonomy

SETTINGS_FILE = "prompts.json"
OUTPUT_KIND = "prompt pool"  # engine.io.ownership


@dataclass(kw_only=True)
class PromptsConfig(BackendConfig, ExecutorConfig):
    taxonomy: str = setting(
        positional=True,
        help="a taxonomy TOML file, or the name of a shipped one (fine_t2i)",
    )
    out: str = setting(help="folder of pool.parquet, rejects.parquet, plan.parquet, units/ and prompts.json")
    writer: str = setting(
        affects_values=True, help="the LLM that writes each prompt: a local causal LM folder"
    )
    writer_name: str | None = setting(
        None, affects_values=True, help="its name in the prompt_generator column (default: the folder's name)"
    )
    enhancer: str | None = setting(
        None,
        affects_values=True,
        help="an LLM that rewrites each prompt (the taxonomy's `enhance` instruction)",
    )
    enhancer_name: str | None = setting(
        None, affects_values=True, help="its name in the enhancer column (default: the folder's name)"
    )
    count: int | None = setting(
        None, min=1, affects_values=True, help="prompts to plan (default: the taxonomy's count)"
    )
    seed: int = setting(0, affects_values=True, help="seeds the plan and every batch's sampling")
    temperature: float = setting(0.8, min=0.01, affects_values=True, help="sampling temperature")
    top_p: float = setting(0.95, min=0.01, max=1.0, affects_values=True, help="nucleus sampling mass")
    max_new_tokens: int = setting(160, min=1, affects_values=True, help="tokens a written prompt may take")
    enhance_max_new_tokens: int = setting(
        256, min=1, affects_values=True, help="tokens an enhanced prompt may take"
    )
    batch_size: int = setting(16, min=1, max=4096, affects_values=True, help="prompts per model call")
    prompts_per_unit: int = setting(
        256, min=1, max=1 << 20, affects_values=True, help="prompts per work unit"
    )
    dtype: str = setting(
        "auto",
        choices=DTYPES,
        affects_values=True,
        help="model dtype (auto: bfloat16 on a GPU, else float32)",
    )
    perplexity_model: str | None = setting(
        None,
        affects_values=True,
        help="a local causal LM folder: each text's perplexity under it is a pool column (and a filter with "
        "--max-perplexity)",
    )
    # The filters: applied to the written units each time the command runs (changing one rewrites only
    # the pool and the rejects).
    keep_truncated: bool = setting(False, help="keep prompts the writer cut at its token limit")
    min_length: int = setting(10, min=0, help="fewest characters of a prompt (SynthVLM: 10)")
    max_length: int = setting(10000, min=1, help="most characters of a prompt (SynthVLM: 10000)")
    min_alnum_ratio: float = setting(
        0.60, min=0.0, max=1.0, help="least share of alphanumeric characters (SynthVLM: 0.60)"
    )
    max_char_repetition: float = setting(
        0.094, min=0.0, max=1.0, help="most character 10-gram repetition (SynthVLM: 0.094)"
    )
    max_word_repetition: float = setting(
        0.031, min=0.0, max=1.0, help="most word 10-gram repetition (SynthVLM: 0.031)"
    )
    max_perplexity: float | None = setting(
        None,
        min=0.0,
        help="most perplexity under --perplexity-model (SynthVLM's 5991 is for Data-Juicer's KenLM model; "
        "another model needs its own threshold)",
    )
    near_duplicate: float | None = setting(
        0.7,
        min=0.0,
        max=1.0,
        help="drop a prompt whose word 3-gram Jaccard similarity (MinHash) with an earlier kept one is at "
        "least this; 0 turns it off",
    )

    NEEDS = {"enhancer_name": "enhancer", "enhance_max_new_tokens": "enhancer"}

    def check(self) -> None:
        super().check()
        if self.max_perplexity is not None and self.perplexity_model is None:
            raise SettingError("max_perplexity", "needs --perplexity-model, the model it is measured with")
        if self.min_length > self.max_length:
            raise SettingError("min_length", f"{self.min_length} is more than --max-length {self.max_length}")

    def load_taxonomy(self) -> Taxonomy:
        return load_taxonomy(self.taxonomy)

    def planned_count(self, taxonomy: Taxonomy) -> int:
        count = self.count or taxonomy.count
        if not count:
            raise SettingError("count", f"the taxonomy {self.taxonomy} names no count: give --count")
        return count

    def names(self) -> dict[str, str]:
        """The prompt_generator and enhancer columns' values."""
        return {
            "prompt_generator": self.writer_name or Path(self.writer).name,
            "enhancer": (self.enhancer_name or Path(self.enhancer).name) if self.enhancer else "",
        }

    def value_settings(self) -> dict[str, Any]:
        settings = super().value_settings()
        settings["taxonomy"] = self.load_taxonomy().as_settings()  # its content, not where it was
        for key in ("writer", "enhancer", "perplexity_model"):
            if settings.get(key):
                settings[key] = str(Path(settings[key]).resolve())
        return settings

    def claim_output(self) -> None:
        claim_with_settings(self.out, OUTPUT_KIND, self.value_settings(), SETTINGS_FILE, "--out")
