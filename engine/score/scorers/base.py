"""What an extra scorer is: a score per candidate from its CLIP embeddings (an aesthetic or NSFW head,
say), stored as a float32 column named after it. A kind of scorer is a module of engine.score.scorers
with SUFFIXES and a Scorer class (path, name, device) -> EmbeddingScorer."""

from __future__ import annotations

from typing import Protocol

import torch


class EmbeddingScorer(Protocol):
    """An extra score per candidate from its CLIP embeddings (an aesthetic or NSFW head, say)."""

    name: str  # the run store column

    def __call__(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """float32 (N,) from N x D image and text embeddings (float32, not normalized)."""
        ...
