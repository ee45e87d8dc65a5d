"""The native CUDA SSIM backend: its source compiles through NVRTC for every specialisation (no GPU
needed), and on a GPU it matches the float64 reference."""

import itertools

import pytest
import torch

from pixsift.kernels import nvrtc
from pixsift.kernels.ssim.config import DTYPES, MAX_WIN_SIZE, PADDINGS, make_config
from pixsift.kernels.ssim.cuda_kernel import Specialization, kernel_binary, ssim_cuda, target
from pixsift.kernels.ssim.reference import ssim_reference

needs_nvrtc = pytest.mark.skipif(
    nvrtc.find_library() is None,
    reason="libnvrtc not found: it comes with torch's CUDA wheels (pip package nvidia-cuda-nvrtc)",
)
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ALL_SPECIALISATIONS = list(itertools.product(DTYPES, PADDINGS, (False, True), (False, True)))


@needs_nvrtc
@pytest.mark.parametrize(("dtype", "padding", "gray", "want_map"), ALL_SPECIALISATIONS)
def test_compiles_to_cubin_for_every_specialisation(dtype, padding, gray, want_map):
    cubin = kernel_binary(Specialization(dtype, 11, padding, gray, want_map), "sm_90")
    assert cubin.startswith(b"\x7fELF") and b"ssim_kernel" in cubin


@needs_nvrtc
@pytest.mark.parametrize("win_size", range(3, MAX_WIN_SIZE + 1, 2))
def test_every_window_size_fits_in_shared_memory(win_size):
    # ptxas refuses the kernel when its static shared memory passes 48 KiB, so compiling is the check.
    cubin = kernel_binary(Specialization(torch.bfloat16, win_size, "reflect", True, True), "sm_90")
    assert cubin.startswith(b"\x7fELF")


@needs_nvrtc
def test_unknown_architecture_gets_ptx_of_an_older_one():
    assert target((9, 0)) == "sm_90"
    assert target((9, 9)) == "compute_90"
    ptx = kernel_binary(Specialization(torch.uint8, 7, "valid", False, False), "compute_90")
    assert b".entry ssim_kernel" in ptx and ptx.endswith(b"\0")


@needs_nvrtc
def test_compile_error_reports_the_log():
    with pytest.raises(nvrtc.NvrtcError, match="error.*\n.*bad_token"):
        nvrtc.compile_source("bad_token", "broken.cu", ["--gpu-architecture=sm_90"], cubin=True)


def _pair(dtype, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    y = (x + 0.15 * torch.randn(shape, generator=g)).clamp(0, 1)
    if dtype == torch.uint8:
        return (x * 255).round().to(dtype), (y * 255).round().to(dtype), None
    return x.to(dtype), y.to(dtype), 1.0


GPU_CASES = [
    *itertools.product(DTYPES, PADDINGS, (False, True), ("gaussian",), (11,)),
    (torch.uint8, "valid", False, "uniform", 7),
    (torch.float32, "zeros", True, "gaussian", 31),
]


@needs_gpu
@pytest.mark.parametrize(("dtype", "padding", "gray", "window", "win_size"), GPU_CASES)
def test_matches_reference_on_gpu(dtype, padding, gray, window, win_size):
    pytest.importorskip("pycuda")
    x, y, data_range = _pair(dtype, (2, 3, 77, 45))
    covariance = "sample" if window == "uniform" else "population"
    cfg = make_config(x, data_range, window, win_size, 1.5, padding, covariance, gray, "none")
    means, ssim_map = ssim_cuda(x.cuda(), y.cuda(), cfg)
    ref_means, ref_map = ssim_reference(x, y, cfg)
    torch.testing.assert_close(ssim_map.cpu(), ref_map, rtol=0, atol=1e-5)
    torch.testing.assert_close(means.cpu(), ref_means, rtol=0, atol=1e-5)


@needs_gpu
def test_side_stream_and_repeated_calls_give_identical_results():
    pytest.importorskip("pycuda")
    x, y, _ = _pair(torch.uint8, (3, 1, 300, 257), seed=1)
    x, y = x.cuda(), y.cuda()
    cfg = make_config(x, None, "gaussian", 11, 1.5, "reflect", "population", False, "none")
    first = ssim_cuda(x, y, cfg)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        on_side = ssim_cuda(x, y, cfg)
    torch.cuda.current_stream().wait_stream(side)
    assert torch.equal(first[0], on_side[0]) and torch.equal(first[1], on_side[1])
