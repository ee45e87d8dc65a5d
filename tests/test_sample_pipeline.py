"""The sample job, `pixsift run samples/pipeline.toml` (what `./dev.sh sample` runs), from a copy of the
checkout's layout: every stage from generate to train runs, and a second run does no stage's work."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from pixsift.engine.cli import main
from pixsift.engine.store.run_store import RunStore

REPO = Path(__file__).resolve().parent.parent
STAGES = (
    "generate",
    "score",
    "caption",
    "judge",
    "select",
    "export",
    "report",
    "tokenize",
    "train",
    "sample",
)


def actions(out: str) -> dict[str, str]:
    return {m[1]: m[2] for m in re.finditer(r"^  (\w+) +(skip|run|resume|re-run) ", out, re.M)}


def test_the_sample_pipeline_runs_every_stage_then_nothing(
    tmp_path, monkeypatch, capsys, tiny_ip2p, tiny_janus, tiny_qwen25vl
):
    (tmp_path / "samples").symlink_to(REPO / "samples")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "tiny-ip2p").symlink_to(tiny_ip2p)
    (tmp_path / "runs" / "tiny-janus").symlink_to(tiny_janus)
    (tmp_path / "runs" / "tiny-qwen25vl").symlink_to(tiny_qwen25vl)
    monkeypatch.chdir(tmp_path)

    assert main(["run", "samples/pipeline.toml"]) == 0
    assert actions(capsys.readouterr().out) == dict.fromkeys(STAGES, "run")
    assert (tmp_path / "runs/sample-train/hf/config.json").is_file()
    assert (tmp_path / "runs/sample-report/report.html").is_file()
    assert (tmp_path / "runs/sample-samples/contact_sheet.png").is_file()
    state = json.loads((tmp_path / "runs/sample-pipeline.state.json").read_text())
    assert [state["stages"][s]["status"] for s in STAGES] == ["done"] * len(STAGES)
    every_row_is_captioned_and_judged(tmp_path / "runs/sample-score")

    assert main(["run", "samples/pipeline.toml"]) == 0
    out = capsys.readouterr().out
    assert actions(out) == dict.fromkeys(STAGES, "skip") and "every stage was done" in out


def every_row_is_captioned_and_judged(store) -> None:
    a = {name: array[:] for name, array in RunStore.open(str(store), read_only=True).arrays.items()}
    scored, edits = a["status"] == "ok", a["task"] == "edit"
    assert scored.sum() >= 10 and (scored & edits).any()
    assert (a["caption_vlm_status"][scored] == "ok").all() and all(a["caption_vlm"][scored])
    assert (a["judge_t2i_status"][scored & ~edits] == "ok").all()
    assert (a["judge_edit_status"][scored & edits] == "ok").all()
    assert not np.isnan(a["judge_t2i_overall"][scored & ~edits]).any()
    assert not np.isnan(a["judge_edit_overall"][scored & edits]).any()
