"""SSIM's options, checked and turned into the `SsimConfig` that every backend reads.

Every backend computes the same thing from the same `SsimConfig`:

    mu_x, mu_y, E[x^2], E[y^2], E[xy]   windowed moments, separable window `taps`
    var_x = cov_norm * (E[x^2] - mu_x^2)  (likewise var_y, cov_xy)
    ssim  = (2 mu_x mu_y + c1)(2 cov_xy + c2) / ((mu_x^2 + mu_y^2 + c1)(var_x + var_y + c2))

and the per-image result is the mean of the map over channels and pixels. Moments are taken of the
inputs minus `center` (half the data range), which changes no value but keeps float32
`E[x^2] - mu^2` away from cancellation on bright images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

DTYPES = (torch.uint8, torch.float16, torch.bfloat16, torch.float32)
WINDOWS = ("gaussian", "uniform")
PADDINGS = ("valid", "reflect", "zeros")
COVARIANCES = ("population", "sample")
REDUCTIONS = ("mean", "none")
BACKENDS = ("auto", "triton", "cuda", "numba", "torch")
MAX_WIN_SIZE = 31
K1, K2 = 0.01, 0.03
LUMA = (0.299, 0.587, 0.114)  # PIL's "L" conversion weights (ITU-R 601-2)
PADDING_CODES = {"valid": 0, "reflect": 1, "zeros": 2}  # how the Triton and CUDA kernels take it


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
    serial: bool = False  # CPU backends: run on the calling thread only

    @property
    def uniform(self) -> bool:
        return len(set(self.taps)) == 1

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
    serial: bool = False,
) -> SsimConfig:
    check_choice("window", window, WINDOWS)
    check_choice("padding", padding, PADDINGS)
    check_choice("covariance", covariance, COVARIANCES)
    check_choice("reduction", reduction, REDUCTIONS)
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
        serial=serial,
    )


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"ssim: {name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
