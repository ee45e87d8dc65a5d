"""`pixsift run PIPELINE.toml`: the stages a pipeline file names, in order, each skipped when its output
is complete with the same settings, resumed when it stopped part-way, re-run (with those after it) when
a setting changed (engine.cli.plan)."""

from __future__ import annotations

import sys
import time

from pixsift.engine.cli.plan import SKIP, Pipeline, Step, decide, read_pipeline
from pixsift.engine.cli.run_state import RunState
from pixsift.engine.core.commands import add_command
from pixsift.engine.core.errors import UserError
from pixsift.engine.core.progress import format_seconds
from pixsift.engine.io.ownership import assigned_ids, made, new_id, remove
from pixsift.engine.store.lock import writing


def add(p) -> None:
    add_command(
        p,
        _run,
        description="Run the stages a pipeline file names, one table of settings per stage (the keys of "
        "the stage's own config), in order. A stage whose output is complete with the same settings is "
        "skipped, one that stopped part-way resumes, and one whose settings changed runs again with the "
        "stages after it. What ran, with which settings, is kept in the state file (key `state`; default "
        "beside the pipeline file).",
    )
    p.add_argument("pipeline", metavar="PIPELINE.toml", help="the pipeline file")
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan (what would run, and why); run nothing"
    )
    p.add_argument(
        "--limit", type=int, metavar="N", help="a trial run: the stages that read inputs take their first N"
    )


def _run(args) -> int:
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit", f"must be at least 1, got {args.limit}")
    pipeline = read_pipeline(args.pipeline, args.limit)
    if args.dry_run:
        decide(pipeline, RunState(pipeline.state, pipeline.path).stages)
        _print_plan(pipeline, "would")
        print("dry run: nothing was run")
        return 0
    with writing(pipeline.state, "pipeline state"):
        state = RunState(pipeline.state, pipeline.path)
        decide(pipeline, state.stages)
        _print_plan(pipeline, "will")
        return _execute(pipeline, state)


def _print_plan(pipeline: Pipeline, mood: str) -> None:
    print(f"pipeline {pipeline.path} (state: {pipeline.state})")
    for step in pipeline.steps:
        print(step.line())
        for path in step.removes:
            print(
                f"  {'':<9} {'':<7} {mood} remove {path} (this pipeline made it, id {step.ids[path]}, "
                "with the earlier settings)"
            )


def _execute(pipeline: Pipeline, state: RunState) -> int:
    started = time.perf_counter()
    took: dict[str, str] = {}
    for step in pipeline.steps:
        if step.action == SKIP:
            took[step.name] = "skipped"
            continue
        print(f"\n== {step.name}: {step.action} ({step.reason})", flush=True)
        for path in step.removes:
            remove(path, step.stage.kind, step.ids[path])
        ids = _output_ids(step)
        state.started(step, ids)
        t0 = time.perf_counter()
        with assigned_ids(ids):
            status = _run_step(step)
        sys.stdout.flush()
        if status != 0:
            print(
                f"pixsift run: {step.name} exited {status}; the stages after it were not run", file=sys.stderr
            )
            return status
        state.finished(step, time.perf_counter() - t0)
        took[step.name] = format_seconds(time.perf_counter() - t0)
    ran = sum(value != "skipped" for value in took.values())
    print(
        f"\npipeline {pipeline.path}: {ran} of {len(took)} stages run in "
        f"{format_seconds(time.perf_counter() - started)} ("
        + ", ".join(f"{name} {value}" for name, value in took.items())
        + ")"
        + ("" if ran else "; every stage was done")
    )
    return 0


def _output_ids(step: Step) -> dict[str, str]:
    """The id of each output: the one recorded for it while its marker still carries it (the stage goes
    on with what this pipeline made), else a new one that the stage's new output takes."""
    ids = {}
    for path in step.stage.outputs(step.cfg):
        marker = made(path)
        recorded = step.ids.get(path)
        ids[path] = recorded if marker is not None and marker["id"] == recorded else new_id()
    return ids


def _run_step(step: Step) -> int:
    """The stage's exit status; its errors name it."""
    try:
        return step.stage.run(step.cfg)
    except UserError as e:
        e.input = f"{step.name}: {e.input}" if e.input else step.name
        raise
