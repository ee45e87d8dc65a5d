"""`bench_train --tiny` runs on the CPU and leaves the checkout alone: rows go only where --results says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Set in this process by the in-process training tests; a child must make its own process group.
DIST_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def checkout_state() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO, capture_output=True, text=True
    ).stdout


def test_the_tiny_run_times_both_kinds_and_writes_only_where_asked(tmp_path):
    before = checkout_state()
    command = [sys.executable, "-m", "benchmarks.bench_train", "--tiny"]
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARIABLES}
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "rows not recorded (--results '')" in run.stdout
    assert checkout_state() == before
    run = subprocess.run(
        [*command, "--results", str(tmp_path)], cwd=REPO, capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "bench_train.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in rows] == ["t2i", "edit"] and all(r["tokens_per_s"] > 0 for r in rows)
    assert all(r["shape"] == "tiny" and r["device"].startswith("CPU") for r in rows)
