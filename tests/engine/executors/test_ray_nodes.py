"""`pixsift score --executor ray` on a Ray cluster of three nodes on this machine (ray.cluster_utils.Cluster:
three raylets, one CPU actor each): score's and tokenize's units spread over the nodes and the stores equal
one-process runs;
a node removed in the middle of the job (its raylet and its actor killed) costs only the unit its actor
was running, which another node finishes; the summary names that unit and the lost node."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import numpy as np
import pytest

from pixsift.engine.cli import main
from pixsift.engine.score.job import score
from pixsift.trainer.common.token_store import TokenStore
from tests.engine.executors.test_ray_executor import assert_equal_stores, one_thread
from tests.helpers.scoring import good_pool, markers, read_store, score_command, score_config
from tests.helpers.selection_stores import scored_pool, write_selection

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """A head and two worker nodes of one CPU each; (the cluster, its worker nodes). The jobs its actors
    unpickle are pixsift's own, so no test module needs to be on their path."""
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    workers = [nodes.add_node(num_cpus=1) for _ in range(2)]
    nodes.wait_for_nodes()
    yield nodes, workers
    nodes.shutdown()


@pytest.fixture(scope="module")
def pool(tmp_path_factory, tiny_config):
    """40 candidates in 20 units of 2, and the store one process on one thread makes of them."""
    folder = tmp_path_factory.mktemp("nodes")
    inputs = good_pool(folder / "pool", copies=8)
    with one_thread():
        score(score_config(inputs, folder / "local", tiny_config, shard_rows=2, batch_size=2), io.StringIO())
    return inputs, read_store(folder / "local")


def nodes_of(summary: str) -> set[str]:
    """The nodes a summary's per-worker lines name."""
    return {line.split("(node ")[1][:8] for line in summary.splitlines() if line.startswith("  actor ")}


def test_tokenize_spreads_over_the_nodes_and_equals_a_one_process_run(cluster, tmp_path, tiny_janus):
    nodes, _ = cluster
    pool = scored_pool(tmp_path / "pool")
    write_selection(pool.store, "all", list(range(12)))
    base = ["tokenize", pool.store.url, "--selection", "all", "--model", str(tiny_janus), "--unit-rows", "2"]
    with one_thread():
        assert main([*base, "--out", str(tmp_path / "local.zarr")]) == 0
    ray_args = [
        "--executor",
        "ray",
        "--ray-address",
        nodes.address,
        "--workers",
        "3",
        "--ray-cpus-per-worker",
        "1",
    ]
    out = subprocess.run(
        [sys.executable, "-m", "pixsift.engine.cli", *base, "--out", str(tmp_path / "ray.zarr"), *ray_args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert len(nodes_of(out.stdout)) == 3
    local, spread = (TokenStore.open(str(tmp_path / f"{n}.zarr")) for n in ("local", "ray"))
    for name in ("row", "prompt_ids", "status", "image_codes"):
        np.testing.assert_array_equal(spread.arrays[name][:], local.arrays[name][:], err_msg=name)


def driver(inputs, store, tiny_config, address: str) -> list[str]:
    return [
        *score_command(inputs, store, tiny_config),
        "--shard-rows",
        "2",
        "--executor",
        "ray",
        "--ray-address",
        address,
        "--workers",
        "3",
        "--ray-cpus-per-worker",
        "1",
    ]


def test_the_units_spread_over_the_nodes_and_a_lost_node_costs_only_its_unit(
    cluster, pool, tmp_path, tiny_config
):
    nodes, workers = cluster
    inputs, local = pool
    store = tmp_path / "store"
    log = tmp_path / "driver.log"
    with log.open("w") as out:
        job = subprocess.Popen(
            driver(inputs, store, tiny_config, nodes.address), stdout=out, stderr=subprocess.STDOUT
        )
        deadline = time.time() + 180
        while markers(store) < 3:  # every actor is busy: each takes its next unit as it reports
            assert job.poll() is None and time.time() < deadline, log.read_text()
            time.sleep(0.02)
        lost = workers[0]
        nodes.remove_node(lost)
        assert job.wait(300) == 0, log.read_text()
    text = log.read_text()
    assert "store: ok 40" in text and "20 of 20 work units run now" in text, text
    lost_lines = [line for line in text.splitlines() if "lost while running unit" in line]
    assert len(lost_lines) == 1, text  # the lost node's actor, named with its node and its unit
    assert f"(node {lost.node_id[:8]})" in lost_lines[0] and "(retried elsewhere)" in lost_lines[0], text
    assert (
        len(
            {line.split(" on ")[1].split(":")[0] for line in text.splitlines() if line.startswith("  actor ")}
        )
        >= 3
    )
    assert_equal_stores(read_store(store), local)
