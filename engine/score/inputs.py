"""What the model step takes for n images: their captions' tokens, and either their model input and
fidelity prepared on the CPU, or the decoded images on the device to prepare there."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch


@dataclass
class ScoreInputs:
    tokens: torch.Tensor  # D x length, each distinct caption once (engine.score.embed.ClipEmbedder.tokenize)
    rows: torch.Tensor  # n: the row of `tokens` holding each image's caption
    pixels: torch.Tensor | None = None  # n x 3 x H x W model input, prepared on the CPU
    fidelity: torch.Tensor | None = None  # n round-trip SSIMs, prepared on the CPU
    images: list[torch.Tensor] | None = None  # n uint8 3 x h x w images on the device, to prepare there
    ready: Callable[[], None] | None = None  # makes the device wait until `images` are uploaded

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, indices: Sequence[int]) -> ScoreInputs:
        """The inputs of `indices` alone, with the tokens of their captions alone."""
        index = torch.as_tensor(list(indices), dtype=torch.int64)
        used, rows = torch.unique(self.rows[index], return_inverse=True)
        return ScoreInputs(
            self.tokens[used],
            rows,
            None if self.pixels is None else self.pixels[index],
            None if self.fidelity is None else self.fidelity[index],
            None if self.images is None else [self.images[i] for i in indices],
            self.ready,
        )
