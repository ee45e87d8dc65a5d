"""The pool's filters on written units made by hand: each reason, first one wins, NaN perplexity passes."""

from __future__ import annotations

import io
import math

import pyarrow.parquet as pq

from pixsift.engine.prompts.config import PromptsConfig
from pixsift.engine.prompts.pool import build_pool
from pixsift.engine.prompts.taxonomy import draw_plan, load_taxonomy
from pixsift.engine.prompts.units import write_plan, write_unit
from tests.fixtures.data_juicer import dj_alnum_ratio, dj_char_repetition

GOOD = "A red fox sleeping under a tall pine tree in the first snow of winter, soft morning light"
TEXTS = {
    "p000000000": (GOOD, False, 12.0),
    "p000000001": ("   ", False, math.nan),  # empty
    "p000000002": ("A long prompt the model had to cut in the middle of a", True, 10.0),  # truncated
    "p000000003": ("#### $$$ !!! ??? ### 12", False, 10.0),  # alnum_ratio
    "p000000004": ("the cat sat on the mat " * 12, False, 10.0),  # char_repetition first
    "p000000005": ("short", False, 10.0),  # length
    "p000000006": ("A lighthouse on a cliff above a stormy sea at dusk, waves and spray, oil", False, 99.0),
    "p000000007": (GOOD.replace("soft morning light", "soft morning glow"), False, 11.0),  # near_duplicate
    "p000000008": ("Three cups of coffee on a wooden table beside an open book and a lamp", False, math.nan),
}


def test_each_row_gets_its_first_reason(tmp_path):
    cfg = PromptsConfig(taxonomy="fine_t2i", out=str(tmp_path), writer="unused", count=9, prompts_per_unit=9,
                        max_perplexity=50.0, perplexity_model="unused")  # fmt: skip
    write_plan(tmp_path, draw_plan(load_taxonomy("fine_t2i"), 9, 0), cfg.names(), 9)
    rows = [
        {"id": i, "prompt": t, "prompt_truncated": cut, "prompt_tokens": 20, "prompt_perplexity": ppl}
        for i, (t, cut, ppl) in TEXTS.items()
    ]
    write_unit(tmp_path, 0, rows)
    stream = io.StringIO()
    counts = build_pool(cfg, tmp_path, 1, stream)
    kept, kinds = counts.kept, counts.rejects
    pool, rejects = (pq.read_table(tmp_path / f).to_pylist() for f in ("pool.parquet", "rejects.parquet"))
    assert [r["id"] for r in pool] == ["p000000000", "p000000008"] and kept == 2
    reasons = {r["id"]: r["reason"] for r in rejects}
    assert reasons == {
        "p000000001": "empty: prompt: the model wrote nothing",
        "p000000002": "truncated: prompt: stopped at the limit of 160 tokens",
        "p000000003": f"alnum_ratio: prompt {dj_alnum_ratio(TEXTS['p000000003'][0]):.3f} < 0.6",
        "p000000004": f"char_repetition: prompt {dj_char_repetition(TEXTS['p000000004'][0]):.3f} > 0.094",
        "p000000005": "length: prompt 5 < 10",
        "p000000006": "perplexity: prompt 99.0 > 50.0",
        "p000000007": "near_duplicate: of p000000000",
    }
    assert sum(kinds.values()) == 7 and kinds["near_duplicate"] == 1
    assert pool[0]["prompt_alnum_ratio"] > 0.6 and pool[0]["prompt_generator"] == "unused"
    assert counts.cells == (9, 0, 1)  # 9 cells of one prompt each; 7 of them dropped theirs
    lines = stream.getvalue().splitlines()
    assert "prompts: prompt statistics: 9/9 prompts (100.0%)" in lines[0]
    assert lines[-1].startswith("prompts: near-duplicates: 3/3 prompts (100.0%)") and "failed 1" in lines[-1]
