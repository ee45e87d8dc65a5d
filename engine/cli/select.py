"""`pixsift select`: the command-line side of engine.select (a spec file, a shipped recipe, or flags)."""

from __future__ import annotations

import sys

from pixsift.engine.core.pipeline import Stage
from pixsift.engine.select.config import SelectConfig


def run_select(cfg: SelectConfig) -> int:
    from pixsift.engine.select.job import select

    result = select(
        cfg.store, cfg.to_spec(), cfg.name, overwrite=cfg.overwrite, allow_partial=cfg.allow_partial
    )
    print(result.text())
    if warning := result.warning():
        print(f"pixsift select: warning: {warning}", file=sys.stderr)
    return 0


def _complete(cfg: SelectConfig) -> bool:
    from pixsift.engine.store.run_store import RunStore
    from pixsift.engine.store.selection import list_selections

    try:
        return cfg.selection_name() in list_selections(RunStore.open(cfg.store, read_only=True))
    except FileNotFoundError:
        return False


STAGE = Stage(
    "select",
    after=("score", "caption", "judge"),
    config=SelectConfig,
    description="Run a selection spec (a TOML file, a shipped recipe, or the flags below) over a run "
    "store: status ok, filters, the weighted score, best-of-N, top-k and quotas, in spec order. "
    "The kept rows and, for every dropped row, the step that dropped it are written into the store "
    "as selections/NAME.",
    run=run_select,
    outputs=lambda cfg: [],
    settings=lambda cfg: {"store": cfg.store, "name": cfg.selection_name(), "spec": cfg.to_spec().table},
    provides=lambda cfg: {"store": cfg.store, "selection": cfg.selection_name()},
    takes={"store": "store"},
    forced={"overwrite": True},
    starts_over=False,
    complete=_complete,
    inputs=lambda cfg: [cfg.store],
)
