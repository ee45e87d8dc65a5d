"""The environment the vLLM backend is tested in: ./dev.sh test builds .venv-vllm (pixsift beside vLLM's CPU
build, requirements-vllm.lock) and names its Python in PIXSIFT_VLLM_PYTHON; the tests run pixsift's
commands there, since vLLM cannot be installed beside this environment's transformers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PYTHON = os.environ.get("PIXSIFT_VLLM_PYTHON")
needs_vllm = pytest.mark.skipif(
    not PYTHON, reason="no vLLM environment: ./dev.sh test builds .venv-vllm and sets PIXSIFT_VLLM_PYTHON"
)
# Each model's KV cache: vLLM's CPU build would otherwise reserve 90% of the machine's memory for one.
VLLM_FLAGS = ("--backend", "vllm", "--vllm-kv-cache-gib", "0.25")


def pixsift_on_vllm(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`pixsift ARGV --backend vllm` in the vLLM environment; fails the test with its output if it fails."""
    done = subprocess.run(
        [PYTHON, "-m", "pixsift.engine.cli", *argv, *VLLM_FLAGS],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return done
