"""Semantic dedup throughput and accuracy: N x D embeddings with planted near-duplicates.

    python -m benchmarks.bench_dedup                      # 1M x 768 on a GPU, 50K x 768 on the CPU
    python -m benchmarks.bench_dedup --n 200000 --probes 1

The pool is a Gaussian mixture (one centre per `--rows-per-centre` rows, members at cosine ~0.5 to each
other, as CLIP embeddings of one topic are), and `--dup-fraction` of the rows are noisy copies of other
rows at cosine ~0.995 (chained copies included). Reported: seconds per phase of
engine.select.dedup.semantic (spill: normalize to float16 on disk; kmeans: train and assign; neighbours:
topk_cosine inside clusters; grouping: union-find), and pair precision and recall of the groups found
against the planted ones.
"""

from __future__ import annotations

import time

import torch

from benchmarks import harness
from pixsift.engine.select.dedup.metrics import pair_precision_recall
from pixsift.engine.select.dedup.semantic import semantic_groups
from pixsift.engine.select.dedup.settings import SemanticSettings

DUPLICATE_NOISE = 0.1  # noise norm relative to the row's norm: cosine ~ 1 / sqrt(1 + 0.1^2) = 0.995
COPY_ROUNDS = 4


def planted_embeddings(n: int, dim: int, dup_fraction: float, rows_per_centre: int, seed: int, device):
    """float16 (n, dim) embeddings on the host and the planted group (an original's index) of each row."""
    generator = torch.Generator(device).manual_seed(seed)
    n_dups = int(n * dup_fraction)
    n_originals = n - n_dups
    centres = torch.randn(max(1, n_originals // rows_per_centre), dim, device=device, generator=generator)
    which = torch.randint(0, len(centres), (n_originals,), device=device, generator=generator)
    originals = centres[which] + torch.randn(n_originals, dim, device=device, generator=generator)
    rows = torch.cat([originals, torch.empty(n_dups, dim, device=device)])
    group = torch.arange(n, device=device)
    filled = n_originals
    while filled < n:  # in rounds, so that later copies may copy earlier copies (chains)
        stop = min(n, filled + max(1, n_dups // COPY_ROUNDS))
        sources = torch.randint(0, filled, (stop - filled,), device=device, generator=generator)
        noise = torch.randn(stop - filled, dim, device=device, generator=generator)
        noise *= DUPLICATE_NOISE * rows[sources].norm(dim=1, keepdim=True) / noise.norm(dim=1, keepdim=True)
        rows[filled:stop] = rows[sources] + noise
        group[filled:stop] = group[sources]
        filled = stop
    order = torch.randperm(n, device=device, generator=generator)
    return rows[order].half().cpu().numpy(), group[order].cpu().numpy()


def main(argv: list[str] | None = None) -> None:
    gpu = torch.cuda.is_available()
    parser = harness.parser(__doc__)
    parser.add_argument("--n", type=int, default=1_000_000 if gpu else 50_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--dup-fraction", type=float, default=0.1)
    parser.add_argument("--rows-per-centre", type=int, default=100)
    parser.add_argument("--eps", type=float, default=0.05)
    parser.add_argument("--cluster-rows", type=int, default=SemanticSettings.cluster_rows)
    parser.add_argument("--probes", type=int, default=SemanticSettings.probes)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    hw = harness.measure_hardware(device)
    env = harness.environment(device)
    print(f"{env['device']}  {hw.as_dict()}  git {env['git_sha']}")

    embeddings, truth = planted_embeddings(
        args.n, args.dim, args.dup_fraction, args.rows_per_centre, args.seed, device
    )
    settings = SemanticSettings(
        eps=args.eps, cluster_rows=args.cluster_rows, probes=args.probes, device=args.device, seed=args.seed
    )
    clock = time.perf_counter()
    groups = semantic_groups(lambda start, stop: embeddings[start:stop], args.n, settings)
    total = time.perf_counter() - clock
    precision, recall = pair_precision_recall(groups.component, truth)
    row = dict(
        benchmark="semantic_dedup",
        n=args.n,
        dim=args.dim,
        dup_fraction=args.dup_fraction,
        eps=args.eps,
        probes=args.probes,
        clusters=groups.n_clusters,
        largest_cluster=groups.largest_cluster,
        **{f"{phase}_s": seconds for phase, seconds in groups.seconds.items()},
        total_s=total,
        rows_per_s=args.n / total,
        precision=precision,
        recall=recall,
    )
    harness.print_table(f"Semantic dedup ({env['device']})", [row], list(row))
    print("\n" + harness.append_results("bench_dedup", [row], env, hw, args.results))


if __name__ == "__main__":
    main()
