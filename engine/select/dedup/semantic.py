"""Near-duplicate groups of embeddings, SemDeDup-style: k-means, then cosine neighbours inside each cluster.

One pass streams the embeddings (float16, in chunks) into a normalized float16 spill file, so memory holds
a chunk, the largest cluster and a few integers per row, never the whole matrix. Spherical k-means trains
on a seeded sample (at most `sample_per_cluster` rows per centroid) and assigns every row to its nearest
centroid; then, cluster by cluster, each row's `neighbours` nearest rows come from `kernels.topk_cosine`
(Triton on the GPU, its torch backend on the CPU) and the pairs with cosine >= 1 - eps are edges; the
connected components of those edges are the groups.

SemDeDup compares rows only inside one cluster, so a duplicate pair that straddles a cluster boundary is
missed (0.3% of planted pairs on a 22K-row mixture with 11 clusters). With `probes` = 2 (the default) each
row is also searched, as a guest, against the members of its second-nearest cluster, which catches those
pairs at the cost of about twice the neighbour search; `probes` = 1 is plain SemDeDup.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from pixsift.engine.select.dedup.kmeans import nearest_centroids, spherical_kmeans
from pixsift.engine.select.dedup.settings import SemanticSettings
from pixsift.engine.select.dedup.union_find import connected_components
from pixsift.kernels.similarity import topk_cosine

# read(start, stop) -> the embeddings of positions [start, stop), N x D, any float dtype
EmbeddingReader = Callable[[int, int], np.ndarray]


@dataclass
class SemanticGroups:
    component: np.ndarray  # int64 (n,): the smallest position in each row's group (its own when alone)
    n_clusters: int
    largest_cluster: int
    seconds: dict[str, float] = field(default_factory=dict)  # per phase: spill, kmeans, neighbours, grouping


def semantic_groups(read: EmbeddingReader, n: int, settings: SemanticSettings) -> SemanticGroups:
    """Group the `n` embeddings that `read` serves into near-duplicate components."""
    if n < 2:
        return SemanticGroups(np.arange(n, dtype=np.int64), n_clusters=0, largest_cluster=n)
    device = settings.torch_device()
    seconds = {}
    with tempfile.TemporaryDirectory(prefix="pixsift-dedup-", dir=settings.spill_dir) as spill_dir:
        clock = time.perf_counter()
        spill = _spill_normalized(read, n, settings.chunk_rows, device, Path(spill_dir) / "embeddings.f16")
        seconds["spill"] = time.perf_counter() - clock

        clock = time.perf_counter()
        labels, n_clusters = _cluster(spill, settings, device)
        seconds["kmeans"] = time.perf_counter() - clock

        clock = time.perf_counter()
        u, v, largest = _duplicate_edges(spill, labels, n_clusters, settings, device)
        seconds["neighbours"] = time.perf_counter() - clock

    clock = time.perf_counter()
    component = connected_components(n, u, v)
    seconds["grouping"] = time.perf_counter() - clock
    return SemanticGroups(component, n_clusters, largest, seconds)


def _spill_normalized(read: EmbeddingReader, n: int, chunk_rows: int, device, path: Path) -> np.memmap:
    """Unit-norm float16 rows on disk; a row with NaN, inf or zero norm becomes zero (cosine 0 with all)."""
    spill = None
    for start in range(0, n, chunk_rows):
        stop = min(n, start + chunk_rows)
        chunk = np.asarray(read(start, stop))
        if chunk.ndim != 2 or chunk.shape[0] != stop - start:
            raise ValueError(
                f"semantic dedup: the embeddings of rows [{start}, {stop}) came back with shape "
                f"{chunk.shape}, expected ({stop - start}, D)"
            )
        if spill is None:
            spill = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, chunk.shape[1]))
        x = torch.from_numpy(chunk).to(device, torch.float32)
        x = torch.where(torch.isfinite(x).all(dim=1, keepdim=True), x, 0.0)
        spill[start:stop] = torch.nn.functional.normalize(x, dim=1).half().cpu().numpy()
    return spill


def _cluster(spill: np.memmap, settings: SemanticSettings, device) -> tuple[np.ndarray, int]:
    """Each row's `probes` nearest centroids, nearest first (int32 n x probes), and the cluster count."""
    n = spill.shape[0]
    n_clusters = min(n, settings.n_clusters or math.ceil(n / settings.cluster_rows))
    sample_rows = min(n, n_clusters * settings.sample_per_cluster)
    generator = torch.Generator().manual_seed(settings.seed)
    sample = np.sort(torch.randperm(n, generator=generator)[:sample_rows].numpy())
    centroids = spherical_kmeans(
        torch.from_numpy(spill[sample]).to(device), n_clusters, settings.kmeans_iterations, settings.seed
    )
    probes = min(settings.probes, n_clusters)
    labels = np.empty((n, probes), dtype=np.int32)
    for start in range(0, n, settings.chunk_rows):
        chunk = torch.from_numpy(spill[start : start + settings.chunk_rows]).to(device)
        labels[start : start + len(chunk)] = nearest_centroids(chunk, centroids, probes)[0].cpu().numpy()
    return labels, n_clusters


def _duplicate_edges(spill, labels, n_clusters, settings, device) -> tuple[np.ndarray, np.ndarray, int]:
    """Edges (u, v) of positions whose cosine is >= 1 - eps, found in clusters; the largest cluster size.

    A row is a member of its nearest cluster and a guest of its next `probes - 1`: each cluster's members
    search each other, and its guests search its members.
    """
    members, member_bounds = _by_cluster(labels[:, 0], n_clusters)
    guests, guest_bounds = _by_cluster(labels[:, 1:].ravel(), n_clusters)
    guests //= max(1, labels.shape[1] - 1)  # flat index into labels[:, 1:] -> position
    threshold = 1.0 - settings.eps
    u, v = [], []
    for cluster in range(n_clusters):
        keys = members[member_bounds[cluster] : member_bounds[cluster + 1]]
        if len(keys) == 0:
            continue
        key_embeddings = torch.from_numpy(spill[keys]).to(device)
        if len(keys) > 1:
            k = min(settings.neighbours, len(keys) - 1)
            found = topk_cosine(key_embeddings, key_embeddings, k, exclude_self=True)
            _append_edges(u, v, keys, keys, *found, threshold)
        queries = guests[guest_bounds[cluster] : guest_bounds[cluster + 1]]
        if len(queries):
            k = min(settings.neighbours, len(keys))
            found = topk_cosine(torch.from_numpy(spill[queries]).to(device), key_embeddings, k)
            _append_edges(u, v, queries, keys, *found, threshold)
    largest = int(np.diff(member_bounds).max())
    empty = np.empty(0, dtype=np.int64)
    return (np.concatenate(u) if u else empty), (np.concatenate(v) if v else empty), largest


def _by_cluster(labels: np.ndarray, n_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of `labels` grouped by cluster (ascending within each) and each cluster's bounds in them."""
    order = np.argsort(labels, kind="stable")
    return order, np.concatenate([[0], np.cumsum(np.bincount(labels, minlength=n_clusters))])


def _append_edges(u, v, queries, keys, values, neighbours, threshold) -> None:
    query, rank = (values >= threshold).nonzero(as_tuple=True)
    u.append(queries[query.cpu().numpy()])
    v.append(keys[neighbours[query, rank].cpu().numpy()])
