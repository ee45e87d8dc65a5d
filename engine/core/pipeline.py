"""How a stage declares itself, once: its config class, its run function, its command's description, and
what `pixsift run PIPELINE.toml` (engine.cli.run) needs of it. From that one declaration come both the
`pixsift <stage>` command (its flags from the config's fields: `Stage.add`) and the pipeline stage.

A pipeline file has one table per stage, with the keys of that stage's own config. Each stage says what
its output depends on, where that output is, how to run it and how to start it over. Stages are wired by
what they provide: the stage after `select` takes `store` and `selection` from it unless its table names
them. The engine's stages are declared in engine.cli (a module each); other packages register theirs in
the `pixsift.stages` entry-point group (the trainer's `tokenize`, `train` and `sample`), each entry a
Stage, and list their commands in `pixsift.commands`.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

from pixsift.engine.core.commands import add_command, config_from

STAGE_ENTRY_POINTS = "pixsift.stages"
# The order stages run in, whatever the order of the tables; each reads the output of those before it.
ORDER = ("download", "prompts", "generate", "score", "caption", "judge", "select", "export", "report",
         "tokenize", "train", "sample")  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str
    # The stages whose output it reads (the nearest ones present in the pipeline count).
    after: tuple[str, ...]
    # Its config class (engine.core.config.Config): the command's flags and the pipeline table's keys.
    config: type
    # config -> its exit status (0: done); it prints its own summary.
    run: Callable[[Any], int]
    # config -> the folders it writes: removed when a changed setting makes it start over (only when
    # pixsift made them as `kind` for this pipeline: engine.io.ownership).
    outputs: Callable[[Any], list[str]]
    # config -> what its output depends on (a change re-runs it and the stages after it).
    settings: Callable[[Any], Mapping[str, Any]]
    # config -> values for the keys of the stages after it ("store", "selection", "tokens", ...).
    provides: Callable[[Any], Mapping[str, Any]] = lambda cfg: {}
    # The keys of its table it fills from what the stages before it provide: {table key: provided key}.
    takes: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Table values the pipeline always sets (a selection is replaced, not refused).
    forced: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # The table key `--limit N` sets (the first N inputs), if the stage reads inputs.
    limit_key: str | None = None
    # A changed setting removes its outputs before it runs again; False for stages that replace them.
    starts_over: bool = True
    # config -> whether its output is there and whole; None: every path of `outputs` exists.
    complete: Callable[[Any], bool] | None = None
    # config -> how its inputs differ from those its output was made from ("" when they do not): work
    # for the stage to do without starting over (new input files for a run store).
    changed_inputs: Callable[[Any], str] | None = None
    # The kind its outputs' ownership markers name ("run store", "export", ...).
    kind: str = ""
    # config -> the paths it reads (patterns as given): no output of this or a later stage may overlap one.
    inputs: Callable[[Any], list[str]] = lambda cfg: []
    # The command's description (`pixsift <name> --help`) and its --config help.
    description: str = ""
    config_help: str = ""
    # (table, where) -> the config `run` takes, for one that a table's keys do not give field by field
    # (train's recipes); None: the config class's own from_table.
    load: Callable[[Mapping[str, Any], str], Any] | None = None
    # The flags' config -> the config `run` takes (train: the recipe loaded); None: the same.
    build: Callable[[Any], Any] | None = None
    # Subcommands, each fixing some settings: name -> (help, {field: value}, {field: its own flag}),
    # as `pixsift generate t2i --captions ...` and `pixsift generate edit --pairs ...`.
    variants: Mapping[str, tuple[str, Mapping[str, Any], Mapping[str, str]]] = dataclasses.field(
        default_factory=dict
    )

    def from_table(self, table: Mapping[str, Any], where: str) -> Any:
        """The checked config of a pipeline table; `where` names the table in errors."""
        if self.load is not None:
            return self.load(table, where)
        labels = {f.name: f"{where} {f.name}" for f in dataclasses.fields(self.config)}
        return self.config.from_table(table, where, labels)

    def add(self, parser: argparse.ArgumentParser) -> None:
        """Make `parser` the `pixsift <name>` command: --config FILE.toml and a flag per config field (per
        variant, a subcommand whose fixed settings have no flag)."""
        if not self.variants:
            add_command(
                parser,
                self.run_args,
                config=self.config,
                description=self.description,
                config_help=self.config_help,
            )
            return
        parser.description = self.description
        variants = parser.add_subparsers(dest="variant", required=True)
        for name, (help, values, rename) in self.variants.items():
            add_command(
                variants.add_parser(name, help=help, description=help),
                functools.partial(self.run_args, values=values),
                config=self.config,
                config_help=self.config_help,
                skip=tuple(values),
                rename=dict(rename),
            )

    def run_args(self, args: argparse.Namespace, values: Mapping[str, Any] | None = None) -> int:
        cfg = config_from(args, self.config, **(values or {}))
        return self.run(self.build(cfg) if self.build is not None else cfg)


def all_fields(cfg: Any) -> dict[str, Any]:
    """Every setting of a dataclass config, as its output depends on them all."""
    return dataclasses.asdict(cfg)
