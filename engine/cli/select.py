"""`pixsift select`: the command-line side of engine.select (a spec file, a shipped recipe, or flags)."""

from __future__ import annotations

import sys

from engine.core.commands import add_command, config_from
from engine.select.config import SelectConfig


def add(sub) -> None:
    add_command(
        sub,
        "select",
        _run,
        config=SelectConfig,
        help="choose rows of a run store by a selection spec and store them as a named selection",
        description="Run a selection spec (a TOML file, a shipped recipe, or the flags below) over a run "
        "store: status ok, filters, the weighted score, best-of-N, top-k and quotas, in spec order. "
        "The kept rows and, for every dropped row, the step that dropped it are written into the store "
        "as selections/NAME.",
    )


def _run(args) -> int:
    from engine.select.run import select

    cfg = config_from(args, SelectConfig)
    result = select(cfg.store, cfg.to_spec(), cfg.name, overwrite=cfg.overwrite)
    print(result.text())
    if warning := result.warning():
        print(f"pixsift select: warning: {warning}", file=sys.stderr)
    return 0
