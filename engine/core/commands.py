"""How a `pixsift` command is declared: its name and one-line help, its parser, its flags (derived from its
config's fields) and the function that runs it.

The `pixsift` program (engine.cli) lists every command: its own, and those other packages register in the
`pixsift.commands` entry-point group (the trainer's `tokenize`, `train`, ...), each entry a `Command`. Only
the command that runs is loaded: its `add(parser)` function fills its parser, calling `add_command`, so
`pixsift --help` and `pixsift --version` import no command module. A run function raises
engine.core.errors UserError for anything the user can fix; engine.cli prints it as one line and exits 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pixsift.engine.core.config import Config

ENTRY_POINTS = "pixsift.commands"


@dataclasses.dataclass(frozen=True)
class Command:
    name: str
    help: str
    # "module:function" of its add(parser) ("module:STAGE.add" for a stage), imported only when it runs.
    add: str

    def fill(self, parser: argparse.ArgumentParser) -> None:
        module, _, function = self.add.partition(":")
        functools.reduce(getattr, function.split("."), importlib.import_module(module))(parser)


def add_command(
    p: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], int],
    *,
    description: str = "",
    config: type[Config] | None = None,
    config_help: str = "",
    skip: tuple[str, ...] = (),
    rename: dict[str, str] | None = None,
) -> argparse.ArgumentParser:
    """Command parser `p` calls `run(args)`; with `config`, a --config FILE.toml flag and one flag per
    field of the config (but `skip`), whose values `config_from(args)` merges."""
    if description:
        p.description = description
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
