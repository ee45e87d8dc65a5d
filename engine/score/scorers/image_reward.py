"""ImageReward (Xu et al. 2023, THUDM/ImageReward): BLIP (a ViT and a BERT that attends to the image)
fine-tuned on human preferences, published as `ImageReward.pt` (the state dict of its model) with
`med_config.json`, its tokenizer being bert-base-uncased's with BLIP's [DEC] and [ENC] added. Its score
of an image for a prompt, as ImageReward's `score()` computes it: the BERT's first token after reading
the prompt (max_length 35, padded) across the image's ViT tokens, through its Linear head, then
(reward - 0.16717362830052426) / 1.0333394966054072.

The image is prepared by ImageReward's own transform (torchvision: shorter side to 224 bicubic, centre
crop 224, RGB, OpenAI CLIP's mean and std). The checkpoint's BLIP weights run in transformers'
BlipVisionModel and BlipTextModel (BLIP's vit.py and med.py, ported), their sizes read from the
checkpoint and med_config.json (a ViT's heads are its width / 64, as in every BLIP ViT).

`--scorer NAME=DIR` loads a folder holding ImageReward.pt and med_config.json (`hf download
THUDM/ImageReward --local-dir DIR`) and bert-base-uncased's tokenizer files (`hf download
google-bert/bert-base-uncased vocab.txt tokenizer_config.json --local-dir DIR`), read with
`weights_only=True`. Scores compare across prompts (ImageReward normalises them), but a prompt's best
image is what best-of-N wants.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torchvision import transforms

from pixsift.engine.core.errors import BadInput
from pixsift.engine.score.scorers.base import pil_images
from pixsift.engine.score.scorers.mlp import linear_stack, state_dict_of

SUFFIXES: tuple[str, ...] = ()  # a folder: `claims`
CHECKPOINT, MED_CONFIG = "ImageReward.pt", "med_config.json"
MEAN, STD = 0.16717362830052426, 1.0333394966054072
MAX_LENGTH = 35
IMAGE_SIZE = 224
HEAD_WIDTH = 64  # BLIP's ViTs: base 768 / 12 heads, large 1024 / 16
_VISION, _TEXT, _HEAD = "blip.visual_encoder.", "blip.text_encoder.", "mlp."


def claims(path: Path) -> bool:
    return path.is_dir() and (path / CHECKPOINT).is_file()


class ImageReward:
    model_inputs = True  # its own images and captions, not the main CLIP's embeddings

    def __init__(self, path: str | Path, name: str, device: torch.device | str = "cpu"):
        from transformers import BertTokenizerFast

        path, where = Path(path), f"scorer {name}={path}"
        self.name, self.device = name, torch.device(device)
        if not claims(path) or not (path / MED_CONFIG).is_file():
            raise BadInput(where, f"not an ImageReward folder (needs {CHECKPOINT} and {MED_CONFIG})")
        state = state_dict_of(path / CHECKPOINT, torch.device("cpu"))
        med = json.loads((path / MED_CONFIG).read_text())
        self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.vision = _vision_model(state, where).to(self.device, self.dtype).eval()
        self.text = (
            _text_model(state, med, self.vision.config.hidden_size, where).to(self.device, self.dtype).eval()
        )
        head = {k[len(_HEAD) :]: v for k, v in state.items() if k.startswith(_HEAD)}
        self.head = [(w.to(self.device), b.to(self.device)) for w, b in linear_stack(path / CHECKPOINT, head)]
        try:
            self.tokenizer = BertTokenizerFast.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as e:
            raise BadInput(where, f"no bert-base-uncased tokenizer files beside {CHECKPOINT} ({e})") from None
        self.tokenizer.add_special_tokens({"bos_token": "[DEC]"})
        self.tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
        self.transform = transforms.Compose([
            transforms.Resize(IMAGE_SIZE, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(IMAGE_SIZE),
            lambda image: image.convert("RGB"),
            transforms.ToTensor(),
            transforms.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
        ])  # fmt: skip

    def pixels(self, images: list[torch.Tensor]) -> torch.Tensor:
        """The model input of uint8 3 x H x W CPU images."""
        return torch.stack([self.transform(image) for image in pil_images(images)])

    def tokens(self, captions: list[str]) -> dict[str, torch.Tensor]:
        """input_ids and attention_mask of the captions, padded (and cut) to 35 tokens."""
        text = self.tokenizer(
            captions, padding="max_length", truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
        )
        return {"input_ids": text.input_ids, "attention_mask": text.attention_mask}

    @torch.no_grad()
    def __call__(
        self, pixels: torch.Tensor, tokens: dict[str, torch.Tensor], rows: torch.Tensor
    ) -> torch.Tensor:
        """float32 (n,): each image's score for its caption (`rows`: its row of `tokens`)."""
        image = self.vision(pixel_values=pixels.to(self.device, self.dtype)).last_hidden_state
        rows = rows.to(self.device)
        text = (
            self.text(
                input_ids=tokens["input_ids"].to(self.device)[rows],
                attention_mask=tokens["attention_mask"].to(self.device)[rows],
                encoder_hidden_states=image,
                encoder_attention_mask=torch.ones(image.shape[:2], dtype=torch.long, device=self.device),
            )
            .last_hidden_state[:, 0, :]
            .float()
        )
        for weight, bias in self.head:
            text = torch.nn.functional.linear(text, weight, bias)
        return (text[:, 0] - MEAN) / STD


def _vision_model(state: dict[str, torch.Tensor], where: str):
    """BLIP's ViT weights in transformers' BlipVisionModel."""
    from transformers import BlipVisionConfig, BlipVisionModel

    try:
        width = state[_VISION + "cls_token"].shape[-1]
        patch = state[_VISION + "patch_embed.proj.weight"].shape[-1]
        positions = state[_VISION + "pos_embed"].shape[1]
    except KeyError as e:
        raise BadInput(where, f"{CHECKPOINT} has no {e.args[0]}: not ImageReward's state dict") from None
    depth = len({k.split(".")[3] for k in state if k.startswith(_VISION + "blocks.")})
    config = BlipVisionConfig(
        hidden_size=width, intermediate_size=state[_VISION + "blocks.0.mlp.fc1.weight"].shape[0],
        num_hidden_layers=depth, num_attention_heads=width // HEAD_WIDTH, patch_size=patch,
        image_size=round((positions - 1) ** 0.5) * patch, layer_norm_eps=1e-6, hidden_act="gelu",
    )  # fmt: skip
    renamed = {
        "embeddings.class_embedding": "cls_token", "embeddings.position_embedding": "pos_embed",
        "embeddings.patch_embedding.weight": "patch_embed.proj.weight",
        "embeddings.patch_embedding.bias": "patch_embed.proj.bias",
        "post_layernorm.weight": "norm.weight", "post_layernorm.bias": "norm.bias",
    }  # fmt: skip
    parts = {"layer_norm1": "norm1", "layer_norm2": "norm2", "self_attn.qkv": "attn.qkv",
             "self_attn.projection": "attn.proj", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}  # fmt: skip
    for i in range(depth):
        for ours, theirs in parts.items():
            for kind in ("weight", "bias"):
                renamed[f"encoder.layers.{i}.{ours}.{kind}"] = f"blocks.{i}.{theirs}.{kind}"
    model = BlipVisionModel(config)
    _load(model, {ours: state.get(_VISION + theirs) for ours, theirs in renamed.items()}, where)
    return model


def _text_model(state: dict[str, torch.Tensor], med: dict, vision_width: int, where: str):
    """BLIP's BERT (med.py, which transformers' BlipTextModel ports name for name), attending to the ViT."""
    from transformers import BlipTextConfig, BlipTextModel

    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "max_position_embeddings", "layer_norm_eps", "hidden_act", "pad_token_id")  # fmt: skip
    config = BlipTextConfig(
        **{k: med[k] for k in keys if k in med}, encoder_hidden_size=vision_width, is_decoder=True
    )
    model = BlipTextModel(config, add_pooling_layer=False)
    wanted = [k for k in model.state_dict() if not k.endswith("position_ids")]
    _load(model, {k: state.get(_TEXT + k) for k in wanted}, where)
    return model


def _load(model: torch.nn.Module, tensors: dict, where: str) -> None:
    if missing := sorted(k for k, v in tensors.items() if v is None):
        raise BadInput(where, f"{CHECKPOINT} lacks {len(missing)} weights of the model, e.g. {missing[0]}")
    model.load_state_dict(tensors, strict=True)


Scorer = ImageReward
