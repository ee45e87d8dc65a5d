"""What `pixsift caption` and `pixsift judge` share as stages: they write an annotation set inside the run
store (engine.store.annotations), which a changed setting replaces."""

from __future__ import annotations

from collections.abc import Callable

from pixsift.engine.core.errors import UserError
from pixsift.engine.core.pipeline import Stage


def annotation_stage(name: str, config: type, run: Callable, set_names: Callable, description: str) -> Stage:
    """The stage `name`; `set_names(cfg)`: the annotation sets it makes."""
    return Stage(
        name,
        after=("score",),
        config=config,
        description=description,
        config_help=f"TOML file of settings: keys are the fields of {config.__module__}.{config.__name__}",
        run=run,
        outputs=lambda cfg: [],
        settings=lambda cfg: {"store": cfg.store, "sets": set_names(cfg), **cfg.value_settings()},
        provides=lambda cfg: {"store": cfg.store},
        takes={"store": "store"},
        forced={"replace": True},
        starts_over=False,
        complete=lambda cfg: all(_annotated(cfg.store, name) for name in set_names(cfg)),
        inputs=lambda cfg: [cfg.model],
    )


def _annotated(store: str, name: str) -> bool:
    """Whether the run store has the annotation set `name`, every unit of it done."""
    from pixsift.engine.store.annotations import AnnotationStore

    try:
        found = AnnotationStore.open(AnnotationStore.url_of(store, name), read_only=True)
    except UserError:
        return False
    return found.planned and not found.pending_units()
