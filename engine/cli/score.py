"""`pixsift score`: the command-line side of engine.score."""

from __future__ import annotations

from engine.core.commands import add_command, config_from
from engine.score.config import ScoreConfig


def add(sub) -> None:
    add_command(
        sub,
        "score",
        _run,
        config=ScoreConfig,
        config_help="TOML file of settings: keys are the fields of engine.score.config.ScoreConfig",
        help="score image-text candidates into a Zarr run store (resumable)",
        description="Score every candidate: CLIP embeddings, CLIP cosine and CLIPScore, round-trip SSIM, "
        "size and format, into a Zarr run store. Run the same command again to resume a killed job.",
    )


def _run(args) -> int:
    from engine.score.job import score

    cfg = config_from(args, ScoreConfig)
    score(cfg).report(cfg.store)
    return 0
