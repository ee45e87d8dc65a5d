"""The plan of `pixsift run PIPELINE.toml`: each stage's checked config, what its output depends on, and
what this run does with it.

A stage is skipped when the state file records it done with the same settings (its own, and those of
every stage it reads from) and its output is there; it is resumed when it stopped before finishing with
the same settings; it is re-run when its settings changed, or when a stage it reads from does work.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from fsspec.core import url_to_fs

from pixsift.engine.core.config import read_toml
from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.pipeline import ORDER, STAGE_ENTRY_POINTS, PipelineStage
from pixsift.engine.core.settings import as_json, differences

SKIP, RUN, RESUME, RERUN = "skip", "run", "resume", "re-run"


@dataclass
class Step:
    stage: PipelineStage
    cfg: Any
    settings: dict[str, Any]  # what its output depends on, as JSON reads back
    digest: str  # of its settings and the digests of the steps it reads from
    reads: list[str]  # the steps before it whose output it reads
    action: str = ""
    reason: str = ""
    removes: list[str] = field(default_factory=list)  # outputs removed before it runs

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


def registered_stages() -> dict[str, PipelineStage]:
    """The engine's stages and those registered in the `pixsift.stages` entry-point group."""
    from pixsift.engine.cli import export, generate, report, score, select

    stages = {module.STAGE.name: module.STAGE for module in (generate, score, select, export, report)}
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
        cfg = stage.config(values, f"{path} [{name}]")
        provided.update(stage.provides(cfg))
        reads = _reads(stage, stages, table)
        settings = as_json(stage.settings(cfg))
        key = json.dumps({"settings": settings, "reads": [steps[r].digest for r in reads]}, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        steps[name] = Step(stage, cfg, settings, digest, reads)
    return Pipeline(path, state, list(steps.values()))


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
        elif not _complete(step):
            step.action, step.reason = RUN, "its output is missing or incomplete"
        else:
            step.action, step.reason = SKIP, "done"
        if step.action == RERUN and step.stage.starts_over:
            step.removes = [path for path in step.stage.outputs(step.cfg) if _exists(path)]


def _follows(moved: list[str]) -> str:
    return f"follows {', '.join(moved)}" if moved else "the stages it reads from changed"


def _ordered(stages: Mapping[str, PipelineStage]) -> list[str]:
    return [n for n in ORDER if n in stages] + sorted(n for n in stages if n not in ORDER)


def _reads(
    stage: PipelineStage, stages: Mapping[str, PipelineStage], present: Mapping[str, Any]
) -> list[str]:
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
    if step.stage.complete is not None:
        return step.stage.complete(step.cfg)
    return all(_exists(path) for path in step.stage.outputs(step.cfg))


def _exists(path: str) -> bool:
    fs, fs_path = url_to_fs(path)
    return fs.exists(fs_path)
