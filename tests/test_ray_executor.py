"""`pixsift score --executor ray` on a local Ray on the CPU: equal to the local executor, a worker killed
mid-unit, bounded retries, and a killed driver resumed."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from test_score import config, good_pool, markers, read_store, score_command

from engine.executors_ray import run_ray
from engine.progress import Progress
from engine.score import ScoreJob, load_embedder, planned_store, score
from engine.store import RunStore

ray = pytest.importorskip("ray")

RAY_SETTINGS = dict(executor="ray", workers=2, ray_cpus_per_worker=0.5)


def settings(inputs, store, tiny_config, **overrides):
    return config(inputs, store, tiny_config, shard_rows=3, batch_size=2, **overrides)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """A local Ray on 2 CPUs for the module; its address. The environment it sets up (its token
    authentication for drivers started from here) lasts as long as the module."""
    # Actors unpickle the test jobs below by module name: they need this folder on their path.
    paths = [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")]
    with mock.patch.dict(os.environ, {"PYTHONPATH": os.pathsep.join(filter(None, paths))}):
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
        yield ray.get_runtime_context().gcs_address
        ray.shutdown()


@pytest.fixture(scope="module")
def pool(tmp_path_factory, tiny_config):
    """15 candidates in 5 units of 3, and the store the local executor makes of them."""
    folder = tmp_path_factory.mktemp("ray")
    inputs = good_pool(folder / "pool", copies=3)
    score(settings(inputs, folder / "local", tiny_config), io.StringIO())
    return inputs, read_store(folder / "local")


def assert_equal_stores(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_ray_store_equals_the_local_executors(tmp_path, tiny_config, pool):
    inputs, local = pool
    cfg = settings(inputs, tmp_path / "store", tiny_config, **RAY_SETTINGS)
    summary = score(cfg, io.StringIO())
    assert summary.rows == 15 and summary.units_run == 5 and summary.statuses == {"ok": 15}
    assert sum(w.units for w in summary.workers.values()) == 5
    assert all(name.startswith("actor ") for name in summary.workers)
    assert_equal_stores(read_store(tmp_path / "store"), local)


class DiesWhileWriting:
    """A job whose worker process exits in the middle of writing a unit, after wrong values reached part
    of the unit's shards and before its marker: the first unit run anywhere, or every unit if `always`."""

    def __init__(self, job: ScoreJob, flag: Path, always: bool = False):
        self.job, self.flag, self.always = job, flag, always

    def pending_units(self) -> list[int]:
        return self.job.pending_units()

    def close(self) -> None:
        self.job.close()

    def run_units(self, units, rank, emit) -> None:
        if self.always or self._first_anywhere():
            with mock.patch.object(RunStore, "write_unit", _write_wrong_values_and_exit):
                self.job.run_units(units, rank, emit)
        self.job.run_units(units, rank, emit)

    def _first_anywhere(self) -> bool:
        try:
            os.close(os.open(self.flag, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return False
        return True


def _write_wrong_values_and_exit(store: RunStore, unit, columns) -> None:
    store.arrays["clip_score"][unit.start : unit.stop] = -1.0
    store.arrays["status"][unit.start : unit.stop] = np.array(["ok"] * unit.rows)
    os._exit(1)


def planned_job(tmp_path, tiny_config, inputs, always: bool = False) -> DiesWhileWriting:
    cfg = settings(inputs, tmp_path / "store", tiny_config, **RAY_SETTINGS)
    planned_store(cfg, load_embedder(cfg, "cpu"))
    return DiesWhileWriting(ScoreJob(cfg), tmp_path / "died", always)


def test_a_worker_killed_mid_unit_leaves_every_candidate_once(tmp_path, tiny_config, pool):
    inputs, local = pool
    job = planned_job(tmp_path, tiny_config, inputs)
    progress = Progress("score", 15, stream=io.StringIO())
    result = run_ray(job, progress, workers=2, cpus_per_worker=0.5)
    assert (tmp_path / "died").exists(), "no worker died: the test tested nothing"
    assert result.units == 5 and result.rows == 15 and progress.retried == 1
    assert sum(w.lost_units for w in result.workers.values()) == 1
    assert "was lost while running work unit" in progress.stream.getvalue()
    assert RunStore.open(str(tmp_path / "store")).done_units() == set(range(5))
    assert_equal_stores(read_store(tmp_path / "store"), local)


def test_a_unit_lost_on_every_try_is_named(tmp_path, tiny_config, pool):
    job = planned_job(tmp_path, tiny_config, pool[0], always=True)
    progress = Progress("score", 15, stream=io.StringIO())
    with pytest.raises(RuntimeError, match=r"work unit \d+ was lost with its worker 2 times; giving up"):
        run_ray(job, progress, workers=1, cpus_per_worker=0.5, max_attempts=2)


def test_a_killed_driver_resumes_from_the_markers(tmp_path, tiny_config, pool, local_ray):
    inputs, local = pool
    store = tmp_path / "store"
    command = score_command(inputs, store, tiny_config) + [
        "--executor", "ray", "--ray-address", local_ray, "--workers", "1", "--ray-cpus-per-worker", "0.5",
    ]  # fmt: skip
    log = tmp_path / "driver.log"
    with log.open("w") as out:
        driver = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while markers(store) < 1:
        assert driver.poll() is None, f"the driver ended before its kill:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no unit done in a minute:\n{log.read_text()}"
        time.sleep(0.01)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert markers(store) < 5, "killed too late to test a resume"

    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "store: ok 15" in resumed.stdout and "of 5 work units run now" in resumed.stdout
    assert_equal_stores(read_store(store), local)


def test_an_unknown_executor_is_named(tmp_path, tiny_config, pool):
    with pytest.raises(ValueError, match="executor must be one of local, ray, got 'spark'"):
        score(settings(pool[0], tmp_path / "store", tiny_config, executor="spark"), io.StringIO())
