"""`pixsift inspect`: what a run store holds."""

from __future__ import annotations

from engine.core.commands import add_command, config_from
from engine.store.inspect import InspectConfig


def add(sub) -> None:
    add_command(
        sub,
        "inspect",
        _run,
        config=InspectConfig,
        help="print a run store's schema, counts and score statistics",
    )


def _run(args) -> int:
    from engine.store.inspect import inspect

    print(inspect(config_from(args, InspectConfig).store))
    return 0
