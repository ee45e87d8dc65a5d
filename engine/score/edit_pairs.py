"""Editing pairs scored as pairs: every candidate whose task is `edit` is compared with its source image.

The source is named by `source_key` (a candidate of the same store, or an image file inside the inputs:
engine.store.edit_sources, the rules export uses). Per edit row:

    edit_clip_i     cosine of the source's and the edit's CLIP image embeddings (what was kept)
    edit_direction  CLIP directional similarity (InstructPix2Pix, UltraEdit): the cosine of the image
                    embedding change (edit - source) and the text embedding change from the source's
                    caption to the target caption when both are known, else the cosine of the image change
                    and the instruction's embedding. The source caption: the row's `meta`
                    `source_caption` (or `input_caption`; `pixsift generate edit` records it from its
                    pairs), else the source candidate's caption; the target caption: `meta`
                    `target_caption` (or `output_caption`, `edited_caption`).
    edit_ssim       SSIM (kernels.ssim, Gaussian 11x11 window) of source and edit, RGB, both resized to
                    PAIR_SIZE x PAIR_SIZE (bilinear, antialiased: `pair_size`)
    edit_l1         mean absolute difference of the same two images, in [0, 1]
    edit_dino       with --edit-dino: DINOv2 CLS cosine of source and edit (engine.score.dino)

Text-to-image rows get NaN. An edit whose source cannot be found, read or decoded fails its row with an
`edit_source` error. A source is read and decoded once while it is among the last SOURCES_KEPT used, and
its embedding is computed once per worker (`SourceEmbeddings`).
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from pixsift.engine.core.candidates import Candidate, failure
from pixsift.engine.decode.result import Decoder
from pixsift.engine.io.records import SOURCE_CAPTION_FIELDS, TARGET_CAPTION_FIELDS, first_text
from pixsift.engine.store.edit_sources import EditSources
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import EDIT_COLUMNS, EDIT_DINO, EDIT_TASK
from pixsift.kernels.similarity import cosine_pairs
from pixsift.kernels.ssim import ssim
from pixsift.kernels.ssim.resize import resize_float

PAIR_SIZE = 256
SOURCES_KEPT = 64  # decoded sources kept: a source shared by many edits is decoded once


@dataclass(frozen=True)
class Source:
    key: str
    image: torch.Tensor  # uint8 3 x H x W on the decoder's device
    caption: str  # the source candidate's caption; "" when it has none (a file)


class SourceReader:
    """The decoded source image of an edit's `source_key`, or why there is none (for the preparing
    threads). The sources are looked up (engine.store.edit_sources: a pass over the store) when the first
    edit comes, for the rows still to score: a store without edits pays nothing."""

    def __init__(self, store: RunStore, decoder: Decoder):
        self.store, self.decoder = store, decoder
        self._sources: EditSources | None = None
        self._kept: OrderedDict[str, Source | str] = OrderedDict()

    def get(self, key: str) -> Source | str:
        if key in self._kept:
            self._kept.move_to_end(key)
            return self._kept[key]
        found = self._read(key)
        self._kept[key] = found
        if len(self._kept) > SOURCES_KEPT:
            self._kept.popitem(last=False)
        return found

    def _read(self, key: str) -> Source | str:
        if self._sources is None:
            units = self.store.units()
            pending = [np.arange(units[i].start, units[i].stop) for i in self.store.pending_units()]
            self._sources = EditSources.find(self.store, np.concatenate([*pending, np.empty(0, np.int64)]))
        try:
            source = self._sources.read(key)
        except LookupError as e:
            return failure("edit_source", str(e))
        [result] = self.decoder.decode([source.data])
        if not result.ok:
            return failure("edit_source", f"edit source {key!r} cannot be decoded: {result.error}")
        return Source(key, result.image, source.caption)


def is_edit(candidate: Candidate) -> bool:
    return candidate.task == EDIT_TASK and bool(candidate.source_key)


def pair_captions(candidate: Candidate, source: Source) -> tuple[str, str]:
    """The captions of an edit's source and of its edited image ("" where unknown)."""
    meta = json.loads(candidate.meta) if candidate.meta else {}
    source_caption = first_text(meta, SOURCE_CAPTION_FIELDS) or source.caption
    return source_caption, first_text(meta, TARGET_CAPTION_FIELDS)


def pair_size(image: torch.Tensor) -> torch.Tensor:
    """A uint8 3 x H x W image as 1 x 3 x PAIR_SIZE x PAIR_SIZE, through kernels.ssim's antialiased
    bilinear resize (within one level of PIL's): on uint8 on the CPU (torch's vectorized path, ~30x
    PIL-exact resize_8bit's speed), on float rounded back on a GPU (no uint8 resize there)."""
    if image.device.type == "cpu":
        return resize_float(image[None], PAIR_SIZE)
    return resize_float(image[None].float(), PAIR_SIZE).round_().clamp_(0, 255).to(torch.uint8)


def pair_pixels(edits: list[torch.Tensor], sources: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(edit_ssim, edit_l1) float32 (n,) of n uint8 3 x H x W image pairs (any sizes, one device)."""
    small = [torch.cat([pair_size(image) for image in images]) for images in (edits, sources)]
    ssims = ssim(small[0], small[1], 255.0)
    l1 = (small[0].float() - small[1].float()).abs().mean(dim=(1, 2, 3)) / 255.0
    return ssims.float(), l1


class SourceEmbeddings:
    """Each source's CLIP image embedding, computed once per worker and kept on the device."""

    def __init__(self) -> None:
        self._by_key: dict[str, torch.Tensor] = {}

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def add(self, keys: list[str], embeddings: torch.Tensor) -> None:
        for key, embedding in zip(keys, embeddings, strict=True):
            self._by_key[key] = embedding

    def stacked(self, keys: list[str]) -> torch.Tensor:
        return torch.stack([self._by_key[key] for key in keys])


def edit_scores(
    image_emb: torch.Tensor,
    text_all: torch.Tensor,
    text_rows: torch.Tensor,
    source_emb: torch.Tensor,
    source_text_rows: torch.Tensor,
    target_text_rows: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """edit_clip_i and edit_direction (n,) for n edits: their image embeddings, the distinct captions'
    text embeddings with each edit's instruction row, its source's image embedding, and the rows of the
    source and target captions (-1 where unknown)."""
    clip_i = cosine_pairs(source_emb, image_emb, check_finite=False)
    image_change = image_emb - source_emb
    by_captions = (source_text_rows >= 0) & (target_text_rows >= 0)
    text_change = torch.where(
        by_captions[:, None],
        text_all[target_text_rows.clamp(min=0)] - text_all[source_text_rows.clamp(min=0)],
        text_all[text_rows],
    )
    return {
        "edit_clip_i": clip_i,
        "edit_direction": cosine_pairs(image_change, text_change, check_finite=False),
    }


def nan_columns(n: int, device: torch.device | str = "cpu", dino: bool = False) -> dict[str, torch.Tensor]:
    names = (*EDIT_COLUMNS, *([EDIT_DINO] if dino else []))
    return {name: torch.full((n,), math.nan, dtype=torch.float32, device=device) for name in names}
