"""`--edit-dino MODEL_DIR`: DINOv2 similarity of an edit and its source (UltraEdit's DINOv2 check,
MagicBrush's DINO score): the cosine of their CLS embeddings (transformers' Dinov2Model `pooler_output`,
the final layer norm of the CLS token), each image prepared by the image processor saved with the model
(facebook/dinov2-*: shortest side 256 bicubic, center crop 224, ImageNet mean and std).

The model loads from a local folder only (config.json, weights, preprocessor_config.json, as
`Dinov2Model.save_pretrained` and the published checkpoints lay it out; ScoreConfig checks it is one).
A source's embedding is computed once per worker.
"""

from __future__ import annotations

import torch

from pixsift.kernels.similarity import cosine_pairs


class DinoPairs:
    def __init__(self, folder: str, device: torch.device):
        from transformers import AutoImageProcessor, Dinov2Model

        self.device = device
        self.processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
        self.model = Dinov2Model.from_pretrained(folder, local_files_only=True).to(device).eval()
        self._sources: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def embed(self, images: list[torch.Tensor]) -> torch.Tensor:
        """CLS embeddings (n x D, float32) of n uint8 3 x H x W images (any sizes, one device)."""
        pixels = self.processor(images=images, return_tensors="pt").pixel_values
        return self.model(pixel_values=pixels.to(self.device)).pooler_output.float()

    def similarity(self, edits: list[torch.Tensor], sources: list[tuple[str, torch.Tensor]]) -> torch.Tensor:
        """float32 (n,): each edit's cosine with its source (key, image); new sources are embedded once."""
        new = {key: image for key, image in sources if key not in self._sources}
        if new:
            self._sources.update(zip(new, self.embed(list(new.values())), strict=True))
        source_emb = torch.stack([self._sources[key] for key, _ in sources])
        return cosine_pairs(source_emb, self.embed(edits), check_finite=False).cpu()
