"""CLIP-embedding similarity throughput: cosine_pairs (bandwidth-bound) and topk_cosine (matmul-bound).

    python -m benchmarks.bench_similarity
    python -m benchmarks.bench_similarity --topk-n 1000000 --dim 768 --dtype float16

cosine_pairs reads two N x D matrices once: its floor is their bytes over the measured copy
bandwidth. topk_cosine does 2*N*M*D operations: its floor is those over the measured matmul rate
(fp16 tensor cores for half inputs). The peer for cosine_pairs is torch.nn.functional.cosine_similarity;
for topk_cosine the chunked matmul + torch.topk reference (what users write by hand). Without a GPU
the triton provider is skipped and all timings are CPU timings.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmarks import harness
from pixsift.kernels.similarity import cosine_pairs, topk_cosine

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def bench_cosine(args, device, hw) -> list[dict]:
    dtype = DTYPES[args.dtype]
    a = torch.randn(args.pairs_n, args.dim, device=device, dtype=dtype)
    b = torch.randn(args.pairs_n, args.dim, device=device, dtype=dtype)
    nbytes = 2 * a.numel() * a.element_size()
    cases = {"torch F.cosine_similarity": lambda: F.cosine_similarity(a, b, dim=1)}
    for backend in _backends(device):
        cases[f"pixsift-{backend}"] = lambda backend=backend: cosine_pairs(a, b, backend=backend)
    rows = []
    for name, fn in cases.items():
        ms = harness.time_ms(fn, device, budget_s=args.budget)
        rows.append(
            dict(
                benchmark="cosine_pairs",
                provider=name,
                n=args.pairs_n,
                m=None,
                dim=args.dim,
                dtype=args.dtype,
                ms=ms,
                rows_per_s=args.pairs_n / (ms * 1e-3),
                GBps=nbytes / (ms * 1e-3) / 1e9,
                TFLOPs=None,
                pct_floor=100 * hw.floor_ms(nbytes, 0) / ms,
            )
        )
    return rows


def bench_topk(args, device, hw) -> list[dict]:
    dtype = DTYPES[args.dtype]
    n = args.topk_n
    q = torch.randn(n, args.dim, device=device, dtype=dtype)
    ops = 2.0 * n * n * args.dim
    nbytes = 2 * q.numel() * q.element_size()
    rows = []
    for backend in _backends(device):
        run = lambda backend=backend: topk_cosine(q, q, args.k, exclude_self=True, backend=backend)
        ms = harness.time_ms(run, device, args.budget)
        rows.append(
            dict(
                benchmark="topk_cosine",
                provider=f"pixsift-{backend}",
                n=n,
                m=n,
                dim=args.dim,
                dtype=args.dtype,
                k=args.k,
                ms=ms,
                rows_per_s=n / (ms * 1e-3),
                GBps=None,
                TFLOPs=ops / (ms * 1e-3) / 1e12,
                pct_floor=100 * hw.floor_ms(nbytes, ops, half=dtype != torch.float32) / ms,
            )
        )
    return rows


def _backends(device: torch.device) -> tuple[str, ...]:
    return ("triton", "torch") if device.type == "cuda" else ("torch",)


def main(argv: list[str] | None = None) -> None:
    gpu = torch.cuda.is_available()
    parser = harness.parser(__doc__)
    parser.add_argument("--dtype", choices=list(DTYPES), default="float16" if gpu else "float32")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--pairs-n", type=int, default=4_000_000 if gpu else 200_000)
    parser.add_argument("--topk-n", type=int, default=131_072 if gpu else 8192)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of CPU timing per case")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    hw = harness.measure_hardware(device)
    env = harness.environment(device)
    print(f"{env['device']}  {hw.as_dict()}  git {env['git_sha']}")
    rows = bench_cosine(args, device, hw) + bench_topk(args, device, hw)
    columns = (
        "benchmark",
        "provider",
        "n",
        "m",
        "dim",
        "dtype",
        "ms",
        "rows_per_s",
        "GBps",
        "TFLOPs",
        "pct_floor",
    )
    harness.print_table("Embedding similarity", rows, columns)
    print("\n" + harness.append_results("bench_similarity", rows, env, hw, args.results))


if __name__ == "__main__":
    main()
