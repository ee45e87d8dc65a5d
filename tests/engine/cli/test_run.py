"""`pixsift run PIPELINE.toml`: every stage runs once; a second run does no stage's work; a changed setting
re-runs that stage and the stages after it, and says why; --dry-run prints the plan and runs nothing;
--limit N takes the first N inputs; a stage that stopped part-way resumes; errors name the stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pixsift.engine.cli import main
from tests.helpers.pipeline_files import SPEC, plan, run, write_pipeline
from tests.helpers.scoring import PHOTOS, good_pool, read_store


@pytest.fixture
def pipeline(tmp_path, tiny_config):
    return write_pipeline(tmp_path, good_pool(tmp_path / "pool"), tiny_config)


def test_every_stage_runs_once_and_a_second_run_does_nothing(pipeline, capsys):
    out = run(capsys, str(pipeline))
    assert {stage: action for stage, (action, _) in plan(out).items()} == dict.fromkeys(
        ("score", "select", "export", "report"), "run"
    )
    folder = pipeline.parent
    assert (folder / "export" / ".pixsift-manifest.json").is_file() and (
        folder / "report" / "report.html"
    ).is_file()
    state = json.loads((folder / "state.json").read_text())
    assert {name: s["status"] for name, s in state["stages"].items()} == dict.fromkeys(
        ("score", "select", "export", "report"), "done"
    )
    written = {
        p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file() and "state.json" not in p.name
    }

    out = run(capsys, str(pipeline))
    assert {stage: action for stage, (action, _) in plan(out).items()} == dict.fromkeys(
        ("score", "select", "export", "report"), "skip"
    )
    assert "0 of 4 stages run" in out and "every stage was done" in out
    assert {p: p.stat().st_mtime_ns for p in written} == written  # nothing was rewritten


def exported(folder: Path) -> int:
    return json.loads((folder / "export" / ".pixsift-manifest.json").read_text())["n_exported"]


def test_a_changed_select_setting_reruns_select_and_what_follows_only(pipeline, capsys):
    run(capsys, str(pipeline))
    assert exported(pipeline.parent) == 3  # 0.75 of the 4 rows that score
    spec = pipeline.parent / "spec.toml"
    spec.write_text(SPEC.replace("0.75", "0.5"))
    out = run(capsys, str(pipeline))
    steps = plan(out)
    assert steps["score"] == ("skip", "done")
    assert steps["select"] == ("re-run", "settings changed: spec.steps.1.fraction: 0.75 before, 0.5 now")
    assert steps["export"] == steps["report"] == ("re-run", "follows select")
    assert exported(pipeline.parent) == 2
    state = json.loads((pipeline.parent / "state.json").read_text())
    assert state["stages"]["select"]["reason"].startswith("settings changed")


def test_a_changed_score_setting_starts_the_store_over(pipeline, capsys):
    run(capsys, str(pipeline))
    text = pipeline.read_text().replace("[select]", 'text_prefix = "a photo of "\n\n[select]')
    pipeline.write_text(text)
    out = run(capsys, str(pipeline), "--dry-run")
    assert plan(out)["score"] == ("re-run", "settings changed: text_prefix: '' before, 'a photo of ' now")
    assert f"would remove {pipeline.parent / 'store'}" in out and "dry run: nothing was run" in out
    out = run(capsys, str(pipeline))
    assert {stage: action for stage, (action, _) in plan(out).items()} == dict.fromkeys(
        ("score", "select", "export", "report"), "re-run"
    )


def test_a_dry_run_writes_nothing(pipeline, capsys):
    before = sorted(pipeline.parent.iterdir())
    out = run(capsys, str(pipeline), "--dry-run")
    assert plan(out)["score"] == ("run", "not run by this pipeline before")
    assert sorted(pipeline.parent.iterdir()) == before


def test_limit_takes_the_first_n_candidates(pipeline, capsys):
    run(capsys, str(pipeline), "--limit", "3")
    assert len(read_store(pipeline.parent / "store")["key"]) == 3
    out = run(capsys, str(pipeline))  # the whole pool: the trial store is replaced
    assert plan(out)["score"] == ("re-run", "settings changed: limit: 3 before, None now")
    assert len(read_store(pipeline.parent / "store")["key"]) == len(PHOTOS)


def test_a_missing_output_is_made_again(pipeline, capsys):
    run(capsys, str(pipeline))
    shutil.rmtree(pipeline.parent / "export")
    steps = plan(run(capsys, str(pipeline)))
    assert steps["export"] == ("run", "its output is missing or incomplete")
    assert steps["select"] == steps["report"] == ("skip", "done")


def test_a_stage_that_stopped_part_way_resumes(pipeline, capsys):
    run(capsys, str(pipeline))
    state_file = pipeline.parent / "state.json"
    state = json.loads(state_file.read_text())
    state["stages"]["score"]["status"] = "started"
    state_file.write_text(json.dumps(state))
    out = run(capsys, str(pipeline))
    steps = plan(out)
    assert steps["score"] == ("resume", "stopped before it finished")
    assert steps["select"] == ("re-run", "follows score")
    assert "0 of 2 work units run now" in out  # the store's units were all done


def test_errors_name_the_pipeline_and_the_stage(pipeline, capsys):
    def error(*argv: str) -> str:
        capsys.readouterr()
        assert main(["run", *argv]) == 2
        return capsys.readouterr().err.splitlines()[-1]

    text = pipeline.read_text()
    pipeline.write_text(text + "\n[scores]\nx = 1\n")
    assert error(str(pipeline)) == (
        f"pixsift run: {pipeline}: scores: not a stage; the stages are download, prompts, generate, score, "
        "caption, judge, select, export, report, tokenize, train, sample"
    )
    pipeline.write_text(text.replace("batch_size = 4", "batch_size = 0"))
    assert error(str(pipeline)) == f"pixsift run: {pipeline} [score] batch_size: must be at least 1, got 0"
    pipeline.write_text(text.replace('format = "jsonl"', 'format = "jsonl"\nselection = "nope"'))
    line = error(str(pipeline))
    assert line.startswith(f"pixsift run: export: {pipeline.parent / 'store'}: no selection 'nope'"), line
    state = json.loads((pipeline.parent / "state.json").read_text())["stages"]
    assert state["select"]["status"] == "done" and state["export"]["status"] == "started"
    assert error(str(pipeline), "--limit", "0") == "pixsift run: --limit: must be at least 1, got 0"
