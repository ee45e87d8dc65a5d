"""`pixsift search` at scale: a text query against a synthetic run store of N image embeddings.

    python -m benchmarks.bench_search                        # 100K and 1M rows (stores built once, cached)
    python -m benchmarks.bench_search --rows 1000000 --dim 768

The store holds what search reads, as a scored pool would: status (1% failed) and float16 image
embeddings of `--dim` dimensions (random unit vectors), in shards of 65,536 rows, scored by a
random-weight open_clip model of that width (ViT-B-32 for 512, ViT-L-14 for 768) whose settings the
store records, so the query is embedded as for a real store. Each search runs in a fresh process, so
its peak RSS is its own: it must stay flat from 100K to 1M rows. The peer is what a user without pixsift
writes: every embedding loaded into memory, one matrix-vector product, `argpartition` for the top k
(its memory grows with the store). faiss's exact index does the same product after the same load.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import harness, synthetic_store
from benchmarks.synthetic_store import statuses
from pixsift.engine.store.run_store import RunStore

SHARD_ROWS = 1 << 16
MODELS = {512: "ViT-B-32", 768: "ViT-L-14"}
QUERY = "a red bicycle leaning against a brick wall"
K = 50


def build(path: Path, rows: int, dim: int) -> None:
    """The synthetic store at `path` (skipped when already complete)."""

    def fill(rng: np.random.Generator, start: int, n: int) -> dict[str, np.ndarray]:
        vectors = rng.standard_normal((n, dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return {"image_embedding": vectors.astype(np.float16), "status": statuses(rng, n)}

    config = {"embedder": {"model": MODELS[dim]}, "clip_random_init": True, "text_prefix": ""}
    synthetic_store.build(path, rows, fill, shard_rows=SHARD_ROWS, image_dim=dim, text_dim=dim, config=config)


def measure(path: str, contender: str) -> dict:
    """One search in this process: its seconds (the query's embedding apart) and peak RSS."""
    from pixsift.engine.score.search import nearest, stored_embedder

    store = RunStore.open(path, read_only=True)
    query = stored_embedder(store, torch.device("cpu")).encode_texts([QUERY])
    started = time.perf_counter()
    if contender == "pixsift":
        rows = nearest(store, query, K).rows
    else:
        embeddings = np.asarray(store.arrays["image_embedding"][:], np.float32)
        ok = store.arrays["status"][:] == "ok"
        q = query[0].numpy()
        cosine = np.where(
            ok, embeddings @ q / np.linalg.norm(embeddings, axis=1) / np.linalg.norm(q), -np.inf
        )
        top = np.argpartition(-cosine, K)[:K]
        rows = top[np.argsort(-cosine[top], kind="stable")]
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"seconds": seconds, "peak_rss_MiB": peak, "first_rows": [int(r) for r in rows[:5]]}


def searches(args: argparse.Namespace, rows: int) -> list[dict]:
    """Each contender's search of the store of `rows` rows (built first when missing), in fresh processes."""
    path = args.cache / f"rows-{rows}-dim-{args.dim}.zarr"
    build(path, rows, args.dim)
    results = []
    for contender in args.contenders:
        measured = harness.in_fresh_process("benchmarks.bench_search", "--measure", str(path), contender)
        seconds = measured["seconds"]
        results.append(
            {
                "benchmark": "search",
                "contender": contender,
                "rows": rows,
                "dim": args.dim,
                "k": K,
                **measured,
                "rows_per_s": rows / seconds,
                "GB_per_s": rows * args.dim * 2 / seconds / 1e9,  # the float16 embeddings read
            }
        )
    return results


def main() -> None:
    parser = harness.parser(__doc__, device=False)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=512, choices=sorted(MODELS))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "pixsift" / "bench_search")
    parser.add_argument("--contenders", nargs="+", default=["pixsift", "numpy"])
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)  # internal: store path, contender
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return

    args.cache.mkdir(parents=True, exist_ok=True)
    results = [row for rows in args.rows for row in searches(args, rows)]
    device = torch.device("cpu")
    env, hardware = harness.environment(device, ("numpy", "zarr")), harness.measure_hardware(device)
    same = {r["rows"]: r["first_rows"] for r in results if r["contender"] == "pixsift"}
    for r in results:
        r["same_top5_as_pixsift"] = r["first_rows"] == same.get(r["rows"])
    harness.print_table(
        f"pixsift search: top {K} of a text query, {args.dim}-dim float16 embeddings (fresh process each)",
        results,
        ["contender", "rows", "seconds", "rows_per_s", "GB_per_s", "peak_rss_MiB", "same_top5_as_pixsift"],
    )
    print(harness.append_results("bench_search", results, env, hardware, args.results))


if __name__ == "__main__":
    main()
