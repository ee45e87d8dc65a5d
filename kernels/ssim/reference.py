"""SSIM in plain PyTorch, step by step: the reference every backend is tested against (float64), and the
`torch` backend (float32)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pixsift.kernels.ssim.config import LUMA, SsimConfig


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


def ssim_torch(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
    return ssim_reference(x, y, cfg, dtype=torch.float32)


def to_luma(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b).unsqueeze(1)
