"""Cosine similarity of CLIP embeddings: row pairs, CLIPScore, and top-k nearest keys without the full matrix.

All three ops take embeddings as they come out of the encoders (float16, bfloat16 or float32, not
normalized) and accumulate in float32. Zero-norm convention, as torch.nn.functional.cosine_similarity
(torch >= 1.12 clamps each norm, not their product):

    cos(a, b) = a.b / (max(|a|, eps) * max(|b|, eps)),   eps = 1e-8

so a zero vector has cosine 0 with everything, itself included.

CLIPScore conventions users know, and how to reproduce them with clip_score's `w`:
    Hessel et al. (2021), CLIPScore:              w=2.5 (the default)
    torchmetrics CLIPScore:                       w=100
    SynthVLM's filter (raw clipped cosine):       w=1

Beside each other in this package: config.py (dtypes, backends, block sizes), reference.py (the
plain-PyTorch reference), triton_kernel.py (the kernels and their launchers) and dispatch.py (the ops,
which check the inputs, pick a backend and check the result), as in kernels/ssim.
"""

from pixsift.kernels.similarity.dispatch import clip_score, cosine_pairs, topk_cosine

__all__ = ["cosine_pairs", "clip_score", "topk_cosine"]
