"""pixsift's kernels: fused SSIM and batched CLIP-embedding similarity, each beside its PyTorch reference."""

from kernels.ssim import roundtrip_ssim, ssim

__all__ = ["ssim", "roundtrip_ssim"]
