"""The Triton kernels of the similarity ops and their launchers: row-pair cosines in blocks of
PAIR_BLOCK_N rows, and a running top-k per query block kept in registers (a bitonic sort of packed
(score, key) words)."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from pixsift.kernels.similarity.config import EPS, PAIR_BLOCK_N


def pair_scores_triton(a: torch.Tensor, b: torch.Tensor, scale: float, clamp: bool) -> torch.Tensor:
    a, b = a.contiguous(), b.contiguous()
    n, dim = a.shape
    out = torch.empty(n, dtype=torch.float32, device=a.device)
    block_d = max(16, min(128, triton.next_power_of_2(dim)))
    grid = (triton.cdiv(n, PAIR_BLOCK_N),)
    _pair_scores_kernel[grid](
        a, b, out, n, dim, scale, EPS, CLAMP=clamp, BLOCK_N=PAIR_BLOCK_N, BLOCK_D=block_d, num_warps=8
    )
    return out


@triton.jit
def _pair_scores_kernel(
    a_ptr,
    b_ptr,
    out_ptr,
    n_rows,
    dim,
    scale,
    eps,
    CLAMP: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < n_rows
    row_starts = rows.to(tl.int64)[:, None] * dim
    dot = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    a_sq = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    b_sq = tl.zeros([BLOCK_N, BLOCK_D], tl.float32)
    for start in range(0, dim, BLOCK_D):
        cols = start + tl.arange(0, BLOCK_D)
        mask = row_ok[:, None] & (cols < dim)[None, :]
        x = tl.load(a_ptr + row_starts + cols[None, :], mask=mask, other=0.0).to(tl.float32)
        y = tl.load(b_ptr + row_starts + cols[None, :], mask=mask, other=0.0).to(tl.float32)
        dot += x * y
        a_sq += x * x
        b_sq += y * y
    a_norm = tl.maximum(tl.sqrt(tl.sum(a_sq, axis=1)), eps)
    b_norm = tl.maximum(tl.sqrt(tl.sum(b_sq, axis=1)), eps)
    cos = tl.sum(dot, axis=1) / (a_norm * b_norm)
    if CLAMP:
        cos = tl.where(cos < 0.0, 0.0, cos)  # not tl.maximum, which would turn NaN from bad inputs into 0
    tl.store(out_ptr + rows, scale * cos, mask=row_ok)


def topk_blocks(
    k: int, dim: int, dtype: torch.dtype, exclude_self: bool = False
) -> tuple[int, int, int, int]:
    """(BLOCK_Q, BLOCK_K, BLOCK_D, WIDTH): BLOCK_Q x BLOCK_K score tiles and a BLOCK_Q x WIDTH running
    best, WIDTH the power of two >= k. 64 x 128 gives wgmma tiles on sm_90 where the registers allow it;
    excluding self-matches, a WIDTH past 16, or WIDTH 256 shrink the query block to keep the int64 tiles
    in registers (ptxas, sm_90, 768-dim 16-bit inputs: no spills up to k=256; benchmarks/gpu/compile_sm90.py
    checks it in CI)."""
    width = triton.next_power_of_2(k)
    block_k = max(128, width)
    if width <= 16 and not exclude_self:
        block_q = 64
    else:
        block_q = 32 if block_k <= 128 else 2048 // block_k
    block_d = max(16, min(32 if dtype == torch.float32 else 64, triton.next_power_of_2(dim)))
    return block_q, block_k, block_d, width


def topk_triton(
    queries: torch.Tensor,
    keys: torch.Tensor,
    k: int,
    exclude_self: bool,
    query_offset: int,
    query_norms: torch.Tensor,
    key_norms: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    queries, keys = queries.contiguous(), keys.contiguous()
    if queries.dtype == torch.bfloat16 and not queries.is_cuda:
        # Triton's interpreter multiplies bfloat16 tiles as their raw uint16 bits; float32 holds them
        # exactly, and a float32 "ieee" dot of them matches a bfloat16 dot with float32 accumulation.
        queries, keys = queries.float(), keys.float()
    (n, dim), m = queries.shape, keys.shape[0]
    values = torch.empty(n, k, dtype=torch.float32, device=queries.device)
    indices = torch.empty(n, k, dtype=torch.int64, device=queries.device)
    block_q, block_k, block_d, width = topk_blocks(k, dim, queries.dtype, exclude_self)
    _topk_kernel[(triton.cdiv(n, block_q),)](
        queries,
        keys,
        1.0 / query_norms.clamp_min(EPS),
        1.0 / key_norms.clamp_min(EPS),
        values,
        indices,
        n,
        m,
        dim,
        k,
        query_offset,
        EXCLUDE_SELF=exclude_self,
        BLOCK_Q=block_q,
        BLOCK_K=block_k,
        BLOCK_D=block_d,
        WIDTH=width,
        num_warps=8,
    )
    return values, indices


@triton.jit
def _topk_kernel(
    q_ptr,
    k_ptr,
    q_inv_ptr,
    k_inv_ptr,
    values_ptr,
    indices_ptr,
    n_queries,
    n_keys,
    dim,
    k,
    query_offset,
    EXCLUDE_SELF: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    BLOCK_K: tl.constexpr,
    BLOCK_D: tl.constexpr,
    WIDTH: tl.constexpr,
):
    query_ids = tl.program_id(0) * BLOCK_Q + tl.arange(0, BLOCK_Q)
    query_ok = query_ids < n_queries
    query_starts = query_ids.to(tl.int64)[:, None] * dim
    q_inv = tl.load(q_inv_ptr + query_ids, mask=query_ok, other=0.0)
    ranks = tl.arange(0, WIDTH)
    best = tl.full([BLOCK_Q, WIDTH], PACKED_MIN, tl.int64)  # packed entries, each row descending
    kth_best = tl.full([BLOCK_Q], PACKED_MIN, tl.int64)
    for key_start in range(0, n_keys, BLOCK_K):
        key_ids = key_start + tl.arange(0, BLOCK_K)
        key_ok = key_ids < n_keys
        key_starts = key_ids.to(tl.int64)[None, :] * dim
        dots = tl.zeros([BLOCK_Q, BLOCK_K], tl.float32)
        for d_start in range(0, dim, BLOCK_D):
            d = d_start + tl.arange(0, BLOCK_D)
            d_ok = d < dim
            q = tl.load(q_ptr + query_starts + d[None, :], mask=query_ok[:, None] & d_ok[None, :], other=0.0)
            kt = tl.load(k_ptr + key_starts + d[:, None], mask=d_ok[:, None] & key_ok[None, :], other=0.0)
            # "ieee" keeps float32 inputs off TF32 so the ranking is exact to float32; 16-bit inputs
            # take the tensor cores either way.
            dots = tl.dot(q, kt, dots, input_precision="ieee")
        k_inv = tl.load(k_inv_ptr + key_ids, mask=key_ok, other=0.0)
        usable = key_ok[None, :]
        if EXCLUDE_SELF:
            usable = usable & (key_ids[None, :] != (query_ids + query_offset)[:, None])
        scores = tl.where(usable, dots * q_inv[:, None] * k_inv[None, :], -float("inf"))
        tile = _pack(scores, key_ids[None, :])
        # After the first tiles few keys beat a row's k-th best; skip the sorting unless one does.
        if tl.max((tl.max(tile, axis=1) > kth_best).to(tl.int32), axis=0) > 0:
            # best is descending and the tile's top ascending, so their elementwise max is bitonic and
            # holds the top WIDTH of the union.
            best = _sort_bitonic_rows(tl.maximum(best, _top_rows(tile, WIDTH, DESCENDING=0)), DESCENDING=1)
            kth_best = tl.max(tl.where(ranks[None, :] == k - 1, best, PACKED_MIN), axis=1)
    values, indices = _unpack(best)
    out = query_ids.to(tl.int64)[:, None] * k + ranks[None, :]
    out_ok = query_ok[:, None] & (ranks < k)[None, :]
    tl.store(values_ptr + out, values, mask=out_ok)
    tl.store(indices_ptr + out, indices, mask=out_ok)


# A packed entry is (order-preserving int32 of the score) << 32 | (2^32 - 1 - key index), so int64 order
# is score order, then lower index first; every real entry is above PACKED_MIN.
PACKED_MIN: tl.constexpr = tl.constexpr(-(2**63))
LOW_MASK: tl.constexpr = tl.constexpr(2**32 - 1)


@triton.jit
def _pack(scores, key_ids):
    ordered = _order_preserving(scores.to(tl.int32, bitcast=True))
    return (ordered.to(tl.int64) << 32) | (key_ids.to(tl.int64) ^ LOW_MASK)


@triton.jit
def _unpack(packed):
    scores = _order_preserving((packed >> 32).to(tl.int32)).to(tl.float32, bitcast=True)
    return scores, (packed & LOW_MASK) ^ LOW_MASK


@triton.jit
def _order_preserving(bits):
    # Flipping the magnitude bits of negative floats makes signed-integer order match float order;
    # the map is its own inverse.
    return bits ^ ((bits >> 31) & 0x7FFFFFFF)


# Bitonic networks on rows of power-of-two length, viewed as [2, 2, ..., 2] with the row's bits
# innermost, as tl.sort and tl.topk do; but each compare-and-swap is a min and a max over one axis
# of that view instead of their xor-sum, which Triton's interpreter runs element by element in Python
# (minutes per tile) while min and max run in numpy.
@triton.constexpr_function
def _log2(n):
    return n.bit_length() - 1


@triton.jit
def _top_rows(x, WIDTH: tl.constexpr, DESCENDING: tl.constexpr):
    """The WIDTH largest entries of each row of a 2-D tile, sorted (bitonic top-k, as tl.topk)."""
    LOG_N: tl.constexpr = _log2(x.shape[1])
    LOG_W: tl.constexpr = _log2(WIDTH)
    h = tl.reshape(x, [2] * _log2(x.numel))
    for stage in tl.static_range(1, LOG_W + 1):
        h = _sort_runs(h, stage, stage == LOG_N, DESCENDING)
    for size in tl.static_range(LOG_W + 1, LOG_N + 1):
        # neighbouring runs are sorted in opposite directions: their elementwise max is a bitonic run
        # holding the top WIDTH of both
        h = tl.max(h, axis=_log2(h.numel) - 1 - LOG_W)
        h = _sort_runs(h, LOG_W, size == LOG_N, DESCENDING)
    return tl.reshape(h, [x.shape[0], WIDTH])


@triton.jit
def _sort_bitonic_rows(x, DESCENDING: tl.constexpr):
    h = _sort_runs(tl.reshape(x, [2] * _log2(x.numel)), _log2(x.shape[1]), True, DESCENDING)
    return tl.reshape(h, x.shape)


@triton.jit
def _sort_runs(h, stage: tl.constexpr, FINAL: tl.constexpr, DESCENDING: tl.constexpr):
    """Sort the bitonic runs of 2**stage entries (the innermost `stage` axes of h): all in DESCENDING
    order if FINAL, else ascending and descending by turns, so that pairs of runs are bitonic."""
    N_DIMS: tl.constexpr = _log2(h.numel)
    if FINAL:
        flip = DESCENDING
    else:
        flip = _upper_half(N_DIMS, N_DIMS - 1 - stage)
    for i in tl.static_range(stage):
        h = _compare_and_swap(h, flip, N_DIMS - stage + i, N_DIMS)
    return h


@triton.jit
def _compare_and_swap(h, flip, axis: tl.constexpr, N_DIMS: tl.constexpr):
    low = tl.min(h, axis=axis, keep_dims=True)
    high = tl.max(h, axis=axis, keep_dims=True)
    return tl.where((flip ^ _upper_half(N_DIMS, axis)) != 0, high, low)


@triton.jit
def _upper_half(N_DIMS: tl.constexpr, axis: tl.constexpr):
    """1 at the upper entry of each pair along `axis` of the [2] * N_DIMS view, 0 at the lower."""
    return tl.reshape(tl.arange(0, 2), [1] * axis + [2] + [1] * (N_DIMS - 1 - axis))
