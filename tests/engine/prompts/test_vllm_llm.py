"""`pixsift prompts` with `--backend vllm` (vLLM's CPU build, tests.helpers.vllm_env) on a tiny random causal
LM in Qwen2.5-Instruct's layout: greedy writing (the lowest temperature and a top-p that leaves only the
likeliest token) writes and rewrites the very prompts the transformers backend writes, each text's
perplexity equals transformers', and sampled units written again after their file is lost are the same
text."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from pixsift.engine.cli import main
from pixsift.engine.prompts.units import unit_path
from tests.fixtures.tiny_lm import save_tiny_qwen25
from tests.helpers.vllm_env import needs_vllm, pixsift_on_vllm


def prompts_argv(out, lm, *more: str, count: int = 12, per_unit: int = 6, batch: int = 4) -> list[str]:
    return ["prompts", "fine_t2i", "--out", str(out), "--writer", str(lm), "--count", str(count),
            "--prompts-per-unit", str(per_unit), "--batch-size", str(batch), "--max-new-tokens", "12",
            "--keep-truncated", "--near-duplicate", "0", *more]  # fmt: skip


def rows(out) -> dict[str, dict]:
    found = {}
    for name in ("pool.parquet", "rejects.parquet"):
        found |= {r["id"]: r for r in pq.read_table(out / name).to_pylist()}
    return found


@needs_vllm
def test_the_vllm_backend_writes_and_measures_what_transformers_does(tmp_path):
    lm = save_tiny_qwen25(tmp_path / "lm", tied=False)  # greedy, a tied random model writes only newlines
    more = ["--enhancer", str(lm), "--enhance-max-new-tokens", "10", "--perplexity-model", str(lm)]
    more += ["--temperature", "0.01", "--top-p", "0.01"]
    pixsift_on_vllm(*prompts_argv(tmp_path / "vllm", lm, *more))
    assert main(prompts_argv(tmp_path / "transformers", lm, *more)) == 0
    ours, theirs = rows(tmp_path / "vllm"), rows(tmp_path / "transformers")
    assert ours.keys() == theirs.keys() and len(ours) == 12
    for id, row in theirs.items():
        for name in ("prompt", "enhanced_prompt"):
            assert ours[id][name] == row[name] and row[name], (id, name)
            assert ours[id][f"{name}_tokens"] == row[f"{name}_tokens"]
            assert ours[id][f"{name}_truncated"] == row[f"{name}_truncated"]
            np.testing.assert_allclose(ours[id][f"{name}_perplexity"], row[f"{name}_perplexity"], rtol=1e-4)
        assert ours[id]["reason"] == row["reason"] if "reason" in row else "reason" not in ours[id]


@needs_vllm
def test_sampled_units_written_again_on_vllm_are_the_same_text(tmp_path, tiny_lm):
    out = tmp_path / "pool"
    # Batches of 32 chat prompts are more tokens than vLLM prefills in one step: on the CPU they must not
    # be prefilled in chunks (a chunked prefill rewinds the seeded sampler, which a CPU generator cannot).
    argv = prompts_argv(out, tiny_lm, count=64, per_unit=32, batch=32)
    pixsift_on_vllm(*argv)
    first = rows(out)
    unit_path(out, 1).unlink()
    pixsift_on_vllm(*argv)
    assert rows(out) == first and len(first) == 64
    assert len({r["prompt"] for r in first.values()}) > 32  # sampled: not one text again and again
