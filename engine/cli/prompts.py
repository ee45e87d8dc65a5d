"""`pixsift prompts`: the command-line side of engine.prompts."""

from __future__ import annotations

import os

from pixsift.engine.core.pipeline import Stage
from pixsift.engine.prompts.config import OUTPUT_KIND, PromptsConfig

POOL_FILE = "pool.parquet"  # engine.prompts.pool


def run_prompts(cfg: PromptsConfig) -> int:
    from pixsift.engine.prompts.job import write_prompts

    print(write_prompts(cfg).text())
    return 0


STAGE = Stage(
    "prompts",
    after=(),
    config=PromptsConfig,
    description="Draw a balanced plan of prompts from a taxonomy (every category x style cell its quota), "
    "have a local LLM write each one (and an enhancer LLM rewrite it), and filter them into OUT/pool.parquet "
    "(Data-Juicer's caption statistics as SynthVLM bounds them, perplexity, near-duplicates; the dropped "
    "ones with their reasons in OUT/rejects.parquet). Run the same command again to resume a killed job: "
    "finished units are kept.",
    run=run_prompts,
    outputs=lambda cfg: [cfg.out],
    settings=lambda cfg: cfg.value_settings(),
    provides=lambda cfg: {"captions": os.path.join(cfg.out, POOL_FILE)},
    kind=OUTPUT_KIND,
    inputs=lambda cfg: [p for p in (cfg.writer, cfg.enhancer, cfg.perplexity_model) if p],
)
