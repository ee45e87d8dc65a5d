"""What an extra scorer is: a score per candidate, stored as a float32 column named after it, either from
the main CLIP's embeddings (an aesthetic or NSFW head: EmbeddingScorer) or from a model of its own run on
its own inputs (PickScore: ModelScorer, `model_inputs = True`). A kind of scorer is a module of
engine.score.scorers with SUFFIXES (or `claims(folder)`) and a Scorer class (path, name, device)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image


def pil_images(images: list[torch.Tensor]) -> list[Image.Image]:
    """uint8 3 x H x W CPU images as PIL images: what the models' own processors are given upstream."""
    return [Image.fromarray(np.ascontiguousarray(image.permute(1, 2, 0).numpy())) for image in images]


def model_type(folder: Path) -> str | None:
    """The `model_type` of a transformers checkpoint folder's config.json; None when it has none."""
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        return None


class ModelScorer(Protocol):
    """A scorer with a model of its own: the read thread prepares its inputs (engine.score.prepare), the
    model step calls it with them."""

    name: str
    model_inputs: bool  # True

    def pixels(self, images: list[torch.Tensor]) -> torch.Tensor:
        """Its model input of uint8 3 x H x W CPU images."""
        ...

    def tokens(self, captions: list[str]) -> dict[str, torch.Tensor]:
        """Its tokens of the captions, a row each."""
        ...

    def __call__(
        self, pixels: torch.Tensor, tokens: dict[str, torch.Tensor], rows: torch.Tensor
    ) -> torch.Tensor:
        """float32 (N,): each image's score for its caption (`rows`: its row of `tokens`)."""
        ...


class EmbeddingScorer(Protocol):
    """An extra score per candidate from its CLIP embeddings (an aesthetic or NSFW head, say)."""

    name: str  # the run store column

    def __call__(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """float32 (N,) from N x D image and text embeddings (float32, not normalized)."""
        ...
