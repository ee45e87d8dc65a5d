"""ssim(): the checks, the backend dispatch and the result check.

Conventions users know, and how to reproduce them here:
    scikit-image structural_similarity: window="uniform", win_size=7, covariance="sample",
        padding="valid" (it crops the border after filtering); gaussian_weights=True ->
        window="gaussian", win_size=11, sigma=1.5
    pytorch-msssim ssim:  window="gaussian", win_size=11, sigma=1.5, padding="valid"
    torchmetrics SSIM:    padding="reflect" (since 1.5, torchmetrics PR #2721, it keeps the
        reflect-padded border; earlier versions cropped it, i.e. padding="valid")
    kornia ssim:          padding="reflect" (its default "same", with reflect borders); pass eps=0.0
    fused-ssim:           padding="zeros" (zero in the input's own scale, not after centring)

Backends, each beside the others in this package: `triton` (triton_kernel.py), `cuda` (cuda_kernel.py,
CUDA C through NVRTC and pycuda), `numba` (numba_kernel.py, the CPU default) and `torch` (reference.py,
the plain-PyTorch reference). Each takes (x, y, SsimConfig) and returns (per-image means, map or None).
"""

from __future__ import annotations

import torch

from pixsift.kernels.checks import check_pair, check_tensor, check_triton_device, raise_nonfinite
from pixsift.kernels.optional import available
from pixsift.kernels.ssim.config import BACKENDS, DTYPES, SsimConfig, check_choice, make_config
from pixsift.kernels.ssim.reference import ssim_torch

# The GPU default; set to the faster of triton and cuda on the benchmarks (benchmarks/bench_ssim.py).
GPU_BACKEND = "triton"


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
    serial: bool = False,
) -> torch.Tensor:
    """SSIM of each image pair in two N x C x H x W batches.

    Returns float32 of shape (N,), the mean of the SSIM map over channels and pixels, or with
    reduction="none" the map itself, N x C' x H' x W' (C' = 1 with gray=True; H', W' smaller by
    win_size - 1 with padding="valid"). serial: on the CPU, use the calling thread only.
    """
    check_tensor("ssim", "x", x, DTYPES, 4)
    check_tensor("ssim", "y", y, DTYPES, 4)
    check_pair("ssim", x, y)
    if x.shape != y.shape:
        raise ValueError(f"ssim: x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    cfg = make_config(x, data_range, window, win_size, sigma, padding, covariance, gray, reduction, serial)
    h, w = x.shape[-2:]
    if h < win_size or w < win_size:
        raise ValueError(f"ssim: images of {h}x{w} are smaller than the {win_size}x{win_size} window")
    run = _backend(backend, x)
    means, ssim_map = run(x.contiguous(), y.contiguous(), cfg)
    # uint8 moments are finite and c1, c2 > 0, so the result is: no check, and no wait for the device.
    if x.dtype != torch.uint8 and not torch.isfinite(means).all():
        raise_nonfinite("ssim", {"x": x, "y": y})
        largest = max(x.abs().max().item(), y.abs().max().item())
        raise ValueError(
            f"ssim: the result is not finite although the inputs are: values up to {largest:.3g} "
            "overflow float32 moments; rescale the images"
        )
    return ssim_map if cfg.want_map else means


def _ssim_numba(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
    from pixsift.kernels.ssim.numba_kernel import ssim_numba

    return ssim_numba(x, y, cfg)


def _ssim_cuda(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
    from pixsift.kernels.ssim.cuda_kernel import ssim_cuda  # needs pycuda: imported when asked for

    return ssim_cuda(x, y, cfg)


def _ssim_triton(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
    from pixsift.kernels.ssim.triton_kernel import ssim_triton

    return ssim_triton(x, y, cfg)


_RUNNERS = {"torch": ssim_torch, "numba": _ssim_numba, "cuda": _ssim_cuda, "triton": _ssim_triton}


def _backend(name: str, x: torch.Tensor):
    check_choice("backend", name, BACKENDS)
    if name == "auto":
        if x.is_cuda:
            name = GPU_BACKEND
        else:
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
