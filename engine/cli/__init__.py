"""The `pixsift` command: `pixsift run` (a pipeline file), `generate`, `score`, `inspect`, `show`, `select`,
`export`, `report`, `demo`, and the commands other packages register (engine.core.commands):
`tokenize` and `train` from the trainer.

Every command shares one error path: a problem the user can fix (engine.core.errors.UserError) is one
line on stderr, `pixsift <command>: <input>: <problem>[; <what to do>]`, and exit status 2; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, entry_points, version

from engine.cli import demo, export, generate, inspect, report, run, score, select, show
from engine.core.commands import ENTRY_POINTS
from engine.core.errors import UserError

COMMANDS = (run, generate, score, inspect, show, select, export, report, demo)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(_without_local_rank(sys.argv[1:] if argv is None else argv))
    if extra:  # named by the (sub)command that was given them, with its usage
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "debug", False):
        return args.run(args)
    try:
        return args.run(args)
    except UserError as e:
        print(f"pixsift {args.command}: {e}", file=sys.stderr)
        return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixsift", description="GPU-native image-text data engine")
    parser.add_argument("--version", action="version", version=f"pixsift {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add(sub)
    for entry in sorted(entry_points(group=ENTRY_POINTS), key=lambda e: e.name):
        entry.load()(sub)
    return parser


def _without_local_rank(argv: list[str]) -> list[str]:
    """The `deepspeed` launcher passes `--local_rank=N` before the command (unless `--no_local_rank`);
    the trainer reads LOCAL_RANK from the environment, which the launcher also sets."""
    return [a for a in argv if not a.startswith("--local_rank=")]


def _version() -> str:
    try:
        return version("pixsift")
    except PackageNotFoundError:
        return "(not installed)"
