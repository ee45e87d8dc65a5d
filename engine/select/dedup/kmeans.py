"""Spherical k-means (cosine) in torch, on whatever device its input is on: the GPU or the CPU fallback.

Rows are unit vectors (a zero row stays zero and joins cluster 0); centroids are the normalized means of
their members. Initialised from distinct random rows picked with a fixed seed; a cluster left empty is
re-seeded with the row farthest from its centroid, which keeps the clusters from collapsing into a few
large ones.
"""

from __future__ import annotations

import torch

ASSIGN_CHUNK = 32768


def spherical_kmeans(x: torch.Tensor, n_clusters: int, iterations: int, seed: int) -> torch.Tensor:
    """Centroids (n_clusters x D, float32, unit norm) of the rows of `x` (N x D, unit or zero rows)."""
    n = x.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"k-means: n_clusters must be from 1 to the {n} rows, got {n_clusters}")
    if iterations < 1:
        raise ValueError(f"k-means: iterations must be at least 1, got {iterations}")
    generator = torch.Generator().manual_seed(seed)
    first = torch.randperm(n, generator=generator)[:n_clusters].sort().values
    centroids = x[first.to(x.device)].float()
    for _ in range(iterations):
        labels, similarity = nearest_centroids(x, centroids, 1)
        labels, similarity = labels[:, 0], similarity[:, 0]
        sums = torch.zeros_like(centroids).index_add_(0, labels, x.float())
        counts = torch.bincount(labels, minlength=n_clusters)
        empty = (counts == 0).nonzero().flatten()
        if len(empty):
            farthest = similarity.argsort()[: len(empty)]
            sums[empty] = x[farthest].float()
        centroids = torch.nn.functional.normalize(sums, dim=1)
    return centroids


def nearest_centroids(
    x: torch.Tensor, centroids: torch.Tensor, count: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` nearest centroids of each row of `x`, nearest first, and their cosines: int64 and
    float32, N x count."""
    # Half-precision products on the GPU (tensor cores); float32 on the CPU, where half matmul is slow.
    dtype = torch.float16 if x.is_cuda else torch.float32
    c = centroids.to(dtype)
    labels, similarity = [], []
    for start in range(0, x.shape[0], ASSIGN_CHUNK):
        best = (x[start : start + ASSIGN_CHUNK].to(dtype) @ c.T).float().topk(count, dim=1)
        labels.append(best.indices)
        similarity.append(best.values)
    return torch.cat(labels), torch.cat(similarity)
