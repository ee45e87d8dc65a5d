"""Aesthetic predictor v2.5 (discus0434/aesthetic-predictor-v2-5, the aesthetic column Fine-T2I ships): a
SigLIP vision tower (google/siglip-so400m-patch14-384) and a scoring head on its L2-normalised pooled
embedding, Linear(hidden, 1024) -> 128 -> 64 -> 16 -> 1 with no activation (its Dropouts do nothing at
inference), as its `AestheticPredictorV2_5Model.forward` computes it; scores run from about 1 to 10.

`--scorer NAME=DIR` loads a folder holding the SigLIP checkpoint as published (config.json, weights,
preprocessor_config.json: `hf download google/siglip-so400m-patch14-384 --local-dir DIR`) and the head,
`aesthetic_predictor_v2_5.pth` from the predictor's repository, copied into it (read with
`weights_only=True`). Images go through the folder's SiglipImageProcessor on PIL images, as the
predictor's processor gives them; captions play no part.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pixsift.engine.core.errors import BadInput
from pixsift.engine.score.scorers.base import model_type, pil_images

SUFFIXES: tuple[str, ...] = ()  # a folder: `claims`
HEAD = "aesthetic_predictor_v2_5.pth"
_HEAD_LAYERS = (0, 2, 4, 6, 8)  # the Linear layers of its nn.Sequential (Dropouts between)


def claims(path: Path) -> bool:
    return model_type(path) in ("siglip", "siglip_vision_model") and (path / HEAD).is_file()


class AestheticV25:
    model_inputs = True  # its own image tower

    def __init__(self, path: str | Path, name: str, device: torch.device | str = "cpu"):
        from transformers import AutoImageProcessor, SiglipVisionModel

        self.name, self.device = name, torch.device(device)
        path = Path(path)
        if not claims(path):
            raise BadInput(f"scorer {name}={path}", f"is not a SigLIP checkpoint folder with {HEAD} in it")
        self.processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        tower = SiglipVisionModel.from_pretrained(path, local_files_only=True, dtype=dtype)
        self.tower = tower.to(self.device).eval()
        head = torch.load(path / HEAD, map_location="cpu", weights_only=True)
        try:
            self.head = [
                (
                    head[f"scoring_head.{i}.weight"].float().to(self.device),
                    head[f"scoring_head.{i}.bias"].float().to(self.device),
                )
                for i in _HEAD_LAYERS
            ]
        except KeyError as e:
            raise BadInput(f"{path / HEAD}", f"not the predictor's head: no {e.args[0]}") from None

    def pixels(self, images: list[torch.Tensor]) -> torch.Tensor:
        """The SigLIP input of uint8 3 x H x W CPU images (the processor on PIL images)."""
        return self.processor(images=pil_images(images), return_tensors="pt").pixel_values

    def tokens(self, captions: list[str]) -> dict[str, torch.Tensor]:
        return {}  # no text

    @torch.no_grad()
    def __call__(
        self, pixels: torch.Tensor, tokens: dict[str, torch.Tensor], rows: torch.Tensor
    ) -> torch.Tensor:
        """float32 (n,): each image's aesthetic score."""
        pooled = self.tower(pixel_values=pixels.to(self.device, self.tower.dtype)).pooler_output.float()
        x = pooled / pooled.norm(dim=-1, keepdim=True)
        for weight, bias in self.head:
            x = x @ weight.T + bias
        return x[:, 0]


Scorer = AestheticV25
