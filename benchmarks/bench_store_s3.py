"""What a store on S3 costs `pixsift score`: the same pool scored into a store on the local disk and into one
on an S3 API (moto's server on 127.0.0.1, through s3fs), in the same run; the ratio of their throughputs.
The loopback server has no network latency, so this measures the object-store client path (a PUT per shard
and marker, listings, the lease), not a WAN.

    python -m benchmarks.bench_store_s3                       # 512 mixed JPEGs, ViT-B-32, units of 64
    python -m benchmarks.bench_store_s3 --candidates 2048 --shard-rows 256
"""

from __future__ import annotations

import io
import tempfile
import time

import torch

from benchmarks import harness
from benchmarks.photo_pool import POOL_DIR, make_pool
from tests.helpers.s3_server import new_bucket, s3_server


def main() -> None:
    from pixsift.engine.score.config import ScoreConfig
    from pixsift.engine.score.job import score

    parser = harness.parser(__doc__)
    parser.add_argument("--candidates", type=int, default=512)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shard-rows", type=int, default=64)
    args = parser.parse_args()
    device = torch.device(args.device)
    manifest = make_pool(POOL_DIR / "mixed", args.candidates, distinct=min(args.candidates, 512), size=None)
    settings = dict(
        inputs=[str(manifest)],
        clip_model=args.model,
        clip_random_init=True,
        device=device.type,
        batch_size=args.batch_size,
        shard_rows=args.shard_rows,
    )
    rows = []
    with s3_server(), tempfile.TemporaryDirectory() as folder:
        for where, store in (
            ("local disk", f"{folder}/run.zarr"),
            ("s3 (loopback)", f"{new_bucket()}/run.zarr"),
        ):
            started = time.perf_counter()
            summary = score(ScoreConfig(store=store, **settings), io.StringIO())
            wall = time.perf_counter() - started
            rows.append(
                dict(
                    benchmark="store_s3",
                    store=where,
                    candidates=args.candidates,
                    units=summary.units_run,
                    wall_s=wall,
                    images_per_s=args.candidates / wall,
                )
            )
    for row in rows:
        row["vs_local"] = row["images_per_s"] / rows[0]["images_per_s"]
    env, hardware = harness.environment(device, ("s3fs", "moto", "zarr")), harness.measure_hardware(device)
    harness.print_table(
        f"pixsift score into a local and an S3 store ({env['device']})",
        rows,
        ("store", "candidates", "units", "wall_s", "images_per_s", "vs_local"),
    )
    print(harness.append_results("bench_store_s3", rows, env, hardware, args.results))


if __name__ == "__main__":
    main()
