"""The plan of `pixsift run PIPELINE.toml`: each stage's checked config, what its output depends on, and
what this run does with it.

A stage is skipped when the state file records it done with the same settings (its own, and those of
every stage it reads from) and its output is there, whole and of its kind; it is resumed when it stopped
before finishing with the same settings; it is re-run when its settings changed, or when a stage it reads
from does work.

Nothing runs unless every output is a place of its own: outputs that overlap one another, an input of
their stage or a later one, the pipeline file or the state file, or that are `/`, the home folder or a
repository, are refused when the plan is read. A stage that starts over removes its outputs only where
their ownership marker (engine.io.ownership) carries the id this pipeline's state file recorded for
them; anything else is refused in one line before anything runs, `--dry-run` included.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from fsspec.core import url_to_fs

from pixsift.engine.core.config import read_toml
from pixsift.engine.core.errors import BadInput, Exists
from pixsift.engine.core.pipeline import ORDER, STAGE_ENTRY_POINTS, Stage
from pixsift.engine.core.settings import as_json, differences
from pixsift.engine.io.ownership import made, overlaps, refusal
from pixsift.engine.io.paths import absolute, input_root, is_local

SKIP, RUN, RESUME, RERUN = "skip", "run", "resume", "re-run"


@dataclass
class Step:
    stage: Stage
    cfg: Any
    settings: dict[str, Any]  # what its output depends on, as JSON reads back
    digest: str  # of its settings and the digests of the steps it reads from
    reads: list[str]  # the steps before it whose output it reads
    action: str = ""
    reason: str = ""
    removes: list[str] = field(default_factory=list)  # outputs removed before it runs
    ids: dict[str, str] = field(default_factory=dict)  # the id of each output this pipeline made

    @property
    def name(self) -> str:
        return self.stage.name

    def line(self) -> str:
        return f"  {self.name:<9} {self.action:<7} {self.reason}"


@dataclass
class Pipeline:
    path: str
    state: str  # the state file: what finished, with which settings
    steps: list[Step]


def registered_stages() -> dict[str, Stage]:
    """The engine's stages and those registered in the `pixsift.stages` entry-point group."""
    from pixsift.engine.cli import caption, download, export, generate, judge, prompts, report, score, select

    modules = (download, prompts, generate, score, caption, judge, select, export, report)
    stages = {module.STAGE.name: module.STAGE for module in modules}
    for entry in entry_points(group=STAGE_ENTRY_POINTS):
        stage = entry.load()
        stages[stage.name] = stage
    return stages


def read_pipeline(path: str, limit: int | None = None) -> Pipeline:
    """The steps of the pipeline file at `path`, in run order, each config checked; `limit` runs the
    stages that read inputs on their first `limit`."""
    table = read_toml(path)
    state = table.pop("state", None) or str(Path(path).with_suffix(".state.json"))
    if not isinstance(state, str):
        raise BadInput(f"{path}: state", f"must be a path, got {state!r}")
    if overlaps(state, path):
        raise BadInput(f"{path}: state", f"{state} is the pipeline file itself", "name a file of its own")
    stages = registered_stages()
    for name, values in table.items():
        if name not in stages:
            raise BadInput(f"{path}: {name}", f"not a stage; the stages are {', '.join(_ordered(stages))}")
        if not isinstance(values, dict):
            raise BadInput(f"{path}: {name}", "must be a table of the stage's settings ([name])")
    if not table:
        raise BadInput(path, f"names no stage; give a table for each of {', '.join(_ordered(stages))} to run")
    provided: dict[str, Any] = {}
    steps: dict[str, Step] = {}
    for name in (n for n in _ordered(stages) if n in table):
        stage = stages[name]
        values = dict(table[name])
        for key, source in stage.takes.items():
            if key not in values and source in provided:
                values[key] = provided[source]
        values.update(stage.forced)
        if limit is not None and stage.limit_key and stage.limit_key not in values:
            values[stage.limit_key] = limit
        cfg = stage.from_table(values, f"{path} [{name}]")
        provided.update(stage.provides(cfg))
        reads = _reads(stage, stages, table)
        settings = as_json(stage.settings(cfg))
        key = json.dumps({"settings": settings, "reads": [steps[r].digest for r in reads]}, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        steps[name] = Step(stage, cfg, settings, digest, reads)
    pipeline = Pipeline(path, state, list(steps.values()))
    check_places(pipeline)
    return pipeline


def check_places(pipeline: Pipeline) -> None:
    """Refuse (Exists) an output that overlaps another output, an input of its own or a later stage, the
    pipeline or state file, or that is `/`, the home folder or a repository."""
    outputs: list[tuple[str, int, str]] = []  # (path, step index, step name)
    for index, step in enumerate(pipeline.steps):
        for out in step.stage.outputs(step.cfg):
            where = f"{step.name} output {out}"
            if problem := _unsafe(out):
                raise Exists(where, problem, "give the stage a folder of its own")
            for given, what in ((pipeline.path, "the pipeline file"), (pipeline.state, "the state file")):
                if overlaps(out, given):
                    raise Exists(where, f"is or holds {what} {given}", "give the stage a folder of its own")
            for other, _, name in outputs:
                if overlaps(out, other):
                    raise Exists(
                        where, f"overlaps the {name} output {other}", "give each stage its own folder"
                    )
            outputs.append((out, index, step.name))
    for index, step in enumerate(pipeline.steps):
        for read in (_read_root(p) for p in step.stage.inputs(step.cfg) if p and _exists(_read_root(p))):
            for out, made_by, name in outputs:
                if made_by >= index and overlaps(out, read):
                    raise Exists(
                        f"{name} output {out}",
                        f"overlaps {read}, which {step.name} reads",
                        "give the stage a folder of its own",
                    )


def decide(pipeline: Pipeline, records: Mapping[str, Mapping[str, Any]]) -> None:
    """Set each step's action and reason from the state file's `records` of earlier runs."""
    by_name = {step.name: step for step in pipeline.steps}
    for step in pipeline.steps:
        record = records.get(step.name)
        moved = [r for r in step.reads if by_name[r].action != SKIP]
        if record is None:
            step.action, step.reason = RUN, "not run by this pipeline before"
        elif record.get("digest") != step.digest:
            changes = differences(record.get("settings", {}), step.settings)
            step.action = RERUN
            step.reason = f"settings changed: {'; '.join(changes)}" if changes else _follows(moved)
        elif record.get("status") != "done":
            step.action, step.reason = RESUME, "stopped before it finished"
        elif moved:
            step.action, step.reason = RERUN, _follows(moved)
        elif (
            step.stage.changed_inputs and _complete(step) and (changed := step.stage.changed_inputs(step.cfg))
        ):
            step.action, step.reason = RUN, f"its inputs changed: {changed}"
        elif not _complete(step):
            step.action, step.reason = RUN, "its output is missing or incomplete"
        else:
            step.action, step.reason = SKIP, "done"
        step.ids = dict((record or {}).get("outputs") or {})
        if step.action == RERUN and step.stage.starts_over:
            step.removes = [path for path in step.stage.outputs(step.cfg) if _removable(step, path)]


def _removable(step: Step, path: str) -> bool:
    """Whether the output `path` must be removed before `step` starts over (it is there, and this
    pipeline made it); refused (Exists) when it is there and not this pipeline's."""
    if problem := refusal(path, step.stage.kind, step.ids.get(path, "")):
        raise Exists(
            f"{step.name} output {path}",
            f"the stage must start over ({step.reason}), but the folder {problem}; refusing to remove it",
            "move it away, or give the stage another output",
        )
    return made(path) is not None


def _follows(moved: list[str]) -> str:
    return f"follows {', '.join(moved)}" if moved else "the stages it reads from changed"


def _ordered(stages: Mapping[str, Stage]) -> list[str]:
    return [n for n in ORDER if n in stages] + sorted(n for n in stages if n not in ORDER)


def _reads(stage: Stage, stages: Mapping[str, Stage], present: Mapping[str, Any]) -> list[str]:
    """The nearest stages before `stage` in the pipeline whose output it reads (through absent ones)."""
    found: list[str] = []
    for name in stage.after:
        if name in present:
            found.append(name)
        elif name in stages:
            found += _reads(stages[name], stages, present)
    order = _ordered(stages)
    return sorted(set(found), key=order.index)


def _complete(step: Step) -> bool:
    if step.stage.kind and any(
        (marker := made(path)) is None or marker["kind"] != step.stage.kind
        for path in step.stage.outputs(step.cfg)
    ):
        return False
    if step.stage.complete is not None:
        return step.stage.complete(step.cfg)
    return all(_exists(path) for path in step.stage.outputs(step.cfg))


def _exists(path: str) -> bool:
    fs, fs_path = url_to_fs(path)
    return fs.exists(fs_path)


def _read_root(pattern: str) -> str:
    """What an input reads: the path itself, or for a pattern the folder it draws from."""
    return input_root(pattern) if any(c in pattern for c in "{*?[") else absolute(pattern)


def _unsafe(path: str) -> str:
    """Why no stage may write (or ever remove) the folder `path` ("" when it may)."""
    if not is_local(absolute(path)):
        return ""
    real = Path(os.path.realpath(absolute(path)))
    if real == Path(real.anchor):
        return "is the root folder"
    if overlaps(str(real), str(Path.home())) and not str(real).startswith(str(Path.home()) + os.sep):
        return f"is or holds the home folder {Path.home()}"
    if (real / ".git").exists():
        return "is a repository (it holds .git)"
    return ""
