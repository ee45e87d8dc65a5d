"""What the model step takes for n images: their captions' tokens, and either their model input and
fidelity prepared on the CPU, or the decoded images on the device to prepare there; for the editing
pairs among them, their sources (engine.score.edit_pairs)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch


@dataclass
class EditInputs:
    """The sources of a batch's edits: each image's source slot (-1: not an edit), the distinct source keys,
    the model input of those whose embedding is new to the worker, the token rows of source and target
    captions (-1: unknown), and each image's pair SSIM, L1 and DINO similarity (NaN: not an edit, or no
    --edit-dino)."""

    slots: torch.Tensor  # n int64 index into `keys`
    keys: list[str]
    new: list[int]  # indices into `keys` to embed
    pixels: torch.Tensor | None = None  # len(new) x 3 x H x W, prepared on the CPU
    images: list[torch.Tensor] | None = None  # len(new) uint8 sources, to prepare on the device
    source_rows: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    target_rows: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    pairs: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 3))  # n x (ssim, l1, dino)

    def subset(self, index: torch.Tensor, remap: Callable[[torch.Tensor], torch.Tensor]) -> EditInputs:
        return EditInputs(
            self.slots[index], self.keys, self.new, self.pixels, self.images,
            remap(self.source_rows[index]), remap(self.target_rows[index]), self.pairs[index],
        )  # fmt: skip


@dataclass
class ModelInputs:
    """An extra model scorer's own inputs (engine.score.scorers, `model_inputs`): its model input of each
    image, and its tokens of the distinct captions, rows in the order of ScoreInputs.tokens."""

    pixels: torch.Tensor  # n x ...
    tokens: dict[str, torch.Tensor]  # name -> D x length

    def subset(self, index: torch.Tensor, used: torch.Tensor) -> ModelInputs:
        return ModelInputs(self.pixels[index], {name: t[used] for name, t in self.tokens.items()})


@dataclass
class ScoreInputs:
    tokens: torch.Tensor  # D x length, each distinct caption once (engine.score.embed.ClipEmbedder.tokenize)
    rows: torch.Tensor  # n: the row of `tokens` holding each image's caption
    pixels: torch.Tensor | None = None  # n x 3 x H x W model input, prepared on the CPU
    fidelity: torch.Tensor | None = None  # n round-trip SSIMs, prepared on the CPU
    images: list[torch.Tensor] | None = None  # n uint8 3 x h x w images on the device, to prepare there
    ready: Callable[[], None] | None = None  # makes the device wait until `images` are uploaded
    edits: EditInputs | None = None  # None when no image of the batch is an edit with its source
    models: dict[str, ModelInputs] = field(default_factory=dict)  # scorer name -> its own inputs

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, indices: Sequence[int]) -> ScoreInputs:
        """The inputs of `indices` alone, with the tokens of their captions alone."""
        index = torch.as_tensor(list(indices), dtype=torch.int64)
        named = [self.rows[index]]
        if self.edits is not None:
            named += [r[r >= 0] for r in (self.edits.source_rows[index], self.edits.target_rows[index])]
        used = torch.unique(torch.cat(named))

        def remap(rows: torch.Tensor) -> torch.Tensor:
            return torch.where(rows >= 0, torch.searchsorted(used, rows.clamp(min=0)), rows)

        return ScoreInputs(
            self.tokens[used],
            remap(self.rows[index]),
            None if self.pixels is None else self.pixels[index],
            None if self.fidelity is None else self.fidelity[index],
            None if self.images is None else [self.images[i] for i in indices],
            self.ready,
            None if self.edits is None else self.edits.subset(index, remap),
            {name: model.subset(index, used) for name, model in self.models.items()},
        )
