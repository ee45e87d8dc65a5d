"""The GPU suite's results: its benchmarks' rows in one file (the GPU machine returns at most 8 files),
its summary table, and the rows filed back under benchmarks/results/ for a commit.

    python -m benchmarks.gpu.suite_results merge ROWS_DIR OUT/results.jsonl   # each row tagged with its file
    python -m benchmarks.gpu.suite_results table OUT/results.jsonl OUT/steps.jsonl
    python -m benchmarks.gpu.suite_results file OUT/results.jsonl [benchmarks/results]  # after a GPU run
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchmarks.harness import RESULTS_DIR

# The figures each benchmark's summary line shows, in order.
SHOWN = {
    "gpu_probe": ("probe", "kernel", "what", "ok", "bit_exact", "host_syncs", "items_per_s"),
    "bench_ssim": (
        "convention",
        "provider",
        "batch",
        "size",
        "channels",
        "images_per_s",
        "pct_floor",
        "x_vs_peer",
    ),
    "bench_similarity": (
        "benchmark",
        "provider",
        "n",
        "m",
        "dim",
        "dtype",
        "k",
        "GBps",
        "TFLOPs",
        "pct_floor",
    ),
    "bench_score": ("model", "candidates", "images_per_s", "gpu_busy_pct"),
    "bench_peers": ("contender", "images_per_s", "pixsift_ratio"),
    "bench_train": ("shape", "layers", "kind", "tokens_per_s", "mfu_%", "memory_gib", "recipe_hours"),
    "compile_sm90": ("kernel", "config", "registers", "spill_bytes"),
}
FROM = "suite_file"  # the results file a merged row came from: its benchmark


def merge(rows_dir: Path, out: Path) -> int:
    rows = []
    for path in sorted(rows_dir.glob("*.jsonl")):
        rows += [{**json.loads(line), FROM: path.stem} for line in path.read_text().splitlines() if line]
    out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return len(rows)


def table(results: Path, steps: Path | None = None) -> str:
    lines = []
    if steps is not None and steps.exists():
        lines.append("steps:")
        for step in (json.loads(line) for line in steps.read_text().splitlines() if line):
            lines.append(f"  {step['step']:<18} {step['status']:<9} {step['seconds']:>6.1f} s")
    rows = [json.loads(line) for line in results.read_text().splitlines() if line] if results.exists() else []
    device = next((r.get("device") for r in rows), "no rows")
    lines.append(f"results ({len(rows)} rows) on {device}:")
    for row in rows:
        keys = SHOWN.get(row[FROM], ())
        cells = [f"{k}={_cell(row[k])}" for k in keys if row.get(k) is not None]
        lines.append(f"  {row[FROM]:<17} " + "  ".join(cells))
    return "\n".join(lines)


def file_rows(results: Path, folder: Path) -> str:
    """Append each row to <folder>/<benchmark>.jsonl, as the benchmarks themselves would have."""
    counts: dict[str, int] = {}
    for line in results.read_text().splitlines():
        if not line:
            continue
        row = json.loads(line)
        name = row.pop(FROM)
        with (folder / f"{name}.jsonl").open("a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{n} rows to {folder / name}.jsonl" for name, n in counts.items()) or "no rows"


def _cell(value) -> str:
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="action", required=True)
    m = sub.add_parser("merge")
    m.add_argument("rows_dir", type=Path)
    m.add_argument("out", type=Path)
    t = sub.add_parser("table")
    t.add_argument("results", type=Path)
    t.add_argument("steps", type=Path, nargs="?")
    f = sub.add_parser("file")
    f.add_argument("results", type=Path)
    f.add_argument("folder", type=Path, nargs="?", default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.action == "merge":
        print(f"{merge(args.rows_dir, args.out)} rows in {args.out}")
    elif args.action == "table":
        print(table(args.results, args.steps))
    else:
        print(file_rows(args.results, args.folder))


if __name__ == "__main__":
    main()
