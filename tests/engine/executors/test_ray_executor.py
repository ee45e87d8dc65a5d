"""`pixsift score --executor ray` on a local Ray on the CPU: equal to the local executor, a worker killed
mid-unit, bounded retries, and a killed driver resumed; `pixsift generate --executor ray`: the local
executor's shards, and a resume that writes only the missing one."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from pixsift.engine.core.progress import Progress
from pixsift.engine.executors.ray_cluster import run_ray
from pixsift.engine.generate.job import generate
from pixsift.engine.score.job import ScoreJob, load_embedder, planned_store, score
from pixsift.engine.store.run_store import RunStore
from tests.helpers.generating import ONE_PER_SHARD, t2i_config, write_jsonl
from tests.helpers.processes import kill_when
from tests.helpers.scoring import good_pool, markers, read_store, score_command, score_config

ray = pytest.importorskip("ray")

RAY_SETTINGS = dict(executor="ray", workers=2, ray_cpus_per_worker=0.5)


def settings(inputs, store, tiny_config, **overrides):
    return score_config(inputs, store, tiny_config, shard_rows=3, batch_size=2, **overrides)


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
    with one_thread():
        score(settings(inputs, folder / "local", tiny_config), io.StringIO())
    return inputs, read_store(folder / "local")


@contextlib.contextmanager
def one_thread():
    """torch on one thread, as in the Ray actors of 0.5 CPUs (OMP_NUM_THREADS=1): CPU matmuls and
    convolutions round differently on other thread counts (an embedding moves in its last bits, a
    generated pixel by one level)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


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


def _write_wrong_values_and_exit(store: RunStore, unit, columns, info=None, check=None) -> None:
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
    assert sum(len(w.lost_units) for w in result.workers.values()) == 1
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
    kill_when(driver, lambda: markers(store) >= 1, 60, log)
    assert markers(store) < 5, "killed too late to test a resume"

    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "store: ok 15" in resumed.stdout and "of 5 work units run now" in resumed.stdout
    assert_equal_stores(read_store(store), local)


def test_an_unknown_executor_is_named(tmp_path, tiny_config, pool):
    with pytest.raises(ValueError, match="executor: must be one of local, ray, got 'spark'"):
        score(settings(pool[0], tmp_path / "store", tiny_config, executor="spark"), io.StringIO())


@pytest.fixture(scope="module")
def generated(tmp_path_factory, tiny_sd) -> tuple[Path, Path, Path]:
    """Four captions, one shard each, a tiny pipeline, and the shards the local executor makes."""
    folder = tmp_path_factory.mktemp("generate")
    pipeline = tiny_sd
    captions = write_jsonl(
        folder / "captions.jsonl", [{"caption": f"picture number {i}", "id": f"p{i}"} for i in range(4)]
    )
    with one_thread():
        generate(t2i_config(captions, folder / "local", pipeline, **ONE_PER_SHARD), io.StringIO())
    return captions, pipeline, folder / "local"


def assert_equal_shards(got: Path, want: Path) -> None:
    names = sorted(p.name for p in want.glob("*.tar"))
    assert sorted(p.name for p in got.glob("*.tar")) == names
    for name in names:
        assert (got / name).read_bytes() == (want / name).read_bytes(), name


def test_ray_generate_writes_the_local_executors_shards(tmp_path, generated):
    captions, pipeline, local = generated
    cfg = t2i_config(captions, tmp_path / "out", pipeline, **ONE_PER_SHARD, **RAY_SETTINGS)
    summary = generate(cfg, io.StringIO())
    assert (summary.images, summary.shards_written, summary.shards_total) == (4, 4, 4)
    assert_equal_shards(tmp_path / "out", local)


def test_a_resumed_ray_generate_writes_only_the_missing_shard(tmp_path, generated, local_ray):
    captions, pipeline, local = generated
    out = tmp_path / "out"
    shutil.copytree(local, out)
    (out / "shard-000002.tar").unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    command = [
        sys.executable, "-m", "pixsift.engine.cli", "generate", "t2i",
        "--captions", str(captions), "--out", str(out),
        "--pipeline", str(pipeline), "--steps", "2", "--resolution", "32", "--images-per-caption", "1",
        "--captions-per-shard", "1", "--batch-size", "1", "--device", "cpu",
        "--executor", "ray", "--ray-address", local_ray, "--workers", "1", "--ray-cpus-per-worker", "0.5",
    ]  # fmt: skip
    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 of 4 shards written now" in resumed.stdout
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept
    assert_equal_shards(out, local)
