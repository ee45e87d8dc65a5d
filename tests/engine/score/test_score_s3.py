"""`pixsift score` with its inputs and its store on an S3 API (moto's server on 127.0.0.1, s3fs): the columns
of a local run; a driver paused (SIGSTOP) past its lease commits nothing more once resumed, and exits with
one line, while a second driver takes the lease over and finishes the store."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zarr

from pixsift.engine.cli import main
from pixsift.engine.score.job import score
from tests.helpers.scoring import PHOTOS, encoded, good_pool, read_store, score_command, score_config

PATHS = ("source",)  # the columns that name where the inputs are


@pytest.fixture(scope="module")
def pool(tmp_path_factory, tiny_config):
    """Two tar shards of 15 photographs (5 x 3) and the store a local run makes of them."""
    folder = tmp_path_factory.mktemp("s3-pool")
    inputs = good_pool(folder / "pool", copies=3)
    score(score_config(inputs, folder / "local.zarr", tiny_config, shard_rows=3, batch_size=2), io.StringIO())
    return inputs, read_store(folder / "local.zarr")


def upload(inputs: list[str], bucket: str) -> list[str]:
    fs = fsspec.filesystem("s3")
    urls = [f"{bucket}/pool/{os.path.basename(path)}" for path in inputs]
    for path, url in zip(inputs, urls, strict=True):
        fs.put_file(path, url.removeprefix("s3://"))
    return urls


def assert_same_columns(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for name in want:
        if name not in PATHS:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def s3_store(url: str) -> dict[str, np.ndarray]:
    return {name: array[:] for name, array in zarr.open_group(url, mode="r").arrays()}


def test_score_on_s3_equals_the_local_store_column_for_column(pool, bucket, tiny_config):
    inputs, local = pool
    url = f"{bucket}/run.zarr"
    cfg = score_config(upload(inputs, bucket), url, tiny_config, shard_rows=3, batch_size=2)
    summary = score(cfg, io.StringIO())
    assert summary.statuses == {"ok": 15}
    found = s3_store(url)
    assert_same_columns(found, local)
    assert all(s.startswith(f"{bucket}/pool/pool-0000") for s in found["source"].tolist())


def markers(url: str) -> list[dict]:
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    paths = fs.glob(f"{url.removeprefix('s3://')}/progress/unit-*/zarr.json")
    return [json.loads(fs.cat_file(p))["attributes"] for p in sorted(paths)]


def test_a_driver_paused_past_its_lease_commits_nothing_more(pool, bucket, tiny_config, tmp_path):
    inputs, local = pool
    url = f"{bucket}/run.zarr"
    command = score_command(upload(inputs, bucket), url, tiny_config)  # units of 3 rows, batches of 2
    env = {**os.environ, "PIXSIFT_LEASE_SECONDS": "4"}
    log = tmp_path / "paused.log"
    with log.open("w") as out:
        paused = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 120
        while not markers(url):
            assert paused.poll() is None and time.time() < deadline, log.read_text()
            time.sleep(0.05)
        paused.send_signal(signal.SIGSTOP)
        before = markers(url)
        time.sleep(6)  # past the lease's expiry
        taker = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert taker.returncode == 0, taker.stderr
        paused.send_signal(signal.SIGCONT)
        assert paused.wait(120) == 2
    lines = log.read_text().splitlines()
    assert lines[-1] == (
        f"pixsift score: {url}: this job lost its lease on the store (another job took it over, and has "
        "released it); it commits nothing more; the job that took the lease finishes the store"
    )
    tokens = {m["lease"] for m in before}
    assert len(tokens) == 1  # the paused driver's
    after = markers(url)
    assert sum(m["lease"] in tokens for m in after) == len(before)  # none written after the pause
    assert_same_columns(s3_store(url), local)


@pytest.fixture(scope="module")
def stores(pool, tiny_config, tmp_path_factory, s3_endpoint):
    """The same candidates scored twice, from local files into a local store and from the same files on S3
    (tar shards, a Hugging Face Parquet table with the images inline) into a store on S3."""
    from tests.helpers.s3_server import new_bucket

    inputs, _ = pool
    folder = tmp_path_factory.mktemp("s3-stores")
    table = folder / "hf" / "train-00000-of-00001.parquet"
    table.parent.mkdir()
    rows = [
        {"image": {"bytes": encoded(n), "path": f"{n}.img"}, "caption": f"a photo of {n}"} for n in PHOTOS
    ]
    pq.write_table(pa.Table.from_pylist(rows), table, row_group_size=2)
    local = folder / "local.zarr"
    score(score_config([*inputs, str(table)], local, tiny_config, batch_size=2), io.StringIO())
    bucket = new_bucket()
    remote = f"{bucket}/run.zarr"
    uploaded = [*upload(inputs, bucket), *upload([str(table)], bucket)]
    score(score_config(uploaded, remote, tiny_config, batch_size=2), io.StringIO())
    return str(local), remote, bucket


def test_every_stage_reads_and_writes_the_s3_store_as_a_local_one(stores, tiny_janus, tmp_path, capsys):
    local, remote, bucket = stores
    assert_same_columns(s3_store(remote), read_store(local))
    outputs = {}
    for name, store in (("local", local), ("s3", remote)):
        assert main(["select", store, "--recipe", "synthvlm", "--set", "top_k.fraction=0.5"]) == 0
        assert main(["export", store, "--selection", "synthvlm", "--to", str(tmp_path / f"{name}-export"),
                     "--format", "jsonl"]) == 0  # fmt: skip
        assert (
            main(["report", store, "--selection", "synthvlm", "--out", str(tmp_path / f"{name}-report")]) == 0
        )
        capsys.readouterr()
        assert main(["show", store, "--selection", "synthvlm", "--format", "jsonl", "--limit", "0"]) == 0
        assert main(["inspect", store]) == 0
        tokens = str(tmp_path / f"{name}-tokens.zarr") if name == "local" else f"{bucket}/tokens.zarr"
        janus = str(tiny_janus)
        assert main(["tokenize", store, "--selection", "synthvlm", "--out", tokens, "--model", janus]) == 0
        outputs[name] = (capsys.readouterr().out.replace(store, "STORE"), tokens)
    kept = {
        n: zarr.open_group(s, mode="r")["selections/synthvlm/kept"][:]
        for n, s in (("local", local), ("s3", remote))
    }
    np.testing.assert_array_equal(kept["s3"], kept["local"])
    (local_out, local_tokens), (s3_out, s3_tokens) = outputs["local"], outputs["s3"]
    assert s3_out.split("config:")[0] == local_out.split("config:")[0]  # show's rows and inspect's head
    for array in ("row", "prompt_ids", "status", "image_codes"):
        np.testing.assert_array_equal(
            zarr.open_group(s3_tokens, mode="r")[array][:], zarr.open_group(local_tokens, mode="r")[array][:]
        )
    exported = [(tmp_path / f"{n}-export").glob("*.jsonl") for n in ("local", "s3")]
    local_lines, s3_lines = (
        [line for f in sorted(files) for line in f.read_text().splitlines()] for files in exported
    )
    assert len(s3_lines) == len(local_lines) > 0


def test_a_parquet_manifest_of_image_files_on_s3_scores_as_the_same_manifest_locally(
    bucket, tiny_config, tmp_path
):
    folder = tmp_path / "manifest"
    folder.mkdir()
    for name in PHOTOS:
        (folder / f"{name}.img").write_bytes(encoded(name))
    rows = [{"image": f"{name}.img", "caption": f"a photo of {name}"} for name in PHOTOS]
    pq.write_table(pa.Table.from_pylist(rows), folder / "manifest.parquet")
    score(
        score_config([str(folder / "manifest.parquet")], tmp_path / "local.zarr", tiny_config), io.StringIO()
    )
    fsspec.filesystem("s3").put(str(folder), f"{bucket.removeprefix('s3://')}/manifest", recursive=True)
    remote = f"{bucket}/run.zarr"
    cfg = score_config([f"{bucket}/manifest/manifest.parquet"], remote, tiny_config)
    assert score(cfg, io.StringIO()).statuses == {"ok": len(PHOTOS)}
    assert_same_columns(s3_store(remote), read_store(tmp_path / "local.zarr"))


def test_a_pipeline_with_its_store_on_s3_runs_then_has_nothing_to_do(
    pool, bucket, tiny_config, tmp_path, capsys
):
    inputs, local = pool
    shards = upload(inputs, bucket)
    pipeline = tmp_path / "pipeline.toml"
    pipeline.write_text(
        f'[score]\ninputs = {json.dumps(shards)}\nstore = "{bucket}/run.zarr"\n'
        f'clip_config = "{tiny_config}"\n'
        "clip_random_init = true\nshard_rows = 3\nbatch_size = 2\n\n"
        '[select]\nrecipe = "synthvlm"\n\n'
        f'[export]\nto = "{tmp_path / "export"}"\nformat = "jsonl"\n'
    )
    assert main(["run", str(pipeline)]) == 0
    assert_same_columns(s3_store(f"{bucket}/run.zarr"), local)
    capsys.readouterr()
    assert main(["run", str(pipeline)]) == 0
    assert "every stage was done" in capsys.readouterr().out
