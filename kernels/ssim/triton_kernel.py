"""SSIM as one fused Triton kernel: the five windowed moments in register ring buffers and the per-image
partial sums, so no blurred plane goes to memory; and its launcher."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from pixsift.kernels.ssim.config import PADDING_CODES, SsimConfig

# Output rows per Triton program: a 32 x 3 x 1024 x 1024 batch gets thousands of programs, each
# re-reading only win_size - 1 halo rows, and the small images of the interpreter tests get one.
TRITON_ROWS_PER_PROGRAM = 64
# Output columns per program, one per thread (4 warps), so each thread keeps its columns' rings,
# next_pow2(win_size) floats per moment, and reduces over taps and slots in its own registers.
TRITON_BLOCK_W = 128


def ssim_triton(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
    n, c, h, w = x.shape
    planes_per_image = 1 if cfg.gray else c
    h_out, w_out = cfg.out_size(h, w)
    block_w = max(32, min(TRITON_BLOCK_W, triton.next_power_of_2(w_out)))
    grid = (n * planes_per_image, triton.cdiv(h_out, TRITON_ROWS_PER_PROGRAM), triton.cdiv(w_out, block_w))
    taps = torch.tensor(cfg.taps, dtype=torch.float32, device=x.device)
    partial_sums = torch.empty(grid, dtype=torch.float32, device=x.device)
    ssim_map = None
    if cfg.want_map:
        ssim_map = torch.empty((n, planes_per_image, h_out, w_out), dtype=torch.float32, device=x.device)
    _ssim_kernel[grid](
        x,
        y,
        taps,
        partial_sums if ssim_map is None else ssim_map,
        partial_sums,
        h,
        w,
        h_out,
        w_out,
        TRITON_ROWS_PER_PROGRAM,
        cfg.center,
        cfg.c1,
        cfg.c2,
        cfg.cov_norm,
        WIN=cfg.win_size,
        RING=triton.next_power_of_2(cfg.win_size),
        PAD=0 if cfg.padding == "valid" else cfg.half,
        PADDING=PADDING_CODES[cfg.padding],
        GRAY=cfg.gray,
        WANT_MAP=cfg.want_map,
        BLOCK_W=block_w,
        num_warps=block_w // 32,
    )
    sums = partial_sums.view(n, -1).sum(dim=1, dtype=torch.float64)
    return (sums / (planes_per_image * h_out * w_out)).float(), ssim_map


@triton.jit
def _ssim_kernel(
    x_ptr,
    y_ptr,
    taps_ptr,
    map_ptr,
    partial_ptr,
    H,
    W,
    H_OUT,
    W_OUT,
    rows_per_program,
    center,
    c1,
    c2,
    cov_norm,
    WIN: tl.constexpr,
    RING: tl.constexpr,
    PAD: tl.constexpr,
    PADDING: tl.constexpr,
    GRAY: tl.constexpr,
    WANT_MAP: tl.constexpr,
    BLOCK_W: tl.constexpr,
):
    """One program: output columns [strip * BLOCK_W, +BLOCK_W) of output rows [chunk * rows_per_program,
    +rows_per_program) of one (image, channel) plane; writes the sum of that part of the map to
    partial_ptr[plane, chunk, strip].

    It walks the band's input rows top to bottom. Each row's horizontal pass is one [RING, BLOCK_W]
    gather (tap k of output column c in lane [k, c]) reduced over the taps; its five moments go into
    register rings holding the last WIN such rows (row i in slot i % WIN), and once WIN rows are in,
    the vertical pass is a weighted sum of the rings' slots, giving one row of the SSIM map.
    """
    plane = tl.program_id(0)
    chunk = tl.program_id(1)
    strip = tl.program_id(2)
    row0 = chunk * rows_per_program
    n_rows = tl.minimum(rows_per_program, H_OUT - row0)
    cols = strip * BLOCK_W + tl.arange(0, BLOCK_W)
    out_ok = cols < W_OUT
    channels_in: tl.constexpr = 3 if GRAY else 1
    in_offset = plane.to(tl.int64) * channels_in * H * W
    x_plane = x_ptr + in_offset
    y_plane = y_ptr + in_offset
    map_row = map_ptr + plane.to(tl.int64) * H_OUT * W_OUT + row0 * W_OUT + cols

    slots = tl.arange(0, RING)
    in_window = slots < WIN
    taps = tl.load(taps_ptr + slots, mask=in_window, other=0.0)[:, None]
    in_col = cols[None, :] + slots[:, None] - PAD
    src_col = _source_index(in_col, W, PADDING)
    if PADDING == 2:  # zero padding is zero in the input's own scale, before centring
        col_ok = in_window[:, None] & (in_col >= 0) & (in_col < W)
    else:
        col_ok = in_window[:, None]

    ring_x = tl.zeros((RING, BLOCK_W), dtype=tl.float32)
    ring_y = tl.zeros((RING, BLOCK_W), dtype=tl.float32)
    ring_xx = tl.zeros((RING, BLOCK_W), dtype=tl.float32)
    ring_yy = tl.zeros((RING, BLOCK_W), dtype=tl.float32)
    ring_xy = tl.zeros((RING, BLOCK_W), dtype=tl.float32)
    ssim_sum = tl.zeros((BLOCK_W,), dtype=tl.float32)
    for j in range(0, n_rows + WIN - 1):
        row = row0 + j - PAD
        src_row = _source_index(row, H, PADDING)
        if PADDING == 2:
            load_ok = col_ok & (row >= 0) & (row < H)
        else:
            load_ok = col_ok
        xv, yv = _load_centred(x_plane, y_plane, src_row * W + src_col, load_ok, H * W, center, GRAY)
        tx = taps * xv
        ty = taps * yv
        newest = (slots == j % WIN)[:, None]
        ring_x = tl.where(newest, tl.sum(tx, axis=0)[None, :], ring_x)
        ring_y = tl.where(newest, tl.sum(ty, axis=0)[None, :], ring_y)
        ring_xx = tl.where(newest, tl.sum(tx * xv, axis=0)[None, :], ring_xx)
        ring_yy = tl.where(newest, tl.sum(ty * yv, axis=0)[None, :], ring_yy)
        ring_xy = tl.where(newest, tl.sum(tx * yv, axis=0)[None, :], ring_xy)
        if j >= WIN - 1:
            # Output row o = j - WIN + 1 takes taps[k] times input row o + k, found in slot (o + k) % WIN.
            first = (j + 1) % WIN
            weights = tl.load(taps_ptr + (slots - first + WIN) % WIN, mask=in_window, other=0.0)[:, None]
            ssim_row = _ssim_row(
                tl.sum(weights * ring_x, axis=0),
                tl.sum(weights * ring_y, axis=0),
                tl.sum(weights * ring_xx, axis=0),
                tl.sum(weights * ring_yy, axis=0),
                tl.sum(weights * ring_xy, axis=0),
                center,
                c1,
                c2,
                cov_norm,
            )
            ssim_sum += tl.where(out_ok, ssim_row, 0.0)
            if WANT_MAP:
                tl.store(map_row + (j - WIN + 1) * W_OUT, ssim_row, mask=out_ok)
    partial_index = (plane * tl.num_programs(1) + chunk) * tl.num_programs(2) + strip
    tl.store(partial_ptr + partial_index, tl.sum(ssim_sum, axis=0))


@triton.jit
def _source_index(i, n, PADDING: tl.constexpr):
    """Index into a dimension of size n for a position that may lie in the padding: mirrored for
    reflect (torch's: d c b | a b c d), clamped otherwise (valid never leaves the image, zero padding
    masks the load, and lanes past the output edge are never used)."""
    if PADDING == 1:
        i = tl.where(i < 0, -i, i)
        i = tl.where(i > n - 1, 2 * (n - 1) - i, i)
    return tl.minimum(tl.maximum(i, 0), n - 1)


@triton.jit
def _load_centred(x_ptr, y_ptr, offsets, mask, channel_stride, center, GRAY: tl.constexpr):
    """x and y at `offsets` as float32 minus `center`; with GRAY, PIL's luma of the 3 channels."""
    if GRAY:
        x = 0.299 * tl.load(x_ptr + offsets, mask=mask, other=0).to(tl.float32)
        y = 0.299 * tl.load(y_ptr + offsets, mask=mask, other=0).to(tl.float32)
        x += 0.587 * tl.load(x_ptr + channel_stride + offsets, mask=mask, other=0).to(tl.float32)
        y += 0.587 * tl.load(y_ptr + channel_stride + offsets, mask=mask, other=0).to(tl.float32)
        x += 0.114 * tl.load(x_ptr + 2 * channel_stride + offsets, mask=mask, other=0).to(tl.float32)
        y += 0.114 * tl.load(y_ptr + 2 * channel_stride + offsets, mask=mask, other=0).to(tl.float32)
    else:
        x = tl.load(x_ptr + offsets, mask=mask, other=0).to(tl.float32)
        y = tl.load(y_ptr + offsets, mask=mask, other=0).to(tl.float32)
    return x - center, y - center


@triton.jit
def _ssim_row(mx, my, exx, eyy, exy, center, c1, c2, cov_norm):
    var_x = cov_norm * (exx - mx * mx)
    var_y = cov_norm * (eyy - my * my)
    cov = cov_norm * (exy - mx * my)
    mx += center
    my += center
    num = (2.0 * mx * my + c1) * (2.0 * cov + c2)
    den = (mx * mx + my * my + c1) * (var_x + var_y + c2)
    return num / den
