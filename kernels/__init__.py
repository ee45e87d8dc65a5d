"""pixsift's kernels: fused SSIM and batched CLIP-embedding similarity, each beside its PyTorch reference."""

from kernels.similarity import clip_score, cosine_pairs, topk_cosine
from kernels.ssim import roundtrip_ssim, ssim

__all__ = ["ssim", "roundtrip_ssim", "cosine_pairs", "clip_score", "topk_cosine"]
