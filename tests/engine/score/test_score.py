"""`pixsift score` end to end: values against an independent reference path, bad input, resume."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import open_clip
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import zarr
from PIL import Image
from safetensors.torch import save_file

from pixsift.engine.cli import main as cli_main
from pixsift.engine.score import scorers
from pixsift.engine.score.batch import BatchScorer
from pixsift.engine.score.config import ScoreConfig
from pixsift.engine.score.embed import ClipEmbedder
from pixsift.engine.score.job import (
    DEFAULT_SHARD_ROWS,
    ScoreJob,
    load_embedder,
    planned_store,
    score,
    shard_rows,
)
from pixsift.engine.score.scorers import load_scorer
from pixsift.engine.store.run_store import RunStore
from tests.fixtures.synthvlm import calc_ssim
from tests.helpers.candidate_pools import write_tar
from tests.helpers.cli import user_error
from tests.helpers.image_blobs import BAD
from tests.helpers.processes import kill_when
from tests.helpers.scoring import (
    PHOTOS,
    SCORE_COLUMNS,
    encoded,
    good_pool,
    markers,
    read_store,
    score_command,
    score_config,
)


@pytest.mark.parametrize("decoder", ["dali", "nvjpeg", "pil"])
def test_scores_equal_the_reference_path(tmp_path, tiny_config, decoder):
    inputs = good_pool(tmp_path / "pool")
    summary = score(score_config(inputs, tmp_path / "store", tiny_config, decoder=decoder), io.StringIO())
    assert summary.statuses == {"ok": len(PHOTOS)} and summary.rows == len(PHOTOS)
    got = read_store(tmp_path / "store")

    # The reference: PIL decode, open_clip's own transform and model calls, SynthVLM's round trip.
    ours = ClipEmbedder(config_file=tiny_config, random_init=True)
    model, _, transform = open_clip.create_model_and_transforms(ours.model_name)
    model.load_state_dict(ours.model.state_dict())
    model.eval()
    tokenizer = open_clip.get_tokenizer(ours.model_name)
    for row, key in enumerate(got["key"]):
        name = key.split("/")[1].split("-")[0]
        image = Image.open(io.BytesIO(encoded(name))).convert("RGB")
        with torch.no_grad():
            img = model.encode_image(transform(image)[None]).double()[0]
            txt = model.encode_text(tokenizer([f"a photograph of {name}"])).double()[0]
        cosine = float(img @ txt / (img.norm() * txt.norm()))
        fidelity = calc_ssim(image)

        assert got["status"][row] == "ok" and got["error"][row] == ""
        # Our batched GPU-style resize differs from PIL's by at most one level in a few values.
        np.testing.assert_allclose(got["image_embedding"][row], img.numpy(), rtol=2e-2, atol=2e-2)
        np.testing.assert_allclose(got["text_embedding"][row], txt.numpy(), rtol=1e-2, atol=1e-2)
        assert abs(got["clip_cosine"][row] - cosine) < 2e-3
        assert abs(got["clip_score"][row] - 2.5 * max(cosine, 0.0)) < 5e-3
        assert abs(got["ssim_roundtrip"][row] - fidelity) < 1e-6
        assert (got["width"][row], got["height"][row]) == image.size
        assert got["byte_size"][row] == len(encoded(name))
        assert got["format"][row] == PHOTOS[name][2].lower()
        digest = hashlib.blake2b(encoded(name), digest_size=8).digest()
        assert got["content_hash"][row] == int.from_bytes(digest, "little", signed=True)


def test_every_bad_input_gets_one_row_with_its_reason(tmp_path, tiny_config):
    members = [("good.jpg", encoded("astronaut")), ("good.txt", b"an astronaut")]
    for i, (name, (blob, _)) in enumerate(BAD.items()):
        members += [(f"bad{i:02d}.jpg", blob), (f"bad{i:02d}.txt", name.encode())]
    members += [("noimage.txt", b"a caption without its image"), ("nocaption.jpg", encoded("camera"))]
    shard = write_tar(tmp_path / "bad-00000.tar", members)
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text('{"image": "missing.jpg", "caption": "a file that is not there"}\n')

    summary = score(score_config([str(shard), str(manifest)], tmp_path / "store", tiny_config), io.StringIO())
    got = read_store(tmp_path / "store")
    rows = dict(
        zip(got["key"].tolist(), zip(got["status"].tolist(), got["error"].tolist(), strict=True), strict=True)
    )
    assert len(rows) == len(got["key"]) == 1 + len(BAD) + 2 + 1  # every candidate exactly once
    assert rows["bad-00000/good"] == ("ok", "")
    for i, (name, (_, reason)) in enumerate(BAD.items()):
        status, error = rows[f"bad-00000/bad{i:02d}"]
        assert status == "failed" and error.startswith(f"decode: {reason.rstrip(': (')}"), (name, error)
    assert rows["bad-00000/noimage"][1].startswith("missing_image: ")
    assert rows["bad-00000/nocaption"][1].startswith("missing_caption: ")
    assert rows["missing.jpg"][1].startswith("missing_file: ")
    assert summary.statuses == {"ok": 1, "failed": len(rows) - 1}
    assert summary.errors["decode"] == len(BAD)


def _holds_caption(tiny_config, caption: str):
    """Whether a batch's ScoreInputs hold `caption` (on the CPU the model step sees no images)."""
    (tokens,) = ClipEmbedder(config_file=tiny_config, random_init=True).tokenize([caption])[0]

    def holds(inputs) -> bool:
        length = len(tokens)
        return inputs.tokens.shape[1] >= length and bool((inputs.tokens[:, :length] == tokens).all(1).any())

    return holds


def test_out_of_memory_splits_the_batch_and_fails_only_what_cannot_fit(tmp_path, tiny_config, monkeypatch):
    inputs = good_pool(tmp_path / "pool")
    clean = score(score_config(inputs, tmp_path / "clean", tiny_config), io.StringIO())
    real_call = BatchScorer.__call__
    holds_rocket = _holds_caption(tiny_config, "a photograph of rocket")

    def small_gpu(self, inputs, times):
        if len(inputs) > 1 or holds_rocket(inputs):  # batches of 2+ and the 200 px wide image
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_call(self, inputs, times)

    monkeypatch.setattr(BatchScorer, "__call__", small_gpu)
    split = score(score_config(inputs, tmp_path / "split", tiny_config), io.StringIO())
    a, b = read_store(tmp_path / "clean"), read_store(tmp_path / "split")
    oom = b["width"] == 200
    assert oom.sum() == 1 and b["status"][oom][0] == "failed" and b["error"][oom][0].startswith("oom: ")
    assert clean.statuses == {"ok": len(PHOTOS)} and split.statuses == {"ok": len(PHOTOS) - 1, "failed": 1}
    for name in ("clip_cosine", "ssim_roundtrip", "image_embedding"):
        np.testing.assert_allclose(b[name][~oom], a[name][~oom], rtol=1e-5, atol=1e-3)


def test_shared_captions_and_thread_counts_leave_every_column_unchanged(tmp_path, tiny_config):
    """Each distinct caption of a batch is encoded once and a batch's text at its longest caption; the
    columns equal those of a pool whose every caption is distinct, in any number of CPU threads."""
    captions = ["a cat", "a cat", "a photograph of a cat on a mat", "a cat", "a dog", "a dog"]
    names = list(PHOTOS)
    members = []
    for i, caption in enumerate(captions):
        name = names[i % len(names)]
        ext = PHOTOS[name][2].lower().replace("jpeg", "jpg")
        members += [(f"s{i}.{ext}", encoded(name)), (f"s{i}.txt", caption.encode())]
    inputs = [str(write_tar(tmp_path / "pool.tar", members))]
    score(score_config(inputs, tmp_path / "one", tiny_config, batch_size=6, decode_threads=1), io.StringIO())
    score(score_config(inputs, tmp_path / "many", tiny_config, batch_size=6, decode_threads=3), io.StringIO())
    one, many = read_store(tmp_path / "one"), read_store(tmp_path / "many")
    for name in SCORE_COLUMNS:
        np.testing.assert_array_equal(one[name], many[name], err_msg=name)

    ours = ClipEmbedder(config_file=tiny_config, random_init=True)
    alone = torch.cat([ours.encode_texts([caption]) for caption in captions])  # each at its own length
    np.testing.assert_allclose(one["text_embedding"], alone.half().numpy(), atol=2e-3)
    assert np.array_equal(one["text_embedding"][0], one["text_embedding"][3])


def test_the_store_records_the_decoder_of_each_unit(tmp_path, tiny_config, capsys):
    inputs = good_pool(tmp_path / "pool")
    model = ["--clip-config", str(tiny_config), "--clip-random-init"]
    assert (
        cli_main(
            ["score", "--input", *inputs, "--store", str(tmp_path / "store"), *model, "--decoder", "pil"]
        )
        == 0
    )
    assert "score: decoding with pil on cpu" in capsys.readouterr().err
    assert cli_main(["inspect", str(tmp_path / "store")]) == 0
    assert "units by decoder: pil" in capsys.readouterr().out


def test_a_job_in_which_every_row_failed_exits_2_after_its_summary(tmp_path, tiny_config, capsys):
    members = [m for i in range(3) for m in ((f"s{i}.jpg", b"not an image"), (f"s{i}.txt", b"a caption"))]
    inputs = [str(write_tar(tmp_path / "broken.tar", members))]
    model = ["--clip-config", str(tiny_config), "--clip-random-init"]
    store = tmp_path / "store"
    capsys.readouterr()
    assert cli_main(["score", "--input", *inputs, "--store", str(store), *model]) == 2
    out, err = capsys.readouterr()
    assert "store: failed 3" in out and "errors by kind: decode 3" in out and "Traceback" not in err
    assert err.splitlines()[-1] == (
        f"pixsift score: {store}: every one of its 3 rows failed (decode 3); the errors by kind above say why"
    )


def test_a_hugging_face_parquet_dataset_scores_every_row_ok(tmp_path, tiny_config):
    rows = [
        {"image": {"bytes": encoded(n), "path": f"{n}.img"}, "caption": f"a photo of {n}"} for n in PHOTOS
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "train-00000-of-00001.parquet", row_group_size=2)
    summary = score(score_config([str(tmp_path)], tmp_path / "store", tiny_config), io.StringIO())
    assert summary.statuses == {"ok": len(PHOTOS)}
    got = read_store(tmp_path / "store")
    assert got["key"].tolist() == [f"{n}.img" for n in PHOTOS]
    assert got["byte_size"].tolist() == [len(encoded(n)) for n in PHOTOS]


def test_a_datasets_save_to_disk_folder_scores_every_row_ok(tmp_path, tiny_config):
    datasets = pytest.importorskip("datasets")
    rows = {
        "image": [{"bytes": encoded(n), "path": None} for n in PHOTOS],
        "text": [f"a {n}" for n in PHOTOS],
    }
    dataset = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())
    dataset.save_to_disk(str(tmp_path / "saved"))
    summary = score(score_config([str(tmp_path / "saved")], tmp_path / "store", tiny_config), io.StringIO())
    assert summary.statuses == {"ok": len(PHOTOS)}
    assert read_store(tmp_path / "store")["byte_size"].tolist() == [len(encoded(n)) for n in PHOTOS]


def test_two_worker_processes_equal_one(tmp_path, tiny_config):
    inputs = good_pool(tmp_path / "pool", copies=2)
    score(score_config(inputs, tmp_path / "one", tiny_config), io.StringIO())
    score(score_config(inputs, tmp_path / "two", tiny_config, workers=2), io.StringIO())
    a, b = read_store(tmp_path / "one"), read_store(tmp_path / "two")
    for name in SCORE_COLUMNS:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


@pytest.fixture(scope="module")
def resume_pool(tmp_path_factory, tiny_config):
    """15 candidates in 5 units of 3, and the store of an uninterrupted run over them."""
    folder = tmp_path_factory.mktemp("resume")
    inputs = good_pool(folder / "pool", copies=3)
    clean = folder / "clean"
    score(score_config(inputs, clean, tiny_config, shard_rows=3, batch_size=2), io.StringIO())
    return inputs, read_store(clean)


@pytest.mark.parametrize("kill_after_units", [0, 1, 3])
def test_sigkill_and_resume_equals_a_clean_run(tmp_path, tiny_config, resume_pool, kill_after_units):
    inputs, clean = resume_pool
    command = score_command(inputs, tmp_path / "killed", tiny_config)
    store = tmp_path / "killed"
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, lambda: markers(store) >= kill_after_units and (store / "zarr.json").exists(), 120)
    assert markers(store) < 5, "killed too late to test a resume"

    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "store: ok 15" in resumed.stdout
    again = read_store(store)
    assert sorted(clean) == sorted(again)
    for name in clean:
        np.testing.assert_array_equal(again[name], clean[name], err_msg=name)


def test_cli_reads_a_config_file_and_inspect_reports_the_store(tmp_path, tiny_config, capsys):
    inputs = good_pool(tmp_path / "pool")
    settings = tmp_path / "score.toml"
    settings.write_text(
        f'inputs = {inputs!r}\nclip_config = "{tiny_config}"\nclip_random_init = true\nshard_rows = 2\n'
    )
    assert cli_main(["score", "--config", str(settings), "--store", str(tmp_path / "store")]) == 0
    out = capsys.readouterr().out
    assert f"scored {len(PHOTOS)} rows" in out and f"store: ok {len(PHOTOS)}" in out
    assert "time per stage" in out and "decode" in out and "embed" in out

    assert cli_main(["inspect", str(tmp_path / "store")]) == 0
    report = capsys.readouterr().out
    assert f"rows by status: ok {len(PHOTOS)}" in report and "clip_cosine" in report


def test_an_extra_scorer_lands_as_its_own_column(tmp_path, tiny_config):
    torch.manual_seed(0)
    layers = {"layers.0.weight": torch.randn(8, 32), "layers.0.bias": torch.randn(8)}
    layers |= {"layers.1.weight": torch.randn(1, 8), "layers.1.bias": torch.randn(1)}
    save_file(layers, str(tmp_path / "head.safetensors"))
    inputs = good_pool(tmp_path / "pool")
    scorers = {"aesthetic": str(tmp_path / "head.safetensors")}
    score(score_config(inputs, tmp_path / "store", tiny_config, scorers=scorers), io.StringIO())
    got = read_store(tmp_path / "store")
    emb = torch.nn.functional.normalize(torch.from_numpy(got["image_embedding"]).double(), dim=1)
    hidden = torch.relu(emb @ layers["layers.0.weight"].double().T + layers["layers.0.bias"].double())
    expected = (hidden @ layers["layers.1.weight"].double().T + layers["layers.1.bias"].double())[:, 0]
    # The stored embeddings are float16; the scorer saw them in float32.
    np.testing.assert_allclose(got["aesthetic"], expected.numpy(), rtol=1e-2, atol=1e-2)


NEW_SCORER = '''"""A linear probe on the image embedding, from a .npy vector (added by a test)."""

import numpy as np
import torch

SUFFIXES = (".npy",)


class Scorer:
    def __init__(self, path, name, device):
        self.name = name
        self.weight = torch.from_numpy(np.load(path)).float().to(device)

    def __call__(self, image_emb, text_emb):
        return image_emb.float() @ self.weight
'''


def test_a_new_kind_of_scorer_is_one_new_module(tmp_path, tiny_config):
    """A module added to engine/score/scorers/ loads the files of its suffix; its column is in the store."""
    module = Path(scorers.__path__[0]) / "linear_probe.py"
    assert not module.exists()
    probe = np.random.default_rng(0).standard_normal(32).astype(np.float32)
    np.save(tmp_path / "probe.npy", probe)
    command = score_command(good_pool(tmp_path / "pool"), tmp_path / "store", tiny_config)
    module.write_text(NEW_SCORER)
    try:
        done = subprocess.run([*command, "--scorer", f"probe={tmp_path / 'probe.npy'}"], capture_output=True)
    finally:
        module.unlink()
    assert done.returncode == 0, done.stderr.decode()
    got = read_store(tmp_path / "store")
    expected = got["image_embedding"].astype(np.float32) @ probe
    np.testing.assert_allclose(got["probe"], expected, rtol=2e-2, atol=2e-2)
    with pytest.raises(ValueError, match=r"no kind of scorer loads \.npy; the scorers load \.pt, \.pth"):
        load_scorer(tmp_path / "probe.npy", "probe", "cpu")


def test_a_store_made_with_other_settings_is_refused(tmp_path, tiny_config):
    inputs = good_pool(tmp_path / "pool")
    score(score_config(inputs, tmp_path / "store", tiny_config), io.StringIO())
    with pytest.raises(ValueError, match="fidelity_size: 768 before, 512 now"):
        score(score_config(inputs, tmp_path / "store", tiny_config, fidelity_size=512), io.StringIO())
    with pytest.raises(ValueError, match="text_prefix: '' before, 'A photo depicts ' now"):
        prefixed = score_config(inputs, tmp_path / "store", tiny_config, text_prefix="A photo depicts ")
        score(prefixed, io.StringIO())

    # A store scored before the round trip followed SynthVLM's order (grayscale after the resizes).
    group = zarr.open_group(str(tmp_path / "store"), mode="r+")
    group.attrs["config"] = {k: v for k, v in group.attrs["config"].items() if k != "ssim_roundtrip"}
    with pytest.raises(ValueError, match="ssim_roundtrip: '<absent>' before, 'SynthVLM calc_ssim"):
        score(score_config(inputs, tmp_path / "store", tiny_config), io.StringIO())


def test_unknown_config_keys_are_named(tmp_path):
    settings = tmp_path / "bad.toml"
    settings.write_text('inputs = ["x.tar"]\nstore = "s"\nclip_modle = "ViT-B-32"\n')
    with pytest.raises(ValueError, match="unknown settings clip_modle"):
        ScoreConfig.load(settings)


def test_an_image_that_breaks_the_kernels_fails_only_its_row(tmp_path, tiny_config, monkeypatch):
    inputs = good_pool(tmp_path / "pool")
    real_call = BatchScorer.__call__
    holds_rocket = _holds_caption(tiny_config, "a photograph of rocket")

    def breaks_on_the_wide_one(self, inputs, times):
        if holds_rocket(inputs):  # the 200 px wide image
            raise ValueError("a kernel bug that this image alone triggers")
        return real_call(self, inputs, times)

    monkeypatch.setattr(BatchScorer, "__call__", breaks_on_the_wide_one)
    summary = score(score_config(inputs, tmp_path / "store", tiny_config), io.StringIO())
    got = read_store(tmp_path / "store")
    broken = got["width"] == 200
    assert summary.statuses == {"ok": len(PHOTOS) - 1, "failed": 1}
    assert got["error"][broken][0] == "score: ValueError: a kernel bug that this image alone triggers"


def test_a_store_removed_while_the_job_runs_stops_it_with_one_line(
    tmp_path, tiny_config, monkeypatch, capsys
):

    inputs = good_pool(tmp_path / "pool")
    store = tmp_path / "store"
    real_write = RunStore.write_unit
    written = []

    def removed_after_the_first_unit(self, unit, columns, info=None, check=None):
        if written:
            shutil.rmtree(store)
        written.append(unit.index)
        return real_write(self, unit, columns, info)

    monkeypatch.setattr(RunStore, "write_unit", removed_after_the_first_unit)
    args = ["score", "--input", *inputs, "--store", str(store), "--clip-config", str(tiny_config)]
    line = user_error(capsys, [*args, "--clip-random-init", "--shard-rows", "2", "--device", "cpu"])
    assert line == f"pixsift score: {store}: the run store was removed while the job ran; run the job again"
    assert not store.exists()  # nothing was written into the void


def test_two_scores_of_one_store_never_share_it(tmp_path, tiny_config, resume_pool):
    inputs, clean = resume_pool
    store = tmp_path / "store"
    command = score_command(inputs, store, tiny_config)
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / ".store.pixsift-lock"
    deadline = time.monotonic() + 120
    while not (lock.exists() and f'"pid": {first.pid}' in lock.read_text()):
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.01)
    first.send_signal(signal.SIGSTOP)  # holding the lock, as a long job would
    try:
        second = subprocess.run(command, capture_output=True, text=True)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2 and second.stdout == ""
    assert second.stderr.startswith(
        f"pixsift score: {store}: another pixsift job is writing this run store (pid {first.pid} "
    )
    out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    got = read_store(store)
    for name in clean:
        np.testing.assert_array_equal(got[name], clean[name], err_msg=name)


def test_a_long_unit_reports_its_rows_as_they_are_done(tmp_path, tiny_config, monkeypatch):
    """Progress moves inside a unit: partial reports of the rows filled so far, then the rest."""
    import pixsift.engine.executors.base

    monkeypatch.setattr(pixsift.engine.executors.base, "PARTIAL_SECONDS", 0.0)
    inputs = good_pool(tmp_path / "pool", copies=2)
    cfg = score_config(inputs, tmp_path / "store", tiny_config, shard_rows=64, batch_size=2)
    store = planned_store(cfg, load_embedder(cfg, "cpu"))
    reports = []
    ScoreJob(cfg).run_units([0], 0, reports.append)
    *partial, final = reports
    assert len(partial) >= 2 and all(r.partial and not r.seconds for r in partial)
    assert not final.partial and final.seconds
    assert sum(r.rows for r in reports) == store.n_rows == 2 * len(PHOTOS)


def test_units_are_small_on_the_cpu_and_a_store_keeps_its_own_size(tmp_path, tiny_config):
    inputs = good_pool(tmp_path / "pool")
    cfg = score_config(inputs, tmp_path / "store", tiny_config, shard_rows=None)
    assert shard_rows(cfg, RunStore.planned_at(cfg.store)) == DEFAULT_SHARD_ROWS["cpu"] == 512
    score(score_config(inputs, tmp_path / "store", tiny_config, shard_rows=3), io.StringIO())
    assert shard_rows(cfg, RunStore.planned_at(cfg.store)) == 3
    summary = score(cfg, io.StringIO())  # resumes the store as it was made: nothing left to do
    assert summary.units_run == 0


def test_a_hugging_face_imagefolder_scores_every_row_with_its_metadata(tmp_path, tiny_config):
    """`datasets`' imagefolder: a metadata file naming images in `file_name`, at the top or per split."""
    names = list(PHOTOS)
    for split, rows, table in (("train", names[:3], "metadata.csv"), ("test", names[3:], "metadata.jsonl")):
        (tmp_path / "folder" / split).mkdir(parents=True)
        for name in rows:
            (tmp_path / "folder" / split / f"{name}.img").write_bytes(encoded(name))
        records = [{"file_name": f"{n}.img", "text": f"a photo of {n}", "license": "cc-by"} for n in rows]
        if table.endswith(".csv"):
            lines = ["file_name,text,license", *(",".join(r.values()) for r in records)]
            (tmp_path / "folder" / split / table).write_text("\n".join(lines) + "\n")
        else:
            (tmp_path / "folder" / split / table).write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = score(score_config([str(tmp_path / "folder")], tmp_path / "store", tiny_config), io.StringIO())
    assert summary.statuses == {"ok": len(PHOTOS)}
    got = read_store(tmp_path / "store")
    assert got["caption"].tolist() == [f"a photo of {n}" for n in names[3:] + names[:3]]  # splits by name
    assert {json.loads(m)["license"] for m in got["meta"].tolist()} == {"cc-by"}


def test_a_datasets_parquet_of_image_paths_scores_every_row_with_its_metadata(
    tmp_path, tiny_config, capsys, monkeypatch
):
    """`Dataset.to_parquet` keeps an Image column cast from files as {bytes: null, path}: the paths are
    read relative to the table, and a table whose images are not there is refused before any scoring."""
    datasets = pytest.importorskip("datasets")
    (tmp_path / "data" / "images").mkdir(parents=True)
    for name in PHOTOS:
        (tmp_path / "data" / "images" / f"{name}.img").write_bytes(encoded(name))
    rows = {"image": [f"images/{n}.img" for n in PHOTOS], "caption": [f"a {n}" for n in PHOTOS],
            "width_hint": list(range(len(PHOTOS)))}  # fmt: skip
    table = tmp_path / "data" / "train.parquet"
    monkeypatch.chdir(tmp_path / "data")  # where the paths were written from
    datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image()).to_parquet(str(table))
    monkeypatch.chdir(tmp_path)
    assert pq.read_table(table).column("image").combine_chunks().field("bytes").null_count == len(PHOTOS)
    summary = score(score_config([str(table)], tmp_path / "store", tiny_config), io.StringIO())
    assert summary.statuses == {"ok": len(PHOTOS)}
    got = read_store(tmp_path / "store")
    assert got["byte_size"].tolist() == [len(encoded(n)) for n in PHOTOS]
    assert [json.loads(m)["width_hint"] for m in got["meta"].tolist()] == list(range(len(PHOTOS)))
    shutil.rmtree(tmp_path / "data" / "images")
    line = user_error(capsys, score_command([str(table)], tmp_path / "other", tiny_config)[3:])
    assert "cannot be read (missing_file 5; first: missing_file: " in line
    assert not (tmp_path / "other" / "progress").exists() or markers(tmp_path / "other") == 0
