"""`pixsift score`: the command-line side of engine.score."""

from __future__ import annotations

from pixsift.engine.core.errors import UserError
from pixsift.engine.core.pipeline import Stage
from pixsift.engine.score.config import ScoreConfig
from pixsift.engine.store.run_store import RunStore


def run_score(cfg: ScoreConfig) -> int:
    from pixsift.engine.score.job import score

    score(cfg).report(cfg.store)
    return 0


STAGE = Stage(
    "score",
    after=("generate",),
    config=ScoreConfig,
    description="Score every candidate: CLIP embeddings, CLIP cosine and CLIPScore, round-trip SSIM, "
    "size and format, into a Zarr run store. Run the same command again to resume a killed job.",
    config_help="TOML file of settings: keys are the fields of engine.score.config.ScoreConfig",
    run=run_score,
    outputs=lambda cfg: [cfg.store],
    settings=lambda cfg: cfg.value_settings(),
    provides=lambda cfg: {"store": cfg.store},
    limit_key="limit",
    complete=lambda cfg: _scored(cfg.store),
    kind=RunStore.KIND,
    inputs=lambda cfg: [*cfg.inputs, *([cfg.clip_config] if cfg.clip_config else [])],
)


def _scored(url: str) -> bool:
    """Whether the run store at `url` is planned and every unit of it scored."""
    try:
        store = RunStore.open(url, read_only=True)
    except UserError:
        return False
    return store.planned and not store.pending_units()
