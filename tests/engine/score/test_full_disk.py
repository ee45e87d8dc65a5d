"""A disk that fills up at any point of planning or scoring: the job stops with one line (exit 2), and the
same command, run again once there is space, finishes a store equal to an uninterrupted run's."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers.scoring import good_pool, read_store, score_command

REPO = __import__("pathlib").Path(__file__).resolve().parents[3]


def _namespaces() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not _namespaces(), reason="needs `unshare -rm` (user and mount namespaces) for a tmpfs")
def test_a_full_disk_at_every_phase_stops_in_one_line_and_resumes_to_a_clean_run(tmp_path, tiny_config):
    inputs = good_pool(tmp_path / "pool")
    clean = tmp_path / "clean"
    assert subprocess.run(score_command(inputs, clean, tiny_config), capture_output=True).returncode == 0
    used = sum(p.stat().st_size for p in clean.rglob("*") if p.is_file())
    # From nothing free to nearly enough: each budget stops the job at another point (the lock, the
    # marker, the group, the plan arrays, a unit's shards, a unit's marker).
    budgets = sorted({0, 4096, *np.linspace(8192, 0.9 * used, 5).astype(int).tolist()})
    mount = tmp_path / "disk"
    command = score_command(inputs, mount / "out", tiny_config)
    driver = [sys.executable, "-m", "tests.helpers.full_disk", str(mount), "2m", json.dumps(budgets)]
    done = subprocess.run(
        ["unshare", "-rm", *driver, str(tmp_path / "resumed"), "--", *command],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    expected = read_store(clean)
    stopped = 0
    for result in results:
        status, lines = result["full"]
        assert status in (0, 2), result
        if status == 2:
            stopped += 1
            assert "no space left on the device" in lines[-1], result
            assert not any("Traceback" in line or "Exception" in line for line in lines), result
        assert result["freed"][0] == 0, result
        resumed = read_store(tmp_path / "resumed" / str(result["budget"]))
        assert sorted(resumed) == sorted(expected)
        for name in expected:
            np.testing.assert_array_equal(resumed[name], expected[name], err_msg=f"{result['budget']} {name}")
    assert stopped == len(budgets), results  # the disk did fill at every budget


@pytest.mark.skipif(not _namespaces(), reason="needs `unshare -rm` (user and mount namespaces) for a tmpfs")
def test_a_read_only_folder_is_one_line(tmp_path, tiny_config):
    inputs = good_pool(tmp_path / "pool")
    mount = tmp_path / "ro"
    mount.mkdir()
    command = " ".join(score_command(inputs, mount / "out", tiny_config))
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m,ro tmpfs {mount} && exec {command}"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and "is on a read-only file system; write to another path" in lines[-1], lines
    assert not any(line.startswith("Traceback") for line in lines)
