"""The prepared GPU run cannot rot between GPU sessions: `gpu_suite.sh --smoke` runs every step at tiny
sizes here, within its budget, into at most 8 files, and leaves the checkout alone (rows go only where
the suite says: bench_train's among them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STEPS = (
    "probe", "compile_sm90", "gpu_tests", "bench_ssim", "bench_similarity", "bench_score",
    "bench_score_edits", "bench_peers",
)  # fmt: skip


def checkout_state() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO, capture_output=True, text=True
    ).stdout


def test_the_smoke_run_passes_every_step_and_touches_nothing(tmp_path):
    before = checkout_state()
    env = {**os.environ, "OUT": str(tmp_path / "out"), "PYTHON": sys.executable}
    run = subprocess.run(
        ["bash", "benchmarks/gpu_suite.sh", "--smoke"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    out = tmp_path / "out"
    log = (out / "suite.log").read_text() if (out / "suite.log").exists() else ""
    assert run.returncode == 0, (run.stdout + log)[-4000:]
    steps = {s["step"]: s["status"] for s in map(json.loads, (out / "steps.jsonl").read_text().splitlines())}
    assert steps == dict.fromkeys(
        (*STEPS, "bench_train", "bench_vlm", "bench_scorers", "bench_prompts"), "ok"
    ), log[-4000:]
    assert len(list(out.iterdir())) <= 8
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    files = {r["suite_file"] for r in rows}
    assert files == {
        "gpu_probe",
        "compile_sm90",
        *(f"bench_{name}" for name in ("ssim", "similarity", "score")),
    } | {"bench_peers", "bench_train", "bench_vlm", "bench_scorers", "bench_prompts"}
    edits = [r for r in rows if r.get("benchmark") == "score_edits"]
    assert [(r["task"], r["edits_per_source"]) for r in edits] == [("t2i", None), ("edit", 4), ("edit", 1)]
    vlm = [r for r in rows if r["suite_file"] == "bench_vlm"]
    assert [(r["stage"], r["ok"]) for r in vlm] == [("caption", 4), ("judge t2i", 4)]
    scorers = [(r["scorer"], r["shape"]) for r in rows if r["suite_file"] == "bench_scorers"]
    assert scorers == [(k, "tiny") for k in ("none", "pickscore", "aesthetic_v25", "image_reward")]
    prompts = [r["what"] for r in rows if r["suite_file"] == "bench_prompts"]
    assert len(prompts) == 4 and prompts[-1].startswith("stage, tiny writer")
    train = [r for r in rows if r["suite_file"] == "bench_train"]
    assert [r["kind"] for r in train] == ["t2i", "edit"] and all(r["tokens_per_s"] > 0 for r in train)
    assert all(r.get("ok") is not False and r.get("bit_exact") is not False for r in rows if "probe" in r)
    assert "results (" in run.stdout and json.loads((out / "env.json").read_text())["versions"]["torch"]
    assert checkout_state() == before
