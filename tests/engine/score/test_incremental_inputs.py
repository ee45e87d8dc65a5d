"""Inputs that grow: a store records the files it planned, and scoring it again plans only new ones,
keeping every row scored before; a changed or removed input is one line unless the user allows it; a kill
in the middle of an incremental run resumes to the values of a clean run."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from pixsift.engine.cli import main
from pixsift.engine.core.candidates import PlanEntry
from pixsift.engine.score.job import score
from pixsift.engine.store.run_store import RunStore
from tests.helpers.cli import user_error
from tests.helpers.pipeline_files import plan, run, write_pipeline
from tests.helpers.processes import kill_when
from tests.helpers.scoring import good_pool, markers, read_store, score_command, score_config


def same_values(got: dict, clean: dict) -> None:
    """The values of a clean run of the same shards (read from another folder): exactly, but for floats that
    come from batches of other rows (GEMM blocking differs by a few ulps)."""
    for name in clean.keys() - {"source"}:
        if got[name].dtype.kind == "f" and name != "ssim_roundtrip":
            np.testing.assert_allclose(got[name], clean[name], rtol=1e-4, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(got[name], clean[name], err_msg=name)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two shards of 7 and 8 photographs."""
    tmp = tmp_path_factory.mktemp("shards")
    inputs = good_pool(tmp / "all", copies=3)
    return inputs


@pytest.fixture(scope="module")
def clean(shards, tmp_path_factory, tiny_config):
    store = tmp_path_factory.mktemp("clean") / "store"
    assert subprocess.run(score_command(shards, store, tiny_config), capture_output=True).returncode == 0
    return read_store(store)


def only_first(shards, folder):
    """A folder holding the first shard alone; the second is added later."""
    folder.mkdir()
    shutil.copy(shards[0], folder)
    return folder


def test_two_input_flags_score_both(shards, tmp_path, tiny_config, capsys):
    argv = ["score", "--input", shards[0], "--input", shards[1], "--store", str(tmp_path / "s")]
    assert main([*argv, "--clip-config", str(tiny_config), "--clip-random-init"]) == 0
    assert "store: ok 15" in capsys.readouterr().out


def test_a_new_shard_under_the_glob_is_scored_and_old_rows_stay_as_they_were(
    shards, clean, tmp_path, tiny_config, capsys
):
    folder = only_first(shards, tmp_path / "pool")
    command = score_command([str(folder / "pool-*.tar")], tmp_path / "store", tiny_config)
    assert subprocess.run(command, capture_output=True).returncode == 0
    before = read_store(tmp_path / "store")
    assert len(before["key"]) == 7
    shutil.copy(shards[1], folder)

    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert f"1 new ({folder / 'pool-00001.tar'})" in again.stderr and "store: ok 15" in again.stdout
    assert "scored 8 rows" in again.stdout  # only the new shard's
    after = read_store(tmp_path / "store")
    for name in before:
        np.testing.assert_array_equal(after[name][:7], before[name], err_msg=name)
    same_values(after, clean)
    store = RunStore.open(str(tmp_path / "store"), read_only=True)
    assert [(r["path"], r["rows"]) for r in store.inputs] == [
        (str(folder / "pool-00000.tar"), [0, 7]),
        (str(folder / "pool-00001.tar"), [7, 15]),
    ]
    nothing = subprocess.run(command, capture_output=True, text=True)
    assert "scored 0 rows" in nothing.stdout and "inputs since" not in nothing.stderr


def test_a_changed_or_removed_input_is_refused_unless_allowed(shards, tmp_path, tiny_config, capsys):
    folder = tmp_path / "pool"
    folder.mkdir()
    for shard in shards:
        shutil.copy(shard, folder)
    base = ["score", "--store", str(tmp_path / "s"), "--clip-config", str(tiny_config), "--clip-random-init"]
    both = [*base, "--input", str(folder / "pool-*.tar")]
    assert main(both) == 0
    first, second = folder / "pool-00000.tar", folder / "pool-00001.tar"
    planned = first.stat()
    shutil.copy(second, first)  # the first shard is replaced by other samples
    line = user_error(capsys, both)
    assert line.startswith(f"pixsift score: inputs: since the store was planned, 1 changed ({first}: ")
    assert line.endswith("pass --allow-changed-inputs to rescore the changed ones and mark the rows of "
                         "removed ones, or score into a new store")  # fmt: skip
    shutil.copy(shards[0], first)  # back as it was, then the second goes away
    os.utime(first, ns=(planned.st_atime_ns, planned.st_mtime_ns))
    second.unlink()
    line = user_error(capsys, both)
    assert f"1 removed ({second})" in line
    assert main([*both, "--allow-changed-inputs"]) == 0
    got = read_store(tmp_path / "s")
    assert got["status"][:7].tolist() == ["ok"] * 7
    assert set(got["status"][7:].tolist()) == {"failed"}
    assert set(got["error"][7:].tolist()) == {f"input_removed: {second} is no longer an input"}
    assert np.isnan(got["clip_cosine"][7:]).all()
    store = RunStore.open(str(tmp_path / "s"), read_only=True)
    assert store.totals()[0] == {"ok": 7, "failed": 8} and [r["rows"] for r in store.inputs] == [[0, 7]]


def test_a_changed_input_is_planned_again_as_new_rows(tmp_path, tiny_config):
    folder = tmp_path / "pool"
    inputs = good_pool(folder)  # pool-00000.tar (2 samples), pool-00001.tar (3)
    cfg = score_config([str(folder / "pool-*.tar")], tmp_path / "s", tiny_config, allow_changed_inputs=True)
    score(cfg, io.StringIO())
    first = folder / "pool-00000.tar"
    with first.open("ab") as f:  # the same members, and a longer end-of-archive padding: a new mtime and size
        f.write(b"\0" * 10240)
    summary = score(cfg, io.StringIO())
    assert summary.rows == 2 and summary.statuses == {"ok": 5, "failed": 2}
    got = read_store(tmp_path / "s")
    assert got["key"].tolist()[5:] == got["key"].tolist()[:2]
    assert all(e.startswith(f"input_changed: {first} changed (") for e in got["error"][:2].tolist())
    assert got["status"].tolist() == ["failed", "failed", "ok", "ok", "ok", "ok", "ok"]
    assert inputs


def test_an_interrupted_extension_leaves_the_store_as_it_was(shards, clean, tmp_path, tiny_config):
    folder = only_first(shards, tmp_path / "pool")
    cfg = score_config([str(folder / "pool-*.tar")], tmp_path / "store", tiny_config, shard_rows=3)
    score(cfg, io.StringIO())
    store = RunStore.open(str(tmp_path / "store"))

    def dies(n):
        for i in range(n):
            yield PlanEntry(f"x{i}", "c", "/nowhere.tar", 0, 1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.extend(dies(5), list)
    assert store.n_rows == 7 and store.arrays["key"].shape[0] > 7  # what the kill left
    shutil.copy(shards[1], folder)
    score(cfg, io.StringIO())
    same_values(read_store(tmp_path / "store"), clean)


def test_sigkill_in_an_incremental_run_resumes_to_a_clean_runs_values(shards, clean, tmp_path, tiny_config):
    folder = only_first(shards, tmp_path / "pool")
    store = tmp_path / "store"
    command = score_command([str(folder / "pool-*.tar")], store, tiny_config)  # units of 3 rows
    assert subprocess.run(command, capture_output=True).returncode == 0
    assert markers(store) == 3
    shutil.copy(shards[1], folder)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, lambda: markers(store) >= 4, 120)
    assert markers(store) < 6, "killed too late to test a resume"
    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "store: ok 15" in resumed.stdout
    same_values(read_store(store), clean)


def test_pixsift_run_sees_a_new_input_as_work_and_says_so(tmp_path, tiny_config, capsys):
    folder = tmp_path / "pool"
    inputs = good_pool(folder)
    (tmp_path / "later").mkdir()
    shutil.move(inputs[1], tmp_path / "later")
    pipeline = write_pipeline(tmp_path, [str(folder / "pool-*.tar")], tiny_config)
    run(capsys, str(pipeline))
    shutil.move(tmp_path / "later" / "pool-00001.tar", folder)
    out = run(capsys, str(pipeline))
    steps = plan(out)
    assert steps["score"] == ("run", f"its inputs changed: 1 new ({folder / 'pool-00001.tar'})")
    assert steps["select"][0] == "re-run"
    assert read_store(tmp_path / "store")["status"].tolist() == ["ok"] * 5
    assert plan(run(capsys, str(pipeline)))["score"] == ("skip", "done")
    assert json.loads((tmp_path / "export" / ".pixsift-manifest.json").read_text())["n_kept"] == 3
