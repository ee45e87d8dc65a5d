"""Fused SSIM: public API, option handling, backend dispatch and the plain-PyTorch reference.

Every backend computes the same thing from the same `SsimConfig`:

    mu_x, mu_y, E[x^2], E[y^2], E[xy]   windowed moments, separable window `taps`
    var_x = cov_norm * (E[x^2] - mu_x^2)  (likewise var_y, cov_xy)
    ssim  = (2 mu_x mu_y + c1)(2 cov_xy + c2) / ((mu_x^2 + mu_y^2 + c1)(var_x + var_y + c2))

and the per-image result is the mean of the map over channels and pixels. Moments are taken of the
inputs minus `center` (half the data range), which changes no value but keeps float32
`E[x^2] - mu^2` away from cancellation on bright images.

Conventions users know, and how to reproduce them here:
    scikit-image structural_similarity: window="uniform", win_size=7, covariance="sample",
        padding="valid" (it crops the border after filtering); gaussian_weights=True ->
        window="gaussian", win_size=11, sigma=1.5
    pytorch-msssim ssim:  window="gaussian", win_size=11, sigma=1.5, padding="valid"
    torchmetrics SSIM:    padding="reflect" (since 1.5, torchmetrics PR #2721, it keeps the
        reflect-padded border; earlier versions cropped it, i.e. padding="valid")
    kornia ssim:          padding="reflect" (its default "same", with reflect borders); pass eps=0.0
    fused-ssim:           padding="zeros" (zero in the input's own scale, not after centring)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from kernels.checks import check_pair, check_tensor, check_triton_device, raise_nonfinite

DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32)
WINDOWS = ("gaussian", "uniform")
PADDINGS = ("valid", "reflect", "zeros")
COVARIANCES = ("population", "sample")
REDUCTIONS = ("mean", "none")
BACKENDS = ("auto", "triton", "cuda", "numba", "torch")
MAX_WIN_SIZE = 31
K1, K2 = 0.01, 0.03
LUMA = (0.299, 0.587, 0.114)  # PIL's "L" conversion weights (ITU-R 601-2)

# The GPU default; set to the faster of triton and cuda on the benchmarks (benchmarks/bench_ssim.py).
GPU_BACKEND = "triton"


@dataclass(frozen=True)
class SsimConfig:
    taps: tuple[float, ...]  # the 1-D window, sums to 1; the 2-D window is its outer product
    padding: str  # "valid" | "reflect" | "zeros"
    cov_norm: float  # 1 for population covariance, n/(n-1) with n = win_size**2 for sample
    c1: float
    c2: float
    center: float  # subtracted from inputs before taking moments (data_range / 2)
    gray: bool  # inputs have 3 channels, reduced to PIL luma before the window
    want_map: bool

    @property
    def win_size(self) -> int:
        return len(self.taps)

    @property
    def half(self) -> int:
        return len(self.taps) // 2

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        if self.padding == "valid":
            return h - self.win_size + 1, w - self.win_size + 1
        return h, w


def window_taps(window: str, win_size: int, sigma: float) -> tuple[float, ...]:
    if window == "uniform":
        return (1.0 / win_size,) * win_size
    half = win_size // 2
    g = [math.exp(-((i - half) ** 2) / (2.0 * sigma * sigma)) for i in range(win_size)]
    total = sum(g)
    return tuple(v / total for v in g)


def make_config(
    x: torch.Tensor,
    data_range: float | None,
    window: str,
    win_size: int,
    sigma: float,
    padding: str,
    covariance: str,
    gray: bool,
    reduction: str,
) -> SsimConfig:
    _check_choice("window", window, WINDOWS)
    _check_choice("padding", padding, PADDINGS)
    _check_choice("covariance", covariance, COVARIANCES)
    _check_choice("reduction", reduction, REDUCTIONS)
    if not isinstance(win_size, int) or win_size % 2 == 0 or not 3 <= win_size <= MAX_WIN_SIZE:
        raise ValueError(f"ssim: win_size must be an odd integer from 3 to {MAX_WIN_SIZE}, got {win_size!r}")
    if window == "gaussian" and not (isinstance(sigma, (int, float)) and sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"ssim: sigma must be a positive number, got {sigma!r}")
    if data_range is None:
        if x.dtype != torch.uint8:
            raise ValueError(
                f"ssim: data_range is required for {x.dtype} inputs (the span of values the images can take, "
                "for example 1.0 or 255.0); it is implied only for uint8"
            )
        data_range = 255.0
    if not (isinstance(data_range, (int, float)) and data_range > 0 and math.isfinite(data_range)):
        raise ValueError(f"ssim: data_range must be a positive finite number, got {data_range!r}")
    if gray and x.shape[1] != 3:
        raise ValueError(f"ssim: gray=True needs 3-channel (RGB) inputs, got {x.shape[1]} channels")
    n = win_size * win_size
    return SsimConfig(
        taps=window_taps(window, win_size, float(sigma)),
        padding=padding,
        cov_norm=n / (n - 1.0) if covariance == "sample" else 1.0,
        c1=(K1 * data_range) ** 2,
        c2=(K2 * data_range) ** 2,
        center=data_range / 2.0,
        gray=gray,
        want_map=reduction == "none",
    )


def ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    data_range: float | None = None,
    *,
    window: str = "gaussian",
    win_size: int = 11,
    sigma: float = 1.5,
    padding: str = "valid",
    covariance: str = "population",
    gray: bool = False,
    reduction: str = "mean",
    backend: str = "auto",
) -> torch.Tensor:
    """SSIM of each image pair in two N x C x H x W batches.

    Returns float32 of shape (N,), the mean of the SSIM map over channels and pixels, or with
    reduction="none" the map itself, N x C' x H' x W' (C' = 1 with gray=True; H', W' smaller by
    win_size - 1 with padding="valid").
    """
    check_tensor("ssim", "x", x, DTYPES, 4)
    check_tensor("ssim", "y", y, DTYPES, 4)
    check_pair("ssim", x, y)
    if x.shape != y.shape:
        raise ValueError(f"ssim: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    cfg = make_config(x, data_range, window, win_size, sigma, padding, covariance, gray, reduction)
    h, w = x.shape[-2:]
    if h < win_size or w < win_size:
        raise ValueError(f"ssim: images of {h}x{w} are smaller than the {win_size}x{win_size} window")
    run = _backend(backend, x)
    means, ssim_map = run(x.contiguous(), y.contiguous(), cfg)
    if not torch.isfinite(means).all():
        raise_nonfinite("ssim", {"x": x, "y": y})
        largest = max(x.abs().max().item(), y.abs().max().item())
        raise ValueError(
            f"ssim: the result is not finite although the inputs are: values up to {largest:.3g} "
            "overflow float32 moments; rescale the images"
        )
    return ssim_map if cfg.want_map else means


def roundtrip_ssim(
    images: torch.Tensor,
    size: int = 768,
    via: int = 336,
    *,
    data_range: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """SynthVLM's fidelity score: SSIM of each image against itself after a round trip through `via`.

    Each image (N x C x H x W, C = 1 or 3) goes to luma, then to size x size (the reference), then
    size -> via -> size (the round trip), bilinear as PIL resizes; SSIM with scikit-image's defaults
    (7x7 uniform window, sample covariance). uint8 images follow PIL's 8-bit arithmetic bit for bit
    (integer luma, fixed-point resampling, uint8 after every pass); other dtypes stay float, resized
    by torch's antialiased bilinear (PIL's float mode up to float rounding). Returns float32 (N,).
    """
    check_tensor("roundtrip_ssim", "images", images, DTYPES, 4)
    if images.shape[1] not in (1, 3):
        raise ValueError(f"roundtrip_ssim: images must have 1 or 3 channels, got shape {tuple(images.shape)}")
    for name, value in (("size", size), ("via", via)):
        if not isinstance(value, int) or value < 7:
            raise ValueError(f"roundtrip_ssim: {name} must be an integer of at least 7, got {value!r}")
    if images.dtype == torch.uint8:
        if data_range not in (None, 255, 255.0):
            raise ValueError(f"roundtrip_ssim: uint8 images have data_range 255, got {data_range!r}")
        data_range, resize = 255.0, _pil_resize_8bit
        gray = _pil_luma(images.double()) if images.shape[1] == 3 else images.double()
    elif data_range is None:
        raise ValueError(f"roundtrip_ssim: data_range is required for {images.dtype} images")
    else:
        resize = _resize_float
        gray = to_luma(images.float()) if images.shape[1] == 3 else images.float()
    reference = resize(gray, size)
    roundtrip = resize(resize(reference, via), size)
    if images.dtype == torch.uint8:
        reference, roundtrip = reference.to(torch.uint8), roundtrip.to(torch.uint8)
    return ssim(
        reference,
        roundtrip,
        data_range,
        window="uniform",
        win_size=7,
        covariance="sample",
        padding="valid",
        backend=backend,
    )


def to_luma(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)


def _resize_float(x: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _pil_luma(rgb: torch.Tensor) -> torch.Tensor:
    """PIL's RGB -> L of integer-valued float64 pixels: fixed-point LUMA weights, rounded half up."""
    r, g, b = rgb.unbind(1)
    return torch.floor((19595 * r + 38470 * g + 7471 * b + 32768) / 65536).unsqueeze(1)


def _pil_resize_8bit(x: torch.Tensor, size: int) -> torch.Tensor:
    """PIL's bilinear resize of 8-bit images, on integer-valued float64 (exact: every product and sum
    is an integer below 2**53): horizontal pass, stored as uint8, then vertical pass."""
    x = _pil_pass(x, *_pil_coefficients(x.shape[-1], size))
    return _pil_pass(x.transpose(-1, -2), *_pil_coefficients(x.shape[-2], size)).transpose(-1, -2)


PIL_PRECISION_BITS = 22  # Pillow's Resample.c: 32 - 8 bits of pixel - 2 bits of headroom


def _pil_pass(x: torch.Tensor, taps: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Resample the last dimension: out[j] = sum_k weights[j, k] * x[taps[j, k]], then round as PIL."""
    half = float(1 << (PIL_PRECISION_BITS - 1))
    taps, weights = taps.to(x.device), weights.to(x.device)
    total = (x[..., taps] * weights).sum(dim=-1)
    return torch.floor((total + half) / (1 << PIL_PRECISION_BITS)).clamp_(0, 255)


@functools.lru_cache(maxsize=64)
def _pil_coefficients(in_size: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pillow's bilinear resampling (precompute_coeffs and normalize_coeffs_8bpc in Resample.c) as
    (input index, fixed-point weight) pairs, out_size x taps: a triangle widened by the downscale
    factor, normalized per output pixel, then rounded to PIL_PRECISION_BITS; unused taps weigh 0."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    rows = []
    for out in range(out_size):
        center = (out + 0.5) * scale
        first = max(int(center - filter_scale + 0.5), 0)
        stop = min(int(center + filter_scale + 0.5), in_size)
        taps = [max(0.0, 1.0 - abs((i - center + 0.5) / filter_scale)) for i in range(first, stop)]
        total = sum(taps)
        rows.append((first, [math.floor(0.5 + t / total * (1 << PIL_PRECISION_BITS)) for t in taps]))
    width = max(len(w) for _, w in rows)
    indices = torch.tensor([[min(first + k, in_size - 1) for k in range(width)] for first, _ in rows])
    weights = torch.tensor([w + [0] * (width - len(w)) for _, w in rows], dtype=torch.float64)
    return indices, weights


def ssim_reference(
    x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Plain PyTorch, step by step, in `dtype` (float64 for tests). Returns (per-image mean, map or None)."""
    x, y = x.to(dtype), y.to(dtype)
    if cfg.gray:
        x, y = to_luma(x), to_luma(y)
    x, y = _padded(x, cfg) - cfg.center, _padded(y, cfg) - cfg.center
    n, c, h, w = x.shape
    x, y = x.reshape(n * c, 1, h, w), y.reshape(n * c, 1, h, w)
    moments = _window_filter(torch.cat([x, y, x * x, y * y, x * y]), cfg.taps)
    mx, my, xx, yy, xy = moments.chunk(5)
    var_x = cfg.cov_norm * (xx - mx * mx)
    var_y = cfg.cov_norm * (yy - my * my)
    cov = cfg.cov_norm * (xy - mx * my)
    mx, my = mx + cfg.center, my + cfg.center
    num = (2 * mx * my + cfg.c1) * (2 * cov + cfg.c2)
    den = (mx * mx + my * my + cfg.c1) * (var_x + var_y + cfg.c2)
    ssim_map = (num / den).reshape(n, c, *num.shape[-2:])
    means = ssim_map.mean(dim=(1, 2, 3)).float()
    return means, ssim_map.float() if cfg.want_map else None


def _padded(x: torch.Tensor, cfg: SsimConfig) -> torch.Tensor:
    # Before centring: zero padding means zero in the input's own scale, as fused-ssim pads.
    if cfg.padding == "valid":
        return x
    mode = "reflect" if cfg.padding == "reflect" else "constant"
    return F.pad(x, (cfg.half,) * 4, mode=mode)


def _window_filter(planes: torch.Tensor, taps: tuple[float, ...]) -> torch.Tensor:
    taps = torch.tensor(taps, dtype=planes.dtype, device=planes.device)
    planes = F.conv2d(planes, taps.view(1, 1, 1, -1))
    return F.conv2d(planes, taps.view(1, 1, -1, 1))


def _ssim_torch(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
    return ssim_reference(x, y, cfg, dtype=torch.float32)


def _ssim_numba(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
    from kernels.ssim.numba_kernel import ssim_numba

    return ssim_numba(x, y, cfg)


def _ssim_cuda(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
    from kernels.ssim.cuda_kernel import ssim_cuda

    return ssim_cuda(x, y, cfg)


# Output rows per Triton program: a 32 x 3 x 1024 x 1024 batch gets thousands of programs, each
# re-reading only win_size - 1 halo rows, and the small images of the interpreter tests get one.
TRITON_ROWS_PER_PROGRAM = 64
# Output columns per program, one per thread (4 warps), so each thread keeps its columns' rings,
# next_pow2(win_size) floats per moment, and reduces over taps and slots in its own registers.
TRITON_BLOCK_W = 128
_PADDING_CODES = {"valid": 0, "reflect": 1, "zeros": 2}


def _ssim_triton(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
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
        PADDING=_PADDING_CODES[cfg.padding],
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


_RUNNERS = {"torch": _ssim_torch, "numba": _ssim_numba, "cuda": _ssim_cuda, "triton": _ssim_triton}


def _backend(name: str, x: torch.Tensor):
    _check_choice("backend", name, BACKENDS)
    if name == "auto":
        if x.is_cuda:
            name = GPU_BACKEND
        else:
            from kernels.optional import available

            name = "numba" if available("numba") else "torch"
    if name == "cuda" and not x.is_cuda:
        raise ValueError(f"ssim: backend='cuda' needs CUDA tensors, got tensors on {x.device}")
    if name == "triton":
        check_triton_device("ssim", x)
    if name == "numba" and x.is_cuda:
        raise ValueError(
            "ssim: backend='numba' runs on the CPU; move the tensors to the CPU or pick triton/cuda"
        )
    return _RUNNERS[name]


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"ssim: {name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
