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
    after=("download", "generate"),
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
    changed_inputs=lambda cfg: _changed_inputs(cfg),
    kind=RunStore.KIND,
    inputs=lambda cfg: [*cfg.inputs, *([cfg.clip_config] if cfg.clip_config else [])],
)


def _changed_inputs(cfg: ScoreConfig) -> str:
    """How the input files differ from those the store was planned from ("" when they do not)."""
    from pixsift.engine.io.input_files import input_files
    from pixsift.engine.io.paths import expand_inputs
    from pixsift.engine.store.input_record import input_changes

    store = RunStore.open(cfg.store, read_only=True)
    return input_changes(store, input_files(expand_inputs(cfg.inputs), cfg.allow_outside_paths)).text()


def _scored(url: str) -> bool:
    """Whether the run store at `url` is planned and every unit of it scored."""
    try:
        store = RunStore.open(url, read_only=True)
    except UserError:
        return False
    return store.planned and not store.pending_units()
