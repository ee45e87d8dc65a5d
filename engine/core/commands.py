"""How a `pixsift` command is declared: its parser, its flags (derived from its config's fields) and the
function that runs it.

The `pixsift` program (engine.cli) builds one parser from every command: its own, and those other
packages register in the `pixsift.commands` entry-point group (the trainer's `tokenize` and `train`),
each an `add(subparsers)` function that calls `add_command`. A run function raises engine.core.errors
UserError for anything the user can fix; engine.cli prints it as one line and exits 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from engine.core.config import Config

ENTRY_POINTS = "pixsift.commands"


def add_command(
    subparsers,
    name: str,
    run: Callable[[argparse.Namespace], int],
    *,
    help: str,
    description: str = "",
    config: type[Config] | None = None,
    config_help: str = "",
    skip: tuple[str, ...] = (),
    rename: dict[str, str] | None = None,
) -> argparse.ArgumentParser:
    """A subcommand `name` that calls `run(args)`; with `config`, a --config FILE.toml flag and one flag per
    field of the config (but `skip`), whose values `config_from(args)` merges."""
    p = subparsers.add_parser(name, help=help, description=description or help)
    if config is not None:
        p.add_argument(
            "--config",
            metavar="FILE.toml",
            help=config_help or "settings file: keys are the flags' names with _",
        )
        config.add_arguments(p, skip=skip, rename=rename)
    p.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors"
    )
    p.set_defaults(run=run, parser=p, flag_names=dict(rename or {}))
    return p


def config_from(args: argparse.Namespace, config: type[Config], **values: Any) -> Config:
    """The config of a command: its --config file, then its flags, then `values` (None: not given)."""
    given = {**config.given(args), **{k: v for k, v in values.items() if v is not None}}
    return config.load(getattr(args, "config", None), given=given, flag_names=getattr(args, "flag_names", {}))
