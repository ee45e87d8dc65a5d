"""HPSv2 / HPSv2.1 (Wu et al. 2023, tgxs002/HPSv2): an open_clip ViT-H-14 fine-tuned on human preferences,
published as a PyTorch checkpoint (`HPS_v2.1_compressed.pt`, its weights under "state_dict"). Its score of
an image for a prompt, as HPSv2's `img_score.py` computes it: the image and prompt features of that
model (L2-normalised, as open_clip's forward gives them), their dot product.

The image is prepared as HPSv2's validation transform does (its `create_model_and_transforms` with
`light_augmentation=True`): RGB to a [0, 1] tensor, the longest side resized to 224 (bicubic, on the
tensor: antialiased, torchvision's default since 0.17), padded to a square with 0 (black, before the
normalisation), then OpenAI CLIP's mean and std. The prompt is tokenized by open_clip's ViT-H-14
tokenizer. Scores compare only among one prompt's images: `normalize = "group_z"` in a selection spec.

`--scorer NAME=FILE` loads a `.pt`/`.pth` checkpoint whose weights are an open_clip CLIP's (read with
`weights_only=True` and memory-mapped to look at its keys: an MLP head's file is left to that kind).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

from pixsift.engine.core.errors import BadInput
from pixsift.engine.score.scorers.base import pil_images

SUFFIXES: tuple[str, ...] = ()  # its .pt files are told from an MLP head's by their keys: `claims`
MODEL = "ViT-H-14"  # the architecture of every HPSv2 release
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def claims(path: Path) -> bool:
    return path.is_file() and path.suffix in (".pt", ".pth") and _is_clip(_weights(path))


class HPSv2:
    model_inputs = True  # its own images and captions, not the main CLIP's embeddings

    def __init__(self, path: str | Path, name: str, device: torch.device | str = "cpu"):
        import open_clip

        self.name, self.device = name, torch.device(device)
        weights = _weights(Path(path))
        if not _is_clip(weights):
            raise BadInput(f"scorer {name}={path}", "is not an open_clip CLIP checkpoint (HPSv2's layout)")
        model = open_clip.create_model(MODEL, pretrained=None)
        model.load_state_dict(weights)
        self.model = model.to(self.device).eval()
        self.size = model.visual.image_size
        self.size = self.size[0] if isinstance(self.size, tuple | list) else self.size
        self.tokenizer = open_clip.get_tokenizer(MODEL)

    def pixels(self, images: list[torch.Tensor]) -> torch.Tensor:
        """HPSv2's validation transform of uint8 3 x H x W CPU images."""
        return torch.stack([self._pixels(image) for image in images])

    def _pixels(self, image: torch.Tensor) -> torch.Tensor:
        [pil] = pil_images([image])
        x = TF.to_tensor(pil)
        height, width = x.shape[1:]
        scale = self.size / max(height, width)
        if scale != 1.0:
            new = [round(height * scale), round(width * scale)]
            x = TF.resize(x, new, InterpolationMode.BICUBIC, antialias=True)
            pad_h, pad_w = self.size - new[0], self.size - new[1]
            x = TF.pad(x, [pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2], fill=0)
        return TF.normalize(x, OPENAI_MEAN, OPENAI_STD)

    def tokens(self, captions: list[str]) -> dict[str, torch.Tensor]:
        return {"text": self.tokenizer(captions)}

    @torch.no_grad()
    def __call__(
        self, pixels: torch.Tensor, tokens: dict[str, torch.Tensor], rows: torch.Tensor
    ) -> torch.Tensor:
        """float32 (n,): each image's score for its caption (`rows`: its row of `tokens`)."""
        with torch.autocast("cuda", torch.bfloat16, enabled=self.device.type == "cuda"):
            image = self.model.encode_image(pixels.to(self.device), normalize=True).float()
            text = self.model.encode_text(tokens["text"].to(self.device), normalize=True).float()
        return (image * text[rows.to(self.device)]).sum(-1)


def _weights(path: Path) -> dict:
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 -- any file torch cannot read as weights is not this kind's
        return {}
    weights = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else {}
    return {k.removeprefix("module."): v for k, v in weights.items()} if isinstance(weights, dict) else {}


def _is_clip(weights: dict) -> bool:
    return "visual.conv1.weight" in weights and "token_embedding.weight" in weights


Scorer = HPSv2
