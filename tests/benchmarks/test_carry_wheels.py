"""`carry_wheels.sh --check`: the wheels and the tree against the 64 MiB that travel to the GPU machine,
naming what does not fit (downloading is not tested here: it is a PyPI round trip)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def check(wheels: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WHEEL_DIR": str(wheels), "PYTHON": sys.executable}
    return subprocess.run(
        ["bash", "benchmarks/gpu/carry_wheels.sh", "--check"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )


def test_a_set_that_fits_passes_and_one_that_does_not_is_named(tmp_path):
    (tmp_path / "zarr-3.1.6-py3-none-any.whl").write_bytes(b"0" * 2**20)
    run = check(tmp_path)
    assert run.returncode == 0 and "everything fits" in run.stdout, run.stdout + run.stderr
    with open(tmp_path / "deepspeed-0.19.8-py3-none-any.whl", "wb") as f:
        f.truncate(70 * 2**20)
    run = check(tmp_path)
    assert run.returncode == 1
    assert "left out: deepspeed-0.19.8-py3-none-any.whl" in run.stdout
    assert "zarr-3.1.6-py3-none-any.whl" in run.stdout and "does not fit" in run.stdout
