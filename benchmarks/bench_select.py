"""`pixsift select` at scale: filters + weighted top-K + best-of-N over a synthetic run store.

    python -m benchmarks.bench_select                       # 100M rows (the store is built once, cached)
    python -m benchmarks.bench_select --rows 10000000
    python -m benchmarks.bench_select --cache /data/bench   # where the synthetic stores live

The store holds what the selection reads, as a scored pool would: status (1% failed), clip_cosine
(NaN where failed), ssim_roundtrip, group_id (about 5 rows per caption, adjacent as generation writes
them), category_id (32 values) and style_id (11); other columns stay at their fill values. The spec is
SynthVLM's with a threshold in front: clip_cosine >= 0.1, best of N per group, top 10% of the rows.
Each selection runs in a fresh process, so its peak RSS is its own. Targets at 100M rows on the 2-core
CPU machine: <= 60 s and <= 4 GiB.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import harness, synthetic_store
from benchmarks.synthetic_store import statuses

SHARD_ROWS = 1 << 20
CHUNK_ROWS = 1 << 16
CATEGORIES, STYLES = 32, 11


def build(path: Path, rows: int) -> None:
    """The synthetic store at `path` (skipped when already complete)."""

    def fill(rng: np.random.Generator, start: int, n: int) -> dict[str, np.ndarray]:
        status = statuses(rng, n)
        failed = status == "failed"
        group = (start + np.arange(n)) // 5
        return {
            "status": status,
            "clip_cosine": np.where(failed, np.nan, rng.normal(0.25, 0.08, n)).astype(np.float32),
            "ssim_roundtrip": np.where(failed, np.nan, rng.beta(5, 2, n)).astype(np.float32),
            "group_id": group * 2654435761 % (1 << 61),  # spread like a hash, adjacent like a pool
            "category_id": rng.integers(0, CATEGORIES, n, dtype=np.int32),
            "style_id": rng.integers(0, STYLES, n, dtype=np.int32),
        }

    vocabularies = {
        "category": [f"c{i}" for i in range(CATEGORIES)],
        "style": [f"s{i}" for i in range(STYLES)],
    }
    synthetic_store.build(
        path, rows, fill, {"vocabularies": vocabularies}, shard_rows=SHARD_ROWS, chunk_rows=CHUNK_ROWS,
        image_dim=1, text_dim=1, config={"bench": rows},
    )  # fmt: skip


def spec_table(rows: int) -> dict:
    return {
        "name": "bench",
        "score": {"clip_cosine": {"weight": 1.0, "min": 0.0}, "ssim_roundtrip": 0.5},
        "steps": [
            {"type": "filter", "column": "clip_cosine", "min": 0.1},
            {"type": "best_of_n"},
            {"type": "top_k", "k": rows // 10},
        ],
    }


def measure(path: str, rows: int) -> dict:
    """Run the selection in this process; its time, per-pass seconds, peak RSS and kept count."""
    import resource

    from pixsift.engine.select.job import select
    from pixsift.engine.select.spec import SelectSpec

    started = time.perf_counter()
    result = select(path, SelectSpec.from_table(spec_table(rows), "bench"), overwrite=True)
    seconds = time.perf_counter() - started
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return {"seconds": seconds, "peak_rss_GiB": peak_gib, "kept": result.n_kept, "passes": result.seconds}


def main() -> None:
    parser = harness.parser(__doc__, device=False)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000_000])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "pixsift" / "bench_select")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: the child process's store path
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.rows[0])))
        return

    device = torch.device("cpu")
    env, hardware = harness.environment(device, ("numpy", "zarr")), harness.measure_hardware(device)
    results = []
    for rows in args.rows:
        path = args.cache / f"rows-{rows}.zarr"
        args.cache.mkdir(parents=True, exist_ok=True)
        build(path, rows)
        measured = harness.in_fresh_process(
            "benchmarks.bench_select", "--rows", str(rows), "--measure", str(path)
        )
        passes = measured.pop("passes")
        slowest = max(passes, key=passes.get)
        results.append(
            {
                "benchmark": "select",
                "rows": rows,
                **measured,
                "rows_per_s": rows / measured["seconds"],
                "slowest_pass": f"{slowest} {passes[slowest]:.1f}s",
                "passes": passes,
            }
        )
    harness.print_table(
        "pixsift select: filter + weighted best-of-N + top 10% (fresh process per row count)",
        results,
        ["rows", "seconds", "rows_per_s", "peak_rss_GiB", "kept", "slowest_pass"],
    )
    for r in results:
        print(
            f"{r['rows']:,} rows, seconds per pass: "
            + ", ".join(f"{k} {v:.1f}" for k, v in r["passes"].items())
        )
    print(harness.append_results("bench_select", results, env, hardware, args.results))


if __name__ == "__main__":
    main()
