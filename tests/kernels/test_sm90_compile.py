"""Every Triton kernel configuration the launchers pick compiles for sm_90 with Triton's own compiler and
ptxas (no GPU needed), and the default ones keep everything in registers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_default_configurations_compile_for_sm90_without_spills():
    pytest.importorskip("triton.backends.nvidia.compiler")
    env = {
        k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"
    }  # the real compiler, not the interpreter
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu.compile_sm90", "--check", "--json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert {r["kernel"] for r in rows} == {"cosine_pairs", "topk_cosine", "ssim"}
    assert all(r["registers"] <= 255 for r in rows)
    assert [r["config"] for r in rows if r["default"] and r["spill_bytes"]] == []
