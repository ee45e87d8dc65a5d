"""The plain-PyTorch reference of the similarity ops: row-pair cosines and top-k nearest keys, in chunks
of REFERENCE_CHUNK queries (float32 accumulation, the zero-norm convention of the package docstring)."""

from __future__ import annotations

import math

import torch

from pixsift.kernels.similarity.config import EPS, REFERENCE_CHUNK


def pair_scores_reference(
    a: torch.Tensor,
    b: torch.Tensor,
    scale: float = 1.0,
    clamp: bool = False,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """scale * cos (clamped at 0 if `clamp`) of row pairs, computed in `dtype`; float32 (N,)."""
    a, b = a.to(dtype), b.to(dtype)
    norms = a.norm(dim=1).clamp_min(EPS) * b.norm(dim=1).clamp_min(EPS)
    cos = (a * b).sum(dim=1) / norms
    if clamp:
        cos = cos.clamp_min(0.0)
    return (scale * cos).float()


def topk_reference(
    queries: torch.Tensor,
    keys: torch.Tensor,
    k: int,
    exclude_self: bool = False,
    query_offset: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k cosine by chunked matmul in `dtype`, merging each key chunk into the running best with a
    stable sort (so equal values keep the lower index first). Returns (float32 values, int64 indices)."""
    q, keys = queries.to(dtype), keys.to(dtype)
    q = q / q.norm(dim=1, keepdim=True).clamp_min(EPS)
    keys = keys / keys.norm(dim=1, keepdim=True).clamp_min(EPS)
    values, indices = [], []
    for start in range(0, q.shape[0], REFERENCE_CHUNK):
        query_ids = torch.arange(start, min(start + REFERENCE_CHUNK, q.shape[0]), device=q.device)
        v, i = _topk_chunk(q[query_ids], keys, k, query_ids + query_offset if exclude_self else None)
        values.append(v.float())
        indices.append(i)
    return torch.cat(values), torch.cat(indices)


def _topk_chunk(q: torch.Tensor, keys: torch.Tensor, k: int, self_ids: torch.Tensor | None):
    best_values = q.new_empty(q.shape[0], 0)
    best_indices = torch.empty(q.shape[0], 0, dtype=torch.int64, device=q.device)
    for start in range(0, keys.shape[0], REFERENCE_CHUNK):
        key_ids = torch.arange(start, min(start + REFERENCE_CHUNK, keys.shape[0]), device=q.device)
        scores = q @ keys[key_ids].T
        if self_ids is not None:
            scores.masked_fill_(self_ids[:, None] == key_ids[None, :], -math.inf)
        merged_values = torch.cat([best_values, scores], dim=1)
        merged_indices = torch.cat([best_indices, key_ids.expand(q.shape[0], -1)], dim=1)
        merged_values, order = merged_values.sort(dim=1, descending=True, stable=True)
        best_values = merged_values[:, :k]
        best_indices = merged_indices.gather(1, order[:, :k])
    return best_values, best_indices
