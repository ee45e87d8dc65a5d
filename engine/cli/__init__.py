"""The `pixsift` command: `pixsift run` (a pipeline file), `prompts`, `generate`, `score`, `inspect`, `show`,
`search`, `caption`, `judge`, `select`, `export`, `report`, `demo`, and the commands other packages register
(engine.core.commands): `tokenize`, `train`, `sample` and `convert-janus` from the trainer.

Only the command that runs is loaded, so `pixsift --help` and `pixsift --version` import none of the heavy
libraries (torch, transformers, ...) and start at once.

Every command shares one error path: a problem the user can fix (engine.core.errors.UserError) is one
line on stderr, `pixsift <command>: <input>: <problem>[; <what to do>]`, and exit status 2; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib.metadata import PackageNotFoundError, entry_points, version

from pixsift.engine.core.commands import ENTRY_POINTS, Command
from pixsift.engine.core.errors import UserError, machine_error, missing_package

COMMANDS = (
    Command(
        "run",
        "run a pipeline file: download, prompts, generate, score, select, export, report, tokenize, train, "
        "sample (resumable)",
        "pixsift.engine.cli.run:add",
    ),
    Command(
        "download",
        "download a URL list with img2dataset into WebDataset shards that score reads (resumable)",
        "pixsift.engine.cli.download:STAGE.add",
    ),
    Command(
        "prompts",
        "write a balanced pool of prompts from a taxonomy with local LLMs, filtered (resumable)",
        "pixsift.engine.cli.prompts:STAGE.add",
    ),
    Command(
        "generate",
        "generate candidates with a diffusers pipeline into WebDataset shards (resumable)",
        "pixsift.engine.cli.generate:STAGE.add",
    ),
    Command(
        "score",
        "score image-text candidates into a Zarr run store (resumable)",
        "pixsift.engine.cli.score:STAGE.add",
    ),
    Command(
        "inspect", "print a run store's schema, counts and score statistics", "pixsift.engine.cli.inspect:add"
    ),
    Command(
        "show",
        "print rows of a run store: key, caption, scores, and why each failed or was dropped",
        "pixsift.engine.cli.show:add",
    ),
    Command(
        "search",
        "find the rows of a run store nearest a text or an image, by their stored CLIP embeddings",
        "pixsift.engine.cli.search:add",
    ),
    Command(
        "caption",
        "write a detailed caption per row of a run store with a local vision-language model (resumable)",
        "pixsift.engine.cli.caption:STAGE.add",
    ),
    Command(
        "judge",
        "score rows of a run store by a rubric with a local vision-language model's token probabilities "
        "(resumable)",
        "pixsift.engine.cli.judge:STAGE.add",
    ),
    Command(
        "select",
        "choose rows of a run store by a selection spec and store them as a named selection",
        "pixsift.engine.cli.select:STAGE.add",
    ),
    Command(
        "export",
        "write a selection's kept candidates as training data",
        "pixsift.engine.cli.export:STAGE.add",
    ),
    Command(
        "report",
        "write an HTML report of a selection: score histograms, funnel, thumbnails near the cut",
        "pixsift.engine.cli.report:STAGE.add",
    ),
    Command(
        "demo",
        "run the kernels on a folder of captioned photographs (the bundled samples)",
        "pixsift.engine.cli.demo:add",
    ),
)


def main(argv: list[str] | None = None) -> int:
    argv = _without_local_rank(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv else None)
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the (sub)command that was given them, with its usage
        getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if getattr(args, "debug", False):
        return args.run(args)
    try:
        return args.run(args)
    except UserError as e:
        print(f"pixsift {args.command}: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        if (error := missing_package(e)) is None:
            raise
        print(f"pixsift {args.command}: {error}", file=sys.stderr)
        return 2
    except OSError as e:
        if (error := machine_error(e)) is None:
            raise
        print(f"pixsift {args.command}: {error}", file=sys.stderr)
        # Zarr writes several objects at once on its event loop: when the disk is full the others fail
        # too, and asyncio would print each as "Task exception was never retrieved" at exit, after the
        # one line that already says what happened.
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        return 2


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, with the arguments of `command` alone: the others are listed by name and
    help, their modules not imported."""
    parser = argparse.ArgumentParser(prog="pixsift", description="GPU-native image-text data engine")
    parser.add_argument("--version", action="version", version=f"pixsift {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for declared in (*COMMANDS, *registered()):
        p = sub.add_parser(declared.name, help=declared.help, description=declared.help)
        if declared.name == command:
            declared.fill(p)
    return parser


def registered() -> list[Command]:
    """The commands other packages register in the `pixsift.commands` entry-point group, by name."""
    return sorted((entry.load() for entry in entry_points(group=ENTRY_POINTS)), key=lambda c: c.name)


def _without_local_rank(argv: list[str]) -> list[str]:
    """The `deepspeed` launcher passes `--local_rank=N` before the command (unless `--no_local_rank`);
    the trainer reads LOCAL_RANK from the environment, which the launcher also sets."""
    return [a for a in argv if not a.startswith("--local_rank=")]


def _version() -> str:
    try:
        return version("pixsift")
    except PackageNotFoundError:
        return "(not installed)"
