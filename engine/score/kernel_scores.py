"""The built-in score columns, from our kernels: clip_cosine (raw cosine of the image and text embeddings),
clip_score (Hessel et al.'s CLIPScore, 2.5 * max(cos, 0)) and ssim_roundtrip (SynthVLM's fidelity SSIM).
Extra scorers (engine.score.scorers) add a float32 column each."""

from __future__ import annotations

import nvtx
import torch

from pixsift.engine.score.preprocess import same_size_batches
from pixsift.kernels.similarity import clip_score, cosine_pairs
from pixsift.kernels.ssim import roundtrip_ssim

CLIP_SCORE_W = 2.5
# roundtrip_ssim gathers each resize's taps as int32 (about 16 bytes per input value): fewer pixels per
# call than preprocessing.
SSIM_MAX_ELEMENTS = 1 << 25


@nvtx.annotate("kernels:clip")
def clip_scores(image_emb: torch.Tensor, text_emb: torch.Tensor) -> dict[str, torch.Tensor]:
    """{"clip_cosine", "clip_score"}: float32 (N,) for N x D image and text embeddings; non-finite where an
    embedding is (the caller checks on the host, so that nothing here waits for the device)."""
    return {
        "clip_cosine": cosine_pairs(image_emb, text_emb, check_finite=False),
        "clip_score": clip_score(image_emb, text_emb, w=CLIP_SCORE_W, check_finite=False),
    }


@nvtx.annotate("kernels:ssim")
def ssim_roundtrip(images: list[torch.Tensor], size: int = 768, via: int = 336) -> torch.Tensor:
    """float32 (N,): kernels.roundtrip_ssim of each uint8 3 x H x W image on the device, images of one
    size per call (on the CPU, engine.score.prepare runs it per image on its threads)."""
    scores = torch.empty(len(images), dtype=torch.float32, device=images[0].device if images else "cpu")
    for indices, batch in same_size_batches(images, SSIM_MAX_ELEMENTS) if images else ():
        scores[indices] = roundtrip_ssim(batch, size, via)
    return scores
