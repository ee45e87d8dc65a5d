"""The similarity ops users call: inputs checked, a backend picked (triton on a GPU, torch otherwise, or as
asked), the result checked."""

from __future__ import annotations

import math

import torch

from pixsift.kernels.checks import check_pair, check_tensor, check_triton_device, raise_nonfinite
from pixsift.kernels.similarity.config import BACKENDS, DTYPES, TRITON_MAX_K
from pixsift.kernels.similarity.reference import pair_scores_reference, topk_reference
from pixsift.kernels.similarity.triton_kernel import pair_scores_triton, topk_triton


def cosine_pairs(
    a: torch.Tensor, b: torch.Tensor, *, backend: str = "auto", check_finite: bool = True
) -> torch.Tensor:
    """Cosine similarity of each row of `a` (N x D) with the same row of `b`: float32 (N,).

    See the module docstring for the zero-norm convention. The Triton kernel reads each row once.
    check_finite=False returns a non-finite score where an input row is not finite instead of raising:
    no wait for the device, for callers that check the results on the host.
    """
    return _pair_scores("cosine_pairs", a, b, 1.0, False, backend, check_finite)


def clip_score(
    a: torch.Tensor, b: torch.Tensor, w: float = 2.5, *, backend: str = "auto", check_finite: bool = True
) -> torch.Tensor:
    """CLIPScore of each row pair: w * max(cos(a_i, b_i), 0), float32 (N,).

    `a` and `b` are image and text embeddings (N x D) in either order; w=2.5 is Hessel et al.'s
    CLIPScore, w=100 torchmetrics', w=1 the raw clipped cosine. check_finite: as cosine_pairs.
    """
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not (w > 0 and math.isfinite(w)):
        raise ValueError(f"clip_score: w must be a positive finite number, got {w!r}")
    return _pair_scores("clip_score", a, b, float(w), True, backend, check_finite)


def topk_cosine(
    queries: torch.Tensor,
    keys: torch.Tensor,
    k: int,
    *,
    exclude_self: bool = False,
    query_offset: int = 0,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query (N x D), the k keys (M x D) of highest cosine: values float32 and indices int64, N x k.

    Sorted by value descending; equal values list the lower key index first. The N x M matrix is never
    formed (memory O(N*k + (N + M)*D)). With exclude_self=True the queries are keys[query_offset:
    query_offset + N] (the whole key set by default, for dedup) and each query's own key is skipped.
    """
    op = "topk_cosine"
    check_tensor(op, "queries", queries, DTYPES, 2)
    check_tensor(op, "keys", keys, DTYPES, 2)
    check_pair(op, queries, keys, "queries", "keys")
    if queries.shape[1] != keys.shape[1]:
        raise ValueError(
            f"{op}: queries and keys must have the same embedding size, got {tuple(queries.shape)} "
            f"and {tuple(keys.shape)}"
        )
    _check_self_range(queries.shape[0], keys.shape[0], exclude_self, query_offset)
    _check_k(k, keys.shape[0] - 1 if exclude_self else keys.shape[0], exclude_self)
    name = _pick_backend(op, backend, queries, triton_fits=k <= TRITON_MAX_K)
    if name == "triton" and k > TRITON_MAX_K:
        raise ValueError(
            f"{op}: backend='triton' supports k up to {TRITON_MAX_K}, got {k}; use backend='torch'"
        )
    query_norms, key_norms = _norms(queries), _norms(keys)
    if not (torch.isfinite(query_norms).all() and torch.isfinite(key_norms).all()):
        _raise_bad_values(op, {"queries": queries, "keys": keys})
    if name == "torch":
        return topk_reference(queries, keys, k, exclude_self, query_offset)
    return topk_triton(queries, keys, k, exclude_self, query_offset, query_norms, key_norms)


def _pair_scores(
    op: str, a: torch.Tensor, b: torch.Tensor, scale: float, clamp: bool, backend: str, check_finite: bool
) -> torch.Tensor:
    check_tensor(op, "a", a, DTYPES, 2)
    check_tensor(op, "b", b, DTYPES, 2)
    check_pair(op, a, b, "a", "b")
    if a.shape != b.shape:
        raise ValueError(f"{op}: a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    run = pair_scores_triton if _pick_backend(op, backend, a) == "triton" else pair_scores_reference
    scores = run(a, b, scale, clamp)
    if check_finite and not torch.isfinite(scores).all():
        _raise_bad_values(op, {"a": a, "b": b})
    return scores


def _pick_backend(op: str, name: str, x: torch.Tensor, triton_fits: bool = True) -> str:
    if name not in BACKENDS:
        raise ValueError(f"{op}: backend must be one of {', '.join(map(repr, BACKENDS))}; got {name!r}")
    if name == "auto":
        return "triton" if x.is_cuda and triton_fits else "torch"
    if name == "triton":
        check_triton_device(op, x)
    return name


def _check_self_range(n_queries: int, n_keys: int, exclude_self: bool, query_offset: int) -> None:
    if not isinstance(query_offset, int) or isinstance(query_offset, bool) or query_offset < 0:
        raise ValueError(f"topk_cosine: query_offset must be a non-negative integer, got {query_offset!r}")
    if query_offset and not exclude_self:
        raise ValueError(
            "topk_cosine: query_offset places the queries among the keys; it needs exclude_self=True"
        )
    if exclude_self and query_offset + n_queries > n_keys:
        raise ValueError(
            f"topk_cosine: exclude_self=True needs the queries to be keys[{query_offset}:"
            f"{query_offset + n_queries}], but there are only {n_keys} keys"
        )


def _check_k(k: int, candidates: int, exclude_self: bool) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= candidates:
        other = " other" if exclude_self else ""
        raise ValueError(
            f"topk_cosine: k must be an integer from 1 to {candidates} (the number of{other} keys), got {k!r}"
        )


def _norms(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x, dim=1, dtype=torch.float32)


def _raise_bad_values(op: str, inputs: dict[str, torch.Tensor]) -> None:
    raise_nonfinite(op, inputs)
    names = " and ".join(inputs)
    raise ValueError(f"{op}: {names} hold values so large that their squared norms overflow float32")
