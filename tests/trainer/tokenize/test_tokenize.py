"""`pixsift tokenize` on the CPU with a tiny random Janus: prompts, codes and source pixels equal an
independent computation, unreadable rows fail with their reason, a killed job resumes to the same store,
other settings are refused, Ray gives the local executor's store, and the command runs end to end."""

from __future__ import annotations

import io
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoTokenizer, JanusForConditionalGeneration

from pixsift.engine.cli import main
from pixsift.engine.core.settings import SettingsMismatch
from pixsift.engine.store.run_store import RunStore
from pixsift.trainer.common.image_prep import prepare, vq_input
from pixsift.trainer.common.model_folder import model_info
from pixsift.trainer.common.prompt_format import prompt_text
from pixsift.trainer.common.token_store import EDIT, FAILED, OK, T2I, UNIT_ARRAYS, TokenStore
from pixsift.trainer.tokenize.job import TokenizeConfig, default_fit, tokenize
from tests.helpers.candidate_pools import photo
from tests.helpers.cli import user_error
from tests.helpers.selection_stores import scored_pool, write_captions, write_selection
from tests.helpers.vq_reference import reference_codes

KEPT = [0, 1, 2, 3, 5, 6, 7, 9, 10]  # 9 rows: units of 4, 4 and 1
EDITS = {3: "loose/astronaut-40", 7: "wide.jpg", 9: "gone", 5: "coffee-40.png"}
ARRAYS = ("row", "key", "task", "prompt_offsets", "prompt_ids", *UNIT_ARRAYS)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A scored store with selection "best": edits of a store candidate (row 3), of a wide image file (7),
    of a missing source (9) and of a corrupt file (5); row 2's own image is that corrupt file."""
    tmp = tmp_path_factory.mktemp("pool")
    wide = Image.open(io.BytesIO(photo("chelsea", 96))).resize((90, 60))
    wide.save(tmp / "wide.jpg")
    edits = {row: str(tmp / s) if "." in s else s for row, s in EDITS.items()}
    pool = scored_pool(tmp, edits=edits)
    (tmp / "coffee-40.png").write_bytes(b"not an image")
    write_selection(pool.store, "best", KEPT)
    return pool


def settings(pool, out, tiny_janus, **overrides) -> TokenizeConfig:
    values = dict(unit_rows=4, batch_size=3, device="cpu") | overrides
    return TokenizeConfig(
        store=pool.store.url, selection="best", out=str(out), model=str(tiny_janus), **values
    )


def read(url) -> dict[str, np.ndarray]:
    store = TokenStore.open(str(url))
    return {name: store.arrays[name][:] for name in ARRAYS}


def assert_equal_stores(got: dict, want: dict) -> None:
    for name in ARRAYS:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


@pytest.fixture(scope="module")
def clean(pool, tiny_janus, tmp_path_factory):
    """The store of one uninterrupted local run, and its summary."""
    out = tmp_path_factory.mktemp("clean") / "tokens.zarr"
    summary = tokenize(settings(pool, out, tiny_janus), io.StringIO())
    return out, summary


def test_plan_rows_tasks_and_prompts(pool, tiny_janus, clean):
    store = TokenStore.open(str(clean[0]))
    tokenizer = AutoTokenizer.from_pretrained(tiny_janus)
    assert store.n_rows == len(KEPT) and store.n_image_tokens == 16 and store.image_size == 64
    assert store.model_info["codebook_size"] == 256
    np.testing.assert_array_equal(store.arrays["row"][:], KEPT)
    keys = pool.store.arrays["key"][:]
    assert store.arrays["key"][:].tolist() == keys[KEPT].tolist()
    assert store.arrays["task"][:].tolist() == [EDIT if r in EDITS else T2I for r in KEPT]
    for i, row in enumerate(KEPT):
        caption = str(pool.store.arrays["caption"][row])
        expected = tokenizer(prompt_text(caption, row in EDITS)).input_ids
        assert store.prompt(i).tolist() == expected
        assert expected[0] == tokenizer.bos_token_id


def test_text_to_image_prompts_come_from_the_selection_caption_column(tmp_path, tiny_janus):
    pool = scored_pool(tmp_path / "pool", edits={1: "loose/astronaut-40"})
    write_captions(pool.store, "caption_vlm", {r: f"a detailed caption of row {r}" for r in range(6)})
    select = [
        "select",
        pool.store.url,
        "--name",
        "vlm",
        "--min",
        "clip_cosine=0",
        "--caption-column",
        "caption_vlm",
    ]
    assert main(select) == 0
    cfg = TokenizeConfig(
        store=pool.store.url, selection="vlm", out=str(tmp_path / "t"), model=str(tiny_janus)
    )
    tokenize(cfg, io.StringIO())
    store = TokenStore.open(str(tmp_path / "t"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_janus)
    np.testing.assert_array_equal(store.arrays["row"][:], range(6))  # rows 6-11 have no caption
    instruction = str(pool.store.arrays["caption"][:][1])
    for row in range(6):
        caption, edit = (instruction, True) if row == 1 else (f"a detailed caption of row {row}", False)
        assert store.prompt(row).tolist() == tokenizer(prompt_text(caption, edit)).input_ids


def test_codes_and_source_pixels_equal_an_independent_computation(pool, tiny_janus, clean):
    store = TokenStore.open(str(clean[0]))
    vqmodel = JanusForConditionalGeneration.from_pretrained(tiny_janus).model.vqmodel.eval()
    size = store.image_size

    def codes(data: bytes) -> np.ndarray:
        return reference_codes(vqmodel, vq_input(torch.from_numpy(prepare(data, size, "x")[None])))[0].numpy()

    status = store.arrays["status"][:]
    ok = [i for i, row in enumerate(KEPT) if row not in (2, 5, 9)]
    assert store.ok_rows().tolist() == ok and (status[ok] == OK).all()
    for i in ok:
        row, key = KEPT[i], str(store.arrays["key"][i])
        np.testing.assert_array_equal(store.arrays["image_codes"][i], codes(pool.images[key]), err_msg=key)
        source_codes, pixels = store.arrays["source_codes"][i], store.arrays["source_pixels"][i]
        if row not in EDITS:
            assert (source_codes == -1).all() and not pixels.any()
            continue
        source = EDITS[row]
        data = pool.images[source] if source in pool.images else (pool.tmp / source).read_bytes()
        np.testing.assert_array_equal(pixels, prepare(data, size, "x"))
        np.testing.assert_array_equal(source_codes, codes(data))
    # Row 3 edits the candidate of row 0: the same image, the same codes.
    np.testing.assert_array_equal(store.arrays["source_codes"][3], store.arrays["image_codes"][0])


def test_unreadable_rows_fail_with_their_reason(clean):
    out, summary = clean
    store = TokenStore.open(str(out))
    errors = dict(zip(store.arrays["row"][:].tolist(), store.arrays["error"][:].tolist(), strict=True))
    status = dict(zip(store.arrays["row"][:].tolist(), store.arrays["status"][:].tolist(), strict=True))
    assert {row for row, s in status.items() if s == FAILED} == {2, 5, 9}
    # Row 2's image file was overwritten after scoring: its bytes are not those scored.
    assert errors[2].startswith("changed: ") and errors[2].endswith("differ from those scored (content_hash)")
    assert errors[5].startswith("source: edit source ") and "coffee-40.png" in errors[5]
    assert errors[9] == "source: edit source 'gone': not a key in the run store, nor an existing file"
    assert all(not errors[row] for row in KEPT if row not in (2, 5, 9))
    failed = store.arrays["status"][:] == FAILED
    assert (store.arrays["image_codes"][:][failed] == -1).all()
    assert summary.rows == 9 and summary.units_run == summary.units_total == 3
    assert summary.statuses == {"ok": 6, "failed": 3} and summary.errors == {"source": 2, "changed": 1}
    text = summary.text()
    assert "tokenized 9 rows" in text and "errors by kind: source 2, changed 1" in text and "vq" in text


def test_a_killed_job_resumes_to_the_clean_store(pool, tiny_janus, clean, tmp_path):
    out = tmp_path / "tokens.zarr"
    shutil.copytree(clean[0], out)
    # Killed while writing unit 1: part of its arrays hold other values and it has no marker.
    store = TokenStore.open(str(out), read_only=False)
    shutil.rmtree(out / "progress" / "unit-000001")
    store.arrays["image_codes"][4:8] = 0
    store.arrays["status"][4:8] = 0
    summary = tokenize(settings(pool, out, tiny_janus), io.StringIO())
    assert summary.units_run == 1 and summary.rows == 4
    assert_equal_stores(read(out), read(clean[0]))
    again = tokenize(settings(pool, out, tiny_janus), io.StringIO())
    assert again.units_run == 0 and again.statuses == {"ok": 6, "failed": 3}


def test_a_killed_plan_starts_over(pool, tiny_janus, clean, tmp_path):
    out = tmp_path / "tokens.zarr"
    TokenStore.create(str(out), model={"n_image_tokens": 1, "image_size": 1}, source={}, unit_rows=2)
    tokenize(settings(pool, out, tiny_janus), io.StringIO())
    assert_equal_stores(read(out), read(clean[0]))


def test_other_settings_are_refused(pool, tiny_janus, other_janus, clean, tmp_path):
    out = tmp_path / "tokens.zarr"
    shutil.copytree(clean[0], out)
    with pytest.raises(SettingsMismatch, match=r"settings.dtype: 'float32' before, 'bfloat16' now"):
        tokenize(settings(pool, out, tiny_janus, dtype="bfloat16"), io.StringIO())
    with pytest.raises(SettingsMismatch, match=r"settings.image_prep: 'RGB, short side .* 'RGB, long side"):
        tokenize(settings(pool, out, tiny_janus, image_fit="pad"), io.StringIO())
    with pytest.raises(SettingsMismatch, match=r"unit_rows: 4 before, 3 now"):
        tokenize(settings(pool, out, tiny_janus, unit_rows=3), io.StringIO())
    with pytest.raises(SettingsMismatch, match=r"model.fingerprint"):
        tokenize(settings(pool, out, other_janus), io.StringIO())


def test_a_sharegpt4o_selection_is_padded_by_default_as_janus4o_trained(pool, tmp_path):
    copy = tmp_path / "store"
    shutil.copytree(pool.store.url, copy)
    write_selection(RunStore.open(str(copy), read_only=False), "sharegpt4o", KEPT)
    assert default_fit(str(copy), "sharegpt4o") == "pad" and default_fit(str(copy), "best") == "crop"


def test_overwrite_starts_a_store_of_another_model_over(pool, other_janus, clean, tmp_path, capsys):
    out = tmp_path / "tokens.zarr"
    shutil.copytree(clean[0], out)
    with pytest.raises(SettingsMismatch, match=r"; pass --overwrite to start it over, or use another --out$"):
        tokenize(settings(pool, out, other_janus), io.StringIO())
    tokenize(settings(pool, out, other_janus, overwrite=True), io.StringIO())
    assert "starting it over (--overwrite)" in capsys.readouterr().err
    assert TokenStore.open(str(out)).model_info["fingerprint"] == model_info(str(other_janus))["fingerprint"]
    assert TokenStore.open(str(out)).pending_units() == []


def test_a_token_store_never_replaces_other_data(pool, tiny_janus, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not empty and was not made by pixsift"):
        tokenize(settings(pool, tmp_path, tiny_janus), io.StringIO())
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_ray_executor_gives_the_local_store(pool, tiny_janus, clean, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        cfg = settings(pool, tmp_path / "tokens.zarr", tiny_janus, executor="ray", workers=2)
        cfg.ray_cpus_per_worker = 0.5
        summary = tokenize(cfg, io.StringIO())
    finally:
        ray.shutdown()
    assert summary.units_run == 3 and all(name.startswith("actor ") for name in summary.workers)
    assert_equal_stores(read(tmp_path / "tokens.zarr"), read(clean[0]))


def test_command_line(pool, tiny_janus, clean, tmp_path, capsys):
    out = tmp_path / "tokens.zarr"
    args = ["tokenize", pool.store.url, "--selection", "best", "--out", str(out), "--model", str(tiny_janus)]
    assert main([*args, "--unit-rows", "4", "--batch-size", "2", "--device", "cpu"]) == 0
    assert "tokenized 9 rows" in capsys.readouterr().out
    assert_equal_stores(read(out), read(clean[0]))
    line = user_error(capsys, [*args, "--unit-rows", "3"])
    assert re.fullmatch(
        r"pixsift tokenize: token store .*: made with other settings \(unit_rows: 4 before, 3 now\);.*", line
    )
    other = ["tokenize", pool.store.url, "--out", str(tmp_path / "other.zarr")]
    line = user_error(capsys, [*other, "--selection", "nope", "--model", str(tiny_janus)])
    assert re.fullmatch(r"pixsift tokenize: .*: no selection 'nope'; selections: best", line)
    line = user_error(capsys, [*other, "--selection", "best", "--model", str(tmp_path / "missing")])
    assert re.fullmatch(
        r"pixsift tokenize: model '.*missing': is not a local Janus-Pro checkpoint folder.*", line
    )
    assert not (tmp_path / "other.zarr").exists()


def test_out_of_memory_splits_the_batch_and_fails_only_the_row_that_cannot_fit(
    pool, tiny_janus, clean, tmp_path, monkeypatch
):
    import pixsift.trainer.tokenize.job as job

    real_encode, want = job.encode_codes, read(clean[0])
    too_big = want["image_codes"][0].astype(np.int64)  # row 0's image (also row 3's edit source)

    def small_gpu(vqmodel, pixels):
        codes = real_encode(vqmodel, pixels)
        if len(pixels) > 1 or (codes[0] == torch.from_numpy(too_big)).all():
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return codes

    monkeypatch.setattr(job, "encode_codes", small_gpu)
    summary = tokenize(settings(pool, tmp_path / "split.zarr", tiny_janus), io.StringIO())
    got = read(tmp_path / "split.zarr")
    oom = [0, 3]  # the image alone does not fit: its own row and the edit it is the source of
    assert [got["error"][i].split(":")[0] for i in oom] == ["oom", "oom"]
    assert (got["status"][oom] == FAILED).all() and summary.errors["oom"] == 2
    fine = np.setdiff1d(np.flatnonzero(want["status"] == OK), oom)
    assert (got["status"][fine] == OK).all()
    for name in ("image_codes", "source_codes", "source_pixels"):
        np.testing.assert_array_equal(got[name][fine], want[name][fine], err_msg=name)
