"""`pixsift prompts` with a tiny random causal LM in Qwen2.5-Instruct's layout: every planned prompt ends in
the pool or the rejects once, the cells as planned; the filters' columns are Data-Juicer's statistics and
the model's perplexity written out; a job killed with SIGKILL resumes to the pool of an uninterrupted run;
a changed filter refilters without writing again; a changed model setting and a second writer are
refused."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from pixsift.engine.cli import main
from pixsift.engine.prompts.filters.text_stats import text_stats
from pixsift.engine.prompts.taxonomy import cell_quotas, load_taxonomy
from pixsift.engine.store.lock import writing
from tests.helpers.cli import user_error
from tests.helpers.processes import kill_when

LENIENT = [
    "--keep-truncated",
    "--min-alnum-ratio",
    "0.3",
    "--max-char-repetition",
    "0.5",
    "--max-word-repetition",
    "0.5",
]  # fmt: skip  (a random model writes word salad)


def prompts_argv(out, lm, *more: str) -> list[str]:
    return ["prompts", "fine_t2i", "--out", str(out), "--writer", str(lm), "--count", "40",
            "--prompts-per-unit", "8", "--batch-size", "4", "--max-new-tokens", "12", *more]  # fmt: skip


def tables(out) -> tuple[pa.Table, pa.Table]:
    return pq.read_table(out / "pool.parquet"), pq.read_table(out / "rejects.parquet")


def test_every_planned_prompt_is_in_the_pool_or_the_rejects_once(tmp_path, tiny_lm):
    out = tmp_path / "pool"
    more = ["--enhancer", str(tiny_lm), "--enhancer-name", "tiny-enhancer", "--enhance-max-new-tokens", "16"]
    assert main(prompts_argv(out, tiny_lm, *more, *LENIENT, "--min-length", "40")) == 0
    pool, rejects = tables(out)
    ids = pool.column("id").to_pylist() + rejects.column("id").to_pylist()
    assert sorted(ids) == [f"p{i:09d}" for i in range(40)]
    planned = {cell: n for cell, n in cell_quotas(load_taxonomy("fine_t2i"), 40).items() if n}
    both = Counter()
    for table in (pool, rejects):
        cells = zip(
            table.column("prompt_category").to_pylist(), table.column("style").to_pylist(), strict=True
        )
        both.update(cells)
    assert both == Counter(planned)
    assert pool.num_rows > 0 and rejects.num_rows > 0
    assert all(r.startswith("length: ") and "< 40" in r for r in rejects.column("reason").to_pylist())
    assert set(pool.column("prompt_generator").to_pylist()) == {tiny_lm.name}
    assert set(pool.column("enhancer").to_pylist()) == {"tiny-enhancer"}
    assert all(pool.column("enhanced_prompt").to_pylist())
    texts = pool.column("enhanced_prompt").to_pylist()
    stats = text_stats(texts)
    np.testing.assert_array_equal(pool.column("enhanced_prompt_alnum_ratio").to_numpy(), stats.alnum_ratio)
    np.testing.assert_array_equal(pool.column("enhanced_prompt_length").to_numpy(), stats.length)


@torch.no_grad()
def test_perplexity_is_the_models_written_out(tmp_path, tiny_lm):
    out = tmp_path / "pool"
    assert main(prompts_argv(out, tiny_lm, "--perplexity-model", str(tiny_lm), *LENIENT)) == 0
    pool, _ = tables(out)
    tokenizer, model = AutoTokenizer.from_pretrained(tiny_lm), AutoModelForCausalLM.from_pretrained(tiny_lm)
    rows = zip(pool.column("prompt").to_pylist(), pool.column("prompt_perplexity").to_pylist(), strict=True)
    for text, found in list(rows)[:6]:
        ids = tokenizer(text, return_tensors="pt").input_ids
        nll = torch.nn.functional.cross_entropy(model(ids).logits[0, :-1], ids[0, 1:])
        assert found == pytest.approx(math.exp(nll.item()), rel=1e-5)


def test_a_max_perplexity_drops_the_rows_above_it(tmp_path, tiny_lm):
    out = tmp_path / "pool"
    argv = prompts_argv(out, tiny_lm, "--perplexity-model", str(tiny_lm), *LENIENT)
    assert main(argv) == 0
    values = sorted(tables(out)[0].column("prompt_perplexity").to_pylist())
    cut = values[len(values) // 2]
    assert main([*argv, "--max-perplexity", str(cut)]) == 0
    pool, rejects = tables(out)
    assert max(pool.column("prompt_perplexity").to_pylist()) <= cut
    assert any(r.startswith("perplexity: prompt ") for r in rejects.column("reason").to_pylist())


def test_a_killed_job_resumes_to_the_uninterrupted_pool(tmp_path, tiny_lm):
    clean = tmp_path / "clean"
    assert main(prompts_argv(clean, tiny_lm, *LENIENT)) == 0
    killed = tmp_path / "killed"
    argv = [sys.executable, "-m", "pixsift.engine.cli", *prompts_argv(killed, tiny_lm, *LENIENT)]
    log = tmp_path / "log"
    with log.open("w") as f:
        job = subprocess.Popen(argv, stdout=f, stderr=f)
        kill_when(job, lambda: len(list((killed / "units").glob("unit-*.parquet"))) >= 2, 120, log)
    done = len(list((killed / "units").glob("unit-*.parquet")))
    assert 2 <= done < 5, "killed part-way"
    assert main(prompts_argv(killed, tiny_lm, *LENIENT)) == 0
    for found, expected in zip(tables(killed), tables(clean), strict=True):
        assert found.equals(expected)


def test_a_changed_filter_refilters_without_writing_again(tmp_path, tiny_lm, capsys):
    out = tmp_path / "pool"
    assert main(prompts_argv(out, tiny_lm, *LENIENT)) == 0
    units = {p: p.stat().st_mtime_ns for p in (out / "units").iterdir()}
    capsys.readouterr()
    assert main(prompts_argv(out, tiny_lm, *LENIENT, "--min-alnum-ratio", "0.99")) == 0
    assert "0 of 5 units written now" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (out / "units").iterdir()} == units
    pool, rejects = tables(out)
    assert pool.num_rows == 0 and all(
        r.startswith("alnum_ratio: prompt ") for r in rejects.column("reason").to_pylist()
    )


def test_a_changed_model_setting_and_a_second_writer_are_refused(tmp_path, tiny_lm, capsys):
    out = tmp_path / "pool"
    assert main(prompts_argv(out, tiny_lm, *LENIENT)) == 0
    line = user_error(capsys, prompts_argv(out, tiny_lm, *LENIENT, "--seed", "1"))
    assert "seed" in line and "use another --out" in line
    with writing(str(out), "output folder"):
        line = user_error(capsys, prompts_argv(out, tiny_lm, *LENIENT))
    assert "another pixsift job is writing" in line


def test_ray_actors_write_the_local_pool(tmp_path, tiny_lm):
    ray = pytest.importorskip("ray")
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main(prompts_argv(local, tiny_lm, *LENIENT)) == 0
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        more = ["--executor", "ray", "--workers", "2", "--ray-cpus-per-worker", "0.5"]
        assert main(prompts_argv(remote, tiny_lm, *LENIENT, *more)) == 0
    finally:
        ray.shutdown()
    for found, expected in zip(tables(remote), tables(local), strict=True):
        assert found.column("prompt").to_pylist() == expected.column("prompt").to_pylist()
        assert found.column("id").to_pylist() == expected.column("id").to_pylist()


def test_a_folder_pixsift_did_not_make_is_refused_untouched_and_unused_enhancer_flags_are_errors(
    tmp_path, tiny_lm, capsys
):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    line = user_error(capsys, prompts_argv(out, tiny_lm, *LENIENT))
    assert str(out) in line and "pixsift" in line
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "keep me"
    for flag, value in (("--enhancer-name", "x"), ("--enhance-max-new-tokens", "256")):  # 256: the default
        line = user_error(capsys, prompts_argv(tmp_path / "pool", tiny_lm, flag, value))
        assert flag in line and "is for --enhancer, which was not given" in line
    assert not (tmp_path / "pool").exists()
