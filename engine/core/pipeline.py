"""How a stage declares itself to `pixsift run PIPELINE.toml` (engine.cli.run).

A pipeline file has one table per stage, with the keys of that stage's own config. Each stage says how to
build its config from such a table, what its output depends on, where that output is, how to run it and
how to start it over. Stages are wired by what they provide: the stage after `select` takes `store` and
`selection` from it unless its table names them. The engine's stages are declared beside their commands
(engine.cli); other packages register theirs in the `pixsift.stages` entry-point group (the trainer's
`tokenize` and `train`), each entry a PipelineStage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

STAGE_ENTRY_POINTS = "pixsift.stages"
# The order stages run in, whatever the order of the tables; each reads the output of those before it.
ORDER = ("generate", "score", "select", "export", "report", "tokenize", "train", "sample")


@dataclasses.dataclass(frozen=True)
class PipelineStage:
    name: str
    # The stages whose output it reads (the nearest ones present in the pipeline count).
    after: tuple[str, ...]
    # (table, where) -> the checked config; `where` names the table in errors.
    config: Callable[[Mapping[str, Any], str], Any]
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
    # The kind its outputs' ownership markers name ("run store", "export", ...).
    kind: str = ""
    # config -> the paths it reads (patterns as given): no output of this or a later stage may overlap one.
    inputs: Callable[[Any], list[str]] = lambda cfg: []


def all_fields(cfg: Any) -> dict[str, Any]:
    """Every setting of a dataclass config, as its output depends on them all."""
    return dataclasses.asdict(cfg)


def from_table(config: type) -> Callable[[Mapping[str, Any], str], Any]:
    """The `config` of a stage from its pipeline table: errors name the table and the key."""

    def make(table: Mapping[str, Any], where: str) -> Any:
        return config.from_table(
            table, where, {f.name: f"{where} {f.name}" for f in dataclasses.fields(config)}
        )

    return make
