"""`pixsift run` from a taxonomy to a Fine-T2I export: prompts (a tiny random LM writes and enhances) ->
generate (two tiny diffusers pipelines, two aspect ratios, half the prompts enhanced) -> score -> select ->
export (--format fine_t2i, read back with `datasets`) -> report (kept share per generator)."""

from __future__ import annotations

import json
from collections import Counter

import datasets
import pyarrow.parquet as pq
import webdataset as wds

from pixsift.engine.cli import main
from pixsift.engine.prompts.taxonomy import cell_quotas, load_taxonomy
from pixsift.engine.store.run_store import RunStore

FINE_T2I_COLUMNS = ["key", "prompt", "enhanced_prompt", "enhancer", "prompt_generator", "image_generator",
                    "prompt_category", "style", "task", "image_generated_with_enhanced_prompt",
                    "image_aspect_ratio", "aesthetic_predictor_v_2_5_score", "image"]  # fmt: skip


def write_pipeline(folder, lm, pipelines, tiny_config):
    (folder / "spec.toml").write_text('name = "best"\n[[steps]]\ntype = "top_k"\nfraction = 0.5\n')
    a, b = pipelines
    path = folder / "pipeline.toml"
    path.write_text(f"""state = "{folder / "state.json"}"

[prompts]
taxonomy = "fine_t2i"
out = "{folder / "pool"}"
writer = "{lm}"
enhancer = "{lm}"
count = 24
prompts_per_unit = 8
batch_size = 8
max_new_tokens = 8
enhance_max_new_tokens = 8
keep_truncated = true
min_alnum_ratio = 0.3
max_char_repetition = 0.5
max_word_repetition = 0.5
min_length = 20

[generate]
task = "t2i"
out = "{folder / "shards"}"
pipeline = ["sd-a={a}", "sd-b={b}"]
resolution = 64
aspect_ratios = ["1:1", "2:1"]
enhanced_share = 0.5
steps = 1
captions_per_shard = 8
batch_size = 8

[score]
inputs = ["{folder / "shards"}/shard-*.tar"]
store = "{folder / "store"}"
clip_config = "{tiny_config}"
clip_random_init = true
shard_rows = 8
batch_size = 8

[select]
spec = "{folder / "spec.toml"}"

[export]
to = "{folder / "export"}"
format = "fine_t2i"

[report]
out = "{folder / "report"}"
""")
    return path


def test_a_taxonomy_becomes_a_fine_t2i_export(tmp_path, tiny_lm, tiny_sd, other_sd, tiny_config):
    assert main(["run", str(write_pipeline(tmp_path, tiny_lm, (tiny_sd, other_sd), tiny_config))]) == 0
    pool, rejects = (
        pq.read_table(tmp_path / "pool" / f).to_pylist() for f in ("pool.parquet", "rejects.parquet")
    )
    cells = Counter((r["prompt_category"], r["style"]) for r in pool + rejects)
    assert cells == Counter({c: n for c, n in cell_quotas(load_taxonomy("fine_t2i"), 24).items() if n})
    assert rejects and all(r["reason"].startswith("length: ") for r in rejects)
    assert len(pool) > 4

    shards = sorted(str(p) for p in (tmp_path / "shards").glob("shard-*.tar"))
    samples = list(wds.WebDataset(shards, shardshuffle=False).decode("pil"))
    for sample in samples:
        record = sample["json"]
        assert record["prompt_generator"] == tiny_lm.name and record["enhancer"] == tiny_lm.name
        assert record["image_generator"] in ("sd-a", "sd-b") and record["image_aspect_ratio"] in (
            "1:1",
            "2:1",
        )
    assert {s["json"]["image_generator"] for s in samples} == {"sd-a", "sd-b"}

    store = RunStore.open(str(tmp_path / "store"), read_only=True)
    kept = int(store.group["selections"]["best"]["kept"][:].sum())
    exported = datasets.load_dataset(str(tmp_path / "export"), split="train")
    assert exported.column_names == FINE_T2I_COLUMNS and len(exported) == kept
    row = exported[0]
    assert row["prompt_generator"] == tiny_lm.name and row["image_generator"] in ("sd-a", "sd-b")
    assert row["image"].size == {"1:1": (64, 64), "2:1": (96, 48)}[row["image_aspect_ratio"]]
    by_key = {json.loads(m)["image_generator"] for m in store.arrays["meta"][:].tolist()}
    assert by_key == {"sd-a", "sd-b"}

    report = (tmp_path / "report" / "report.html").read_text()
    assert "Kept per generator and enhancer" in report
    assert "<code>sd-a</code>" in report and "<code>sd-b</code>" in report
