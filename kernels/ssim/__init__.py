"""Fused SSIM and SynthVLM's round-trip fidelity score.

Backends, each beside the others in this package: `triton` (triton_kernel.py), `cuda` (cuda_kernel.py,
CUDA C through NVRTC and pycuda), `numba` (numba_kernel.py, the CPU default) and `torch` (reference.py,
the plain-PyTorch reference); dispatch.py picks one and checks the inputs and the result; roundtrip.py
is the round trip, with PIL's resampling in resize.py (any device) and resize_cpu.py (numpy, PIL).
"""

from pixsift.kernels.ssim.dispatch import GPU_BACKEND, ssim
from pixsift.kernels.ssim.roundtrip import roundtrip_ssim

__all__ = ["ssim", "roundtrip_ssim", "GPU_BACKEND"]
