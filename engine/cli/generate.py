"""`pixsift generate t2i` and `pixsift generate edit`: the command-line side of engine.generate."""

from __future__ import annotations

from pixsift.engine.core.pipeline import Stage
from pixsift.engine.generate.config import OUTPUT_KIND, GenerateConfig


def run_generate(cfg: GenerateConfig) -> int:
    from pixsift.engine.generate.job import generate

    print(generate(cfg).text())
    return 0


STAGE = Stage(
    "generate",
    after=(),
    config=GenerateConfig,
    description="Generate text-to-image or editing candidates into shards that `pixsift score` reads. "
    "Run the same command again to resume a killed job: finished shards are kept.",
    # A subcommand per task; the input is named for what it holds.
    variants={
        "t2i": ("captions -> N images per caption", {"task": "t2i"}, {"inputs": "--captions"}),
        "edit": (
            "(source image, instruction) pairs -> edited images",
            {"task": "edit"},
            {"inputs": "--pairs"},
        ),
    },
    run=run_generate,
    outputs=lambda cfg: [cfg.out],
    settings=lambda cfg: cfg.value_settings(),
    takes={"inputs": "captions"},  # a prompts stage's pool
    limit_key="limit",
    kind=OUTPUT_KIND,
    inputs=lambda cfg: [cfg.inputs, *cfg.generators().values()],
)
