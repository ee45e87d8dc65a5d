"""`pixsift generate t2i` from a `pixsift prompts` pool: several generators in one run (by share and by
category), an aspect ratio per prompt, the enhanced prompt for a seeded share, and every sample carrying
its provenance with Fine-T2I's names, which score carries into the store."""

from __future__ import annotations

import io
import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from pixsift.engine.core.config import SettingError
from pixsift.engine.generate.config import GenerateConfig
from pixsift.engine.generate.job import generate
from pixsift.engine.score.job import score
from pixsift.engine.store.run_store import RunStore
from tests.helpers.scoring import score_config

PROVENANCE = ("prompt", "enhanced_prompt", "enhancer", "prompt_generator", "image_generator",
              "prompt_category", "style", "task", "image_generated_with_enhanced_prompt",
              "image_aspect_ratio")  # fmt: skip


def write_pool(path, n: int = 24):
    rows = [
        {
            "id": f"p{i:09d}",
            "prompt": f"a red cat number {i}",
            "enhanced_prompt": f"a vivid red cat number {i} in soft light",
            "enhancer": "enh-llm",
            "prompt_generator": "writer-llm",
            "prompt_category": ["animals", "food", "vehicles"][i % 3],
            "style": ["photo", "anime"][i % 2],
            "task": "counting",
        }
        for i in range(n)
    ]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return rows


def pool_config(tmp_path, tiny_sd, other_sd, **values) -> GenerateConfig:
    settings = dict(
        task="t2i", inputs=str(tmp_path / "pool.parquet"), out=str(tmp_path / "out"),
        pipeline=[f"sd-a={tiny_sd}", f"sd-b={other_sd}"], pipeline_shares={"sd-a": 0.5},
        pipeline_categories={"vehicles": "sd-b"}, aspect_ratios=["1:1", "2:1"], resolution=64,
        enhanced_share=0.5, steps=1, captions_per_shard=4, batch_size=4, device="cpu",
    )  # fmt: skip
    return GenerateConfig(**{**settings, **values})


def test_every_sample_carries_its_provenance_and_score_keeps_it(tmp_path, tiny_sd, other_sd, tiny_config):
    rows = {r["id"]: r for r in write_pool(tmp_path / "pool.parquet")}
    summary = generate(pool_config(tmp_path, tiny_sd, other_sd), io.StringIO())
    assert summary.images == 24 and summary.rejects == 0
    shards = sorted((tmp_path / "out").glob("*.tar"))
    samples = list(wds.WebDataset([str(s) for s in shards], shardshuffle=False).decode("pil"))
    assert len(samples) == 24
    for sample in samples:
        record, row = sample["json"], rows[sample["json"]["group"]]
        assert set(PROVENANCE) <= record.keys()
        assert (record["prompt"], record["enhanced_prompt"]) == (row["prompt"], row["enhanced_prompt"])
        assert (record["enhancer"], record["prompt_generator"]) == ("enh-llm", "writer-llm")
        assert (record["prompt_category"], record["style"], record["task"]) == (
            row["prompt_category"], row["style"], "counting"
        )  # fmt: skip
        used = row["enhanced_prompt"] if record["image_generated_with_enhanced_prompt"] else row["prompt"]
        assert record["caption"] == used
        size = {"1:1": (64, 64), "2:1": (96, 48)}[record["image_aspect_ratio"]]
        assert sample["png"].size == size
        if row["prompt_category"] == "vehicles":
            assert record["image_generator"] == "sd-b"
    made = Counter(s["json"]["image_generator"] for s in samples)
    assert made["sd-a"] > 0 and made["sd-b"] > made["sd-a"]  # half of the rest, and every vehicle
    assert 0 < sum(s["json"]["image_generated_with_enhanced_prompt"] for s in samples) < 24
    assert {s["json"]["image_aspect_ratio"] for s in samples} == {"1:1", "2:1"}
    # the plan holds one generator's prompts, then the other's: a unit loads one pipeline (but at the seam)
    per_shard = [
        {s["json"]["image_generator"] for s in samples if s["__url__"] == str(shard)} for shard in shards
    ]
    assert sum(len(generators) > 1 for generators in per_shard) <= 1

    store = tmp_path / "scored.zarr"
    score(score_config([str(s) for s in shards], store, tiny_config, batch_size=8), io.StringIO())
    run = RunStore.open(str(store), read_only=True)
    assert set(run.arrays["status"][:].tolist()) == {"ok"}
    assert sorted(set(run.arrays["category"][:].tolist())) == ["animals", "food", "vehicles"]
    meta = [json.loads(m) for m in run.arrays["meta"][:].tolist()]
    assert all(
        {"image_generator", "enhancer", "prompt_generator", "image_aspect_ratio"} <= m.keys() for m in meta
    )


def test_the_same_pool_and_seed_assign_the_same_and_another_seed_not(tmp_path, tiny_sd, other_sd):
    write_pool(tmp_path / "pool.parquet")
    first = generate(pool_config(tmp_path, tiny_sd, other_sd, limit=12), io.StringIO())
    plan = (tmp_path / "out" / "plan.jsonl").read_text()
    again = tmp_path / "again"
    again.mkdir()
    (again / "pool.parquet").write_bytes((tmp_path / "pool.parquet").read_bytes())
    generate(pool_config(again, tiny_sd, other_sd, limit=12), io.StringIO())
    assert (
        first.images == 12
        and (again / "out" / "plan.jsonl").read_text().replace(str(again), str(tmp_path)) == plan
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "pool.parquet").write_bytes((tmp_path / "pool.parquet").read_bytes())
    generate(pool_config(other, tiny_sd, other_sd, limit=12, seed=5), io.StringIO())
    assert (other / "out" / "plan.jsonl").read_text().replace(str(other), str(tmp_path)) != plan


@pytest.mark.parametrize(
    "values, problem",
    [
        ({"pipeline_shares": {"sd-c": 1.0}}, "sd-c: no --pipeline of that name"),
        ({"pipeline_categories": {"food": "sd-z"}}, "sd-z: no --pipeline of that name"),
        ({"pipeline_shares": {"sd-a": 1.0}}, "leave nothing for sd-b"),
        ({"aspect_ratios": ["4x3"]}, "'4x3' is not W:H"),
        ({"resolution": None}, "needs --resolution"),
    ],
)
def test_bad_generator_settings_are_named(tmp_path, tiny_sd, other_sd, values, problem):
    with pytest.raises(SettingError, match=problem):
        pool_config(tmp_path, tiny_sd, other_sd, **values)
