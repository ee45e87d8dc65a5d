"""PickScore (Kirstain et al. 2023, yuvalkirstain/PickScore_v1): a CLIP-H fine-tuned on human preferences,
published as a transformers `CLIPModel` folder, with the processor of laion/CLIP-ViT-H-14-laion2B-s32B-b79K.
Its score of an image for a prompt, as the PickScore README computes it:

    logit_scale.exp() * cosine(get_image_features(image), get_text_features(prompt))

the image prepared by the folder's own image processor (given PIL images, as the README gives them), the
prompt tokenized with padding, truncation at 77 tokens. Scores compare only among one prompt's images
(the README takes a softmax over them): use `normalize = "group_softmax"` in a selection spec.

`--scorer NAME=DIR` loads a folder whose config.json says `model_type` "clip" (a processor and tokenizer
saved beside it), from local files only. It runs in the model step beside the main CLIP, on its own
inputs: each image prepared once on the read thread (engine.score.prepare), each distinct caption
tokenized once.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pixsift.engine.core.errors import BadInput
from pixsift.engine.score.scorers.base import model_type, pil_images

SUFFIXES: tuple[str, ...] = ()  # a folder, not a file: `claims`


def claims(path: Path) -> bool:
    return model_type(path) == "clip"


class PickScore:
    model_inputs = True  # it needs the images and captions, not the main CLIP's embeddings

    def __init__(self, path: str | Path, name: str, device: torch.device | str = "cpu"):
        from transformers import AutoProcessor, CLIPModel

        self.name, self.device = name, torch.device(device)
        if not claims(Path(path)):
            raise BadInput(f"scorer {name}={path}", "is not a transformers CLIPModel folder (config.json)")
        self.processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.model = (
            CLIPModel.from_pretrained(path, local_files_only=True, dtype=dtype).to(self.device).eval()
        )

    def pixels(self, images: list[torch.Tensor]) -> torch.Tensor:
        """The model input of uint8 3 x H x W CPU images."""
        return self.processor(images=pil_images(images), return_tensors="pt").pixel_values

    def tokens(self, captions: list[str]) -> dict[str, torch.Tensor]:
        """input_ids and attention_mask of the captions, padded to the longest, cut at 77 tokens."""
        text = self.processor(
            text=captions, padding=True, truncation=True, max_length=77, return_tensors="pt"
        )
        return {"input_ids": text.input_ids, "attention_mask": text.attention_mask}

    @torch.no_grad()
    def __call__(
        self, pixels: torch.Tensor, tokens: dict[str, torch.Tensor], rows: torch.Tensor
    ) -> torch.Tensor:
        """float32 (n,): each image's score for its caption (`rows`: its row of `tokens`)."""
        dtype = self.model.dtype
        image = _features(self.model.get_image_features(pixel_values=pixels.to(self.device, dtype)))
        text = _features(self.model.get_text_features(**{k: v.to(self.device) for k, v in tokens.items()}))
        image = image.float() / image.float().norm(dim=-1, keepdim=True)
        text = text.float() / text.float().norm(dim=-1, keepdim=True)
        return self.model.logit_scale.exp().float() * (image * text[rows.to(self.device)]).sum(-1)


def _features(output) -> torch.Tensor:
    """The projected embeddings: the tensor transformers 4 returns, the pooled output transformers 5 does."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


Scorer = PickScore
