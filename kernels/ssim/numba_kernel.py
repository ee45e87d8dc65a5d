"""SSIM on the CPU: one fused numba kernel, parallel over (plane, block of output rows), or on the calling
thread alone with `serial` (for callers that run images on threads of their own; it releases the GIL).

Each task walks its rows once: it loads an input row (gray / centre / padding applied on load), filters
it horizontally into a ring of `win_size` rows of the five moments, and as soon as the ring holds a
full window, filters vertically and turns the result into one row of the SSIM map. Everything is
float64, so it differs from `ssim_reference` by float64 rounding only; the per-task sums are added
in a fixed order, so the result does not depend on the number of threads.

uint8 images under a uniform window without padding (scikit-image's default, and the round trip's)
take a faster exact path: the window sums of x, y, x^2, y^2 and xy are integers, kept as running
sums (a row enters the window, the one above it leaves), and only the SSIM formula is float64.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from numba import njit, prange

from pixsift.kernels.ssim.config import LUMA, SsimConfig

ROWS_PER_TASK = 64
MOMENTS = 5  # mu_x, mu_y, E[x^2], E[y^2], E[xy]


class _Params(NamedTuple):
    """The SsimConfig fields the kernel reads, in types numba can take."""

    taps: np.ndarray
    cov_norm: float
    c1: float
    c2: float
    center: float
    gray: bool
    want_map: bool
    box: bool  # the exact integer path (see the module docstring)


def ssim_numba(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
    n, c, h, w = x.shape
    out_h, out_w = cfg.out_size(h, w)
    out_c = 1 if cfg.gray else c
    tasks_per_plane = -(-out_h // ROWS_PER_TASK)
    map_shape = (n, out_c, out_h, out_w) if cfg.want_map else (0, 0, 0, 0)
    ssim_map = np.empty(map_shape, dtype=np.float32)
    partial_sums = np.empty(n * out_c * tasks_per_plane)
    taps = np.asarray(cfg.taps, dtype=np.float64)
    box = x.dtype == torch.uint8 and cfg.uniform and cfg.padding == "valid" and not cfg.gray
    params = _Params(taps, cfg.cov_norm, cfg.c1, cfg.c2, cfg.center, cfg.gray, cfg.want_map, box)
    rows, cols = _source_index(h, out_h, cfg), _source_index(w, out_w, cfg)
    # Window sums of squares of uint8 stay below 2**31 in int32 up to 13 x 13 windows.
    sums_like = np.zeros(1, np.int32 if cfg.win_size <= 13 else np.int64)
    run = _ssim_tasks_serial if cfg.serial else _ssim_tasks
    run(_as_numpy(x), _as_numpy(y), rows, cols, params, ssim_map, partial_sums, sums_like)
    means = partial_sums.reshape(n, -1).sum(axis=1) / (out_c * out_h * out_w)
    return torch.from_numpy(means.astype(np.float32)), torch.from_numpy(ssim_map) if cfg.want_map else None


def _as_numpy(t: torch.Tensor) -> np.ndarray:
    """uint8 and float32 go in as they are; numpy has no bfloat16, so half types become float32 (exactly)."""
    t = t.detach()
    if t.dtype not in (torch.uint8, torch.float32):
        t = t.float()
    return t.contiguous().numpy()


def _source_index(size: int, out_size: int, cfg: SsimConfig) -> np.ndarray:
    """For each row (or column) of the padded input the window slides over, the image row it reads;
    -1 where zero padding reads a zero."""
    offset = 0 if cfg.padding == "valid" else cfg.half
    index = np.arange(out_size + cfg.win_size - 1, dtype=np.int64) - offset
    if cfg.padding == "reflect":
        index = np.abs(index)
        index = np.where(index >= size, 2 * (size - 1) - index, index)
    elif cfg.padding == "zeros":
        index = np.where((index < 0) | (index >= size), -1, index)
    return index


@njit(parallel=True, cache=True)
def _ssim_tasks(x, y, rows, cols, params, ssim_map, partial_sums, sums_like):
    for task in prange(partial_sums.size):
        partial_sums[task] = _ssim_task(task, x, y, rows, cols, params, ssim_map, partial_sums, sums_like)


@njit(nogil=True, cache=True)
def _ssim_tasks_serial(x, y, rows, cols, params, ssim_map, partial_sums, sums_like):
    for task in range(partial_sums.size):
        partial_sums[task] = _ssim_task(task, x, y, rows, cols, params, ssim_map, partial_sums, sums_like)


@njit(cache=True)
def _ssim_task(task, x, y, rows, cols, params, ssim_map, partial_sums, sums_like):
    """The sum of the SSIM map over one task's block of output rows of one plane."""
    out_h = rows.size - params.taps.size + 1
    out_c = 1 if params.gray else x.shape[1]
    tasks_per_plane = partial_sums.size // (x.shape[0] * out_c)
    image, channel = divmod(task // tasks_per_plane, out_c)
    first = (task % tasks_per_plane) * ROWS_PER_TASK
    last = min(first + ROWS_PER_TASK, out_h)
    if params.box:
        return _box_rows(x, y, image, channel, first, last, params, ssim_map, sums_like)
    return _ssim_rows(x, y, image, channel, first, last, rows, cols, params, ssim_map)


@njit(cache=True)
def _ssim_rows(x, y, image, channel, first, last, rows, cols, params, ssim_map):
    """Sum of the SSIM map over output rows first..last-1 of one plane; writes those map rows if wanted."""
    taps = params.taps
    win = taps.size
    out_w = cols.size - win + 1
    ring = np.empty((win, MOMENTS, out_w))
    moments = np.empty((MOMENTS, out_w))
    row_x = np.empty(cols.size)
    row_y = np.empty(cols.size)
    column_sums = np.zeros(out_w)
    for r in range(first, last + win - 1):
        _load_row(x, image, channel, rows[r], cols, params, row_x)
        _load_row(y, image, channel, rows[r], cols, params, row_y)
        _filter_row(row_x, row_y, taps, ring[r % win])
        top = r - win + 1
        if top >= first:
            _filter_column(ring, top, taps, moments)
            _ssim_row(moments, params, column_sums)
            if params.want_map:
                ssim_map[image, channel, top] = moments[0]
    total = 0.0
    for j in range(out_w):
        total += column_sums[j]
    return total


@njit(cache=True)
def _load_row(src, image, channel, row, cols, params, out):
    """One padded row of an input plane, minus `center`, in float64 (PIL luma of channels 0-2 if gray).

    Zero padding is a zero of the input's own scale, so it is -center once centred.
    """
    for q in range(cols.size):
        col = cols[q]
        if row < 0 or col < 0:
            out[q] = -params.center
        elif params.gray:
            r = np.float64(src[image, 0, row, col])
            g = np.float64(src[image, 1, row, col])
            b = np.float64(src[image, 2, row, col])
            out[q] = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b - params.center
        else:
            out[q] = np.float64(src[image, channel, row, col]) - params.center


@njit(cache=True)
def _filter_row(row_x, row_y, taps, out):
    out[:] = 0.0
    for k in range(taps.size):
        t = taps[k]
        for j in range(out.shape[1]):
            u = row_x[j + k]
            v = row_y[j + k]
            out[0, j] += t * u
            out[1, j] += t * v
            out[2, j] += t * (u * u)
            out[3, j] += t * (v * v)
            out[4, j] += t * (u * v)


@njit(cache=True)
def _filter_column(ring, top, taps, out):
    """Vertical pass for the output row whose window starts at padded row `top`; ring slot = row mod win."""
    win = taps.size
    out[:] = 0.0
    for k in range(win):
        t = taps[k]
        slot = ring[(top + k) % win]
        for m in range(MOMENTS):
            for j in range(out.shape[1]):
                out[m, j] += t * slot[m, j]


@njit(cache=True)
def _ssim_row(moments, params, column_sums):
    """SSIM of each pixel of the row, written over moments[0] and added to column_sums."""
    cov_norm, c1, c2, center = params.cov_norm, params.c1, params.c2, params.center
    for j in range(moments.shape[1]):
        mx = moments[0, j]
        my = moments[1, j]
        var_x = cov_norm * (moments[2, j] - mx * mx)
        var_y = cov_norm * (moments[3, j] - my * my)
        cov = cov_norm * (moments[4, j] - mx * my)
        mx += center
        my += center
        num = (2.0 * mx * my + c1) * (2.0 * cov + c2)
        den = (mx * mx + my * my + c1) * (var_x + var_y + c2)
        value = num / den
        moments[0, j] = value
        column_sums[j] += value


@njit(cache=True)
def _box_rows(x, y, image, channel, first, last, params, ssim_map, sums_like):
    """_ssim_rows for uint8 planes, a uniform window and no padding: exact integer running window sums."""
    win = params.taps.size
    out_w = x.shape[3] - win + 1
    ring = np.zeros((win, MOMENTS, out_w), sums_like.dtype)  # slot r % win: row r's horizontal sums
    sums = np.zeros((MOMENTS, out_w), sums_like.dtype)
    values = np.empty(out_w)
    column_sums = np.zeros(out_w)  # per column, so that the rows' sums vectorise
    for r in range(first, first + win - 1):
        _row_sums(x, y, image, channel, r, win, ring[r % win])
        sums += ring[r % win]
    for top in range(first, last):
        slot = ring[(top + win - 1) % win]
        if top > first:
            sums -= slot  # row top - 1 leaves the window
        _row_sums(x, y, image, channel, top + win - 1, win, slot)
        sums += slot
        _box_ssim_row(sums, win * win, params, values, column_sums)
        if params.want_map:
            ssim_map[image, channel, top] = values
    return column_sums.sum()


@njit(cache=True)
def _row_sums(x, y, image, channel, row, win, out):
    """Sums over `win` consecutive pixels of one input row of x, y, x^2, y^2 and xy."""
    # One moment at a time over 1-D rows: loops the compiler vectorises.
    xs, ys = x[image, channel, row], y[image, channel, row]
    sx, sy, sxx, syy, sxy = out[0], out[1], out[2], out[3], out[4]
    sx[:] = 0
    sy[:] = 0
    sxx[:] = 0
    syy[:] = 0
    sxy[:] = 0
    for k in range(win):
        for j in range(sx.size):
            u = np.int32(xs[j + k])
            v = np.int32(ys[j + k])
            sx[j] += u
            sy[j] += v
            sxx[j] += u * u
            syy[j] += v * v
            sxy[j] += u * v


# fastmath (vectorised division): the sums are finite integers and both denominators positive.
@njit(cache=True, fastmath=True)
def _box_ssim_row(sums, n, params, values, column_sums):
    """SSIM of each pixel of a row from its window sums: var_x = cov_norm * (n sum x^2 - (sum x)^2) / n^2."""
    norm = params.cov_norm / (n * n)
    c1, c2 = params.c1, params.c2
    sx_, sy_, sxx, syy, sxy = sums[0], sums[1], sums[2], sums[3], sums[4]
    for j in range(values.size):
        sx = np.float64(sx_[j])
        sy = np.float64(sy_[j])
        mx = sx / n
        my = sy / n
        var_x = (n * np.float64(sxx[j]) - sx * sx) * norm
        var_y = (n * np.float64(syy[j]) - sy * sy) * norm
        cov = (n * np.float64(sxy[j]) - sx * sy) * norm
        num = (2.0 * mx * my + c1) * (2.0 * cov + c2)
        value = num / ((mx * mx + my * my + c1) * (var_x + var_y + c2))
        values[j] = value
        column_sums[j] += value
