"""`pixsift caption` on a tiny random Qwen2.5-VL in its published layout: each caption is the one
transformers' greedy `generate` writes for the image alone, flagged as ShareGPT4V's curation would; a job
killed with SIGKILL resumes to the columns of an uninterrupted run; a second writer is refused."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor

from pixsift.engine.cli import main
from pixsift.engine.store.lock import writing
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.selection import reason_names, selection_group
from pixsift.engine.vlm.caption_checks import flags, repetition
from pixsift.engine.vlm.config import SHAREGPT4V_PROMPT
from tests.helpers.cli import user_error
from tests.helpers.processes import kill_when
from tests.helpers.selection_stores import grow_pool, scored_pool, write_selection

COLUMNS = ("caption_vlm", "caption_vlm_tokens", "caption_vlm_truncated", "caption_vlm_repetition",
           "caption_vlm_flags", "caption_vlm_status", "caption_vlm_error")  # fmt: skip


def caption_argv(store: str, model, *more: str) -> list[str]:
    return ["caption", store, "--model", str(model), "--max-new-tokens", "10", *more]


def columns(store: str) -> dict[str, list]:
    arrays = RunStore.open(store, read_only=True).arrays
    return {name: arrays[name][:].tolist() for name in COLUMNS}


@torch.no_grad()
def reference_caption(folder, blob: bytes, max_new_tokens: int) -> str:
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": SHAREGPT4V_PROMPT}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    image = Image.open(io.BytesIO(blob)).convert("RGB")
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True).strip()


@pytest.mark.parametrize("model", ["tiny_qwen25vl", "tiny_llava_onevision", "tiny_janus"])
def test_each_caption_is_greedy_generate_on_the_image_alone(tmp_path, model, request):
    folder = request.getfixturevalue(model)
    pool = scored_pool(tmp_path / "pool")
    assert main(caption_argv(pool.store.url, folder, "--batch-size", "1")) == 0
    found = columns(pool.store.url)
    keys = pool.store.arrays["key"][:].tolist()
    for row in (0, 5, 10):
        assert found["caption_vlm"][row] == reference_caption(folder, pool.images[keys[row]], 10)
    assert found["caption_vlm_status"] == ["ok"] * 12
    assert found["caption_vlm_tokens"] == [10] * 12  # a random model never says it is done
    assert found["caption_vlm_truncated"] == [1] * 12
    assert all("truncated" in f for f in found["caption_vlm_flags"])


def test_batched_captions_are_written_for_every_row_of_a_selection(tmp_path, tiny_qwen25vl):
    pool = scored_pool(tmp_path / "pool")
    write_selection(pool.store, "some", [0, 3, 4, 9])
    assert main(caption_argv(pool.store.url, tiny_qwen25vl, "--selection", "some", "--batch-size", "3")) == 0
    found = columns(pool.store.url)
    assert [i for i, s in enumerate(found["caption_vlm_status"]) if s == "ok"] == [0, 3, 4, 9]
    assert all(found["caption_vlm"][i] for i in (0, 3, 4, 9))
    assert found["caption_vlm_error"][1] == "not_selected: not kept by selection 'some'"
    assert found["caption_vlm_tokens"][1] == -1 and np.isnan(found["caption_vlm_repetition"][1])


def test_the_checks_of_a_caption():
    assert repetition("a cat on a mat", 4) == 0.0
    assert repetition("the dog runs the dog runs the dog runs", 3) == pytest.approx(1 - 3 / 7)
    assert repetition("too short", 4) == 0.0
    assert flags("", False, 0.0, 0.2) == "empty"
    assert flags("x y", True, 0.5, 0.2) == "truncated,repetitive"
    assert flags("fine", False, 0.2, 0.2) == ""


def test_a_killed_caption_job_resumes_to_the_uninterrupted_columns(tmp_path, tiny_qwen25vl):
    clean = scored_pool(tmp_path / "clean", shard_rows=2).store.url
    assert main(caption_argv(clean, tiny_qwen25vl, "--batch-size", "2")) == 0

    killed = scored_pool(tmp_path / "killed", shard_rows=2).store.url
    argv = [
        sys.executable,
        "-m",
        "pixsift.engine.cli",
        *caption_argv(killed, tiny_qwen25vl, "--batch-size", "2"),
    ]
    progress = tmp_path / "killed" / "run.zarr" / "annotations" / "caption_vlm" / "progress"
    log = tmp_path / "log"
    with log.open("w") as out:
        job = subprocess.Popen(argv, stderr=out, stdout=out)
        kill_when(job, lambda: len(list(progress.glob("unit-*/zarr.json"))) >= 2, 120, log)
    done = len(list(progress.glob("unit-*/zarr.json")))
    assert 2 <= done < 6, "killed part-way"
    assert main(caption_argv(killed, tiny_qwen25vl, "--batch-size", "2")) == 0
    assert columns(killed) == columns(clean)


def test_a_second_writer_is_refused(tmp_path, tiny_qwen25vl, capsys):
    store = scored_pool(tmp_path / "pool").store.url
    with writing(store, "run store"):
        line = user_error(capsys, caption_argv(store, tiny_qwen25vl))
    assert line.startswith(f"pixsift caption: {store}: another pixsift job is writing this run store (pid ")


def test_select_and_export_take_the_captions_from_the_column(tmp_path, tiny_qwen25vl):
    from pixsift.engine.export.job import export

    pool = scored_pool(tmp_path / "pool", edits={1: "loose/astronaut-40"})
    store = pool.store.url
    write_selection(pool.store, "first", list(range(8)))
    assert main(caption_argv(store, tiny_qwen25vl, "--selection", "first")) == 0
    select = ["select", store, "--name", "vlm", "--min", "clip_cosine=0", "--caption-column", "caption_vlm"]
    assert main(select) == 0

    run = RunStore.open(store, read_only=True)
    chosen = selection_group(run, "vlm")
    assert chosen["kept"][:].tolist() == [True] * 8 + [False] * 4  # rows 8-11 have no caption
    assert {reason_names(chosen)[c] for c in chosen["reason_code"][8:]} == {"caption:caption_vlm"}
    vlm, original = run.arrays["caption_vlm"][:].tolist(), run.arrays["caption"][:].tolist()
    expected = [original[1] if row == 1 else vlm[row] for row in range(8)]  # an edit keeps its instruction
    assert expected[0] != original[0]

    summary = export(store, "vlm", tmp_path / "out", "parquet")
    table = pq.read_table(sorted(summary.out.glob("*.parquet"))[0])
    assert table.column("caption").to_pylist() == expected


def test_a_caption_column_that_is_not_text_is_refused(tmp_path, capsys):
    store = scored_pool(tmp_path / "pool").store.url
    line = user_error(
        capsys, ["select", store, "--name", "x", "--min", "clip_cosine=0", "--caption-column", "width"]
    )
    assert "caption_column: no text column 'width'" in line


def test_rows_added_to_the_store_are_captioned_on_the_next_run_and_nothing_else(
    tmp_path, tiny_qwen25vl, capsys
):
    pool = scored_pool(tmp_path / "pool", shard_rows=5)  # 12 rows: units of 5, 5 and 2
    assert main(caption_argv(pool.store.url, tiny_qwen25vl, "--batch-size", "2")) == 0
    before = columns(pool.store.url)
    grow_pool(pool, 6)  # unit 2 grows by 3 rows, unit 3 is new
    capsys.readouterr()
    assert main(caption_argv(pool.store.url, tiny_qwen25vl, "--batch-size", "2")) == 0
    assert capsys.readouterr().out.startswith("captioned 6 rows in ")
    after = columns(pool.store.url)
    assert {name: values[:12] for name, values in after.items()} == before
    assert after["caption_vlm_status"][12:] == ["ok"] * 6 and all(after["caption_vlm"][12:])
    progress = Path(pool.store.url) / "annotations" / "caption_vlm" / "progress"
    assert len(list(progress.glob("unit-*/zarr.json"))) == 4
