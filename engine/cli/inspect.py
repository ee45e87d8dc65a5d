"""`pixsift inspect`: what a run store holds."""

from __future__ import annotations

from pixsift.engine.core.commands import add_command, config_from
from pixsift.engine.core.terminal import printable_lines
from pixsift.engine.store.inspect import InspectConfig


def add(p) -> None:
    add_command(
        p,
        _run,
        config=InspectConfig,
    )


def _run(args) -> int:
    from pixsift.engine.store.inspect import inspect

    print(printable_lines(inspect(config_from(args, InspectConfig).store)))
    return 0
