"""CLIP embeddings with open_clip: image and text towers, batched, bf16 autocast on CUDA.

    embedder = ClipEmbedder("ViT-L-14", pretrained="datacomp_xl_s13b_b90k", device="cuda")
    pixels = engine.score.preprocess.clip_batch(images, embedder.preprocess)
    image_emb, text_emb = embedder.encode_images(pixels), embedder.encode_texts(captions)

    tokens, rows = embedder.tokenize(captions)        # on a CPU thread: each distinct caption once
    text_emb = embedder.encode_tokens(tokens)[rows]    # on the device

Weights come from exactly one of:
- `pretrained` = a tag of open_clip's registry, resolved in the Hugging Face cache only: nothing is
  downloaded unless HF_HUB_OFFLINE is set to 0/false (pixsift reads it as on when unset);
- `pretrained` = a checkpoint file: safetensors, or open_clip's own .pt/.pth/.bin, which open_clip
  loads with torch.load(weights_only=True), so no pickled code runs;
- `random_init=True`: open_clip's initialisation under torch.manual_seed(seed), for benchmarks and tests.
`config_file` registers a model config JSON (open_clip's format: embed_dim, vision_cfg, text_cfg,
optionally preprocess_cfg) under its file stem, which is then the model name.

Outputs are float32 N x D and not normalized. Captions are tokenized with the model's own tokenizer
(open_clip.get_tokenizer), which cuts a caption longer than the context (77 tokens for most models)
and keeps the end-of-text token: only the caption's start is embedded. `text_prefix` is put before
every caption ("A photo depicts " is Hessel et al.'s CLIPScore prompt). Each distinct caption of a call
is encoded once, at the length of the longest one where the text tower allows it
(engine.score.text_tower).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import nvtx
import open_clip
import torch

from pixsift.engine.core.errors import BadInput, NotFound
from pixsift.engine.score.config import one_weights_source
from pixsift.engine.score.preprocess import ClipPreprocess
from pixsift.engine.score.text_tower import TextTower

HUB_ERRORS_TO_REPORT = (OSError, ValueError)  # huggingface_hub's not-found and HTTP errors subclass these


class ClipEmbedder:
    def __init__(
        self,
        model_name: str | None = None,
        *,
        pretrained: str | os.PathLike | None = None,
        random_init: bool = False,
        config_file: str | os.PathLike | None = None,
        device: torch.device | str = "cpu",
        image_batch_size: int = 256,
        text_batch_size: int = 1024,
        seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        text_prefix: str = "",
    ):
        preprocess_cfg = {}
        if config_file is not None:
            model_name, preprocess_cfg = _register_config(Path(config_file), model_name)
        if not model_name:
            raise BadInput("CLIP model", "give a model name (for example 'ViT-B-32') or a config file")
        if open_clip.get_model_config(model_name) is None:
            raise BadInput(
                f"CLIP model {model_name!r}",
                "no open_clip model config of that name",
                "give a custom one as a config file (--clip-config); open_clip.list_models() lists the "
                "built-in names",
            )
        if not one_weights_source(pretrained, random_init):
            raise BadInput(
                f"CLIP model {model_name}",
                "give exactly one of pretrained= (an open_clip tag or a checkpoint file) and "
                "random_init=True",
            )
        self.model_name = model_name
        self.device = torch.device(device)
        self.image_batch_size, self.text_batch_size = image_batch_size, text_batch_size
        self.weights = "random" if random_init else str(pretrained)
        checkpoint = None
        if pretrained is not None:
            checkpoint, tag_preprocess = _checkpoint(model_name, str(pretrained), cache_dir)
            preprocess_cfg.update(tag_preprocess)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = open_clip.create_model(
                model_name,
                pretrained=checkpoint,
                device=self.device,
                force_preprocess_cfg=preprocess_cfg,
            )
        self.model = model.eval().requires_grad_(False)
        self.preprocess = ClipPreprocess.from_open_clip(open_clip.get_model_preprocess_cfg(self.model))
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.text_prefix = text_prefix
        self.text_tower = TextTower(self.model)
        self.dim = int(open_clip.get_model_config(model_name)["embed_dim"])  # both towers project to it

    @nvtx.annotate("embed:image")
    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """float32 N x dim from a clip_batch (N x 3 x H x W, the model's input size)."""
        expected = (3, *self.preprocess.size)
        if pixels.dim() != 4 or tuple(pixels.shape[1:]) != expected:
            raise ValueError(
                f"ClipEmbedder.encode_images: {self.model_name} takes N x {' x '.join(map(str, expected))} "
                f"pixels, got shape {tuple(pixels.shape)}"
            )
        return self._batched(self.model.encode_image, pixels.to(self.device), self.image_batch_size)

    def encode_texts(self, captions: list[str]) -> torch.Tensor:
        """float32 N x dim; captions past the context length are cut (see the module docstring)."""
        tokens, rows = self.tokenize(captions)
        return self.encode_tokens(tokens)[rows.to(self.device)]

    def tokenize(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens, rows): the distinct captions' tokens (CPU int64, D x length) and for each caption the
        row of its tokens (int64, N). CPU work, for a thread ahead of the device."""
        position = {caption: i for i, caption in enumerate(dict.fromkeys(captions))}
        rows = torch.tensor([position[c] for c in captions], dtype=torch.int64)
        tokens = self.tokenizer([self.text_prefix + c for c in position])
        return self.text_tower.trim(tokens), rows

    @nvtx.annotate("embed:text")
    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """float32 D x dim of tokenize's tokens."""
        tokens = tokens.to(self.device, non_blocking=True)
        return self._batched(self.text_tower.encode, tokens, self.text_batch_size)

    def describe(self) -> dict:
        """What produced the embeddings, for the run store's attributes."""
        return {
            "model": self.model_name,
            "pretrained": self.weights,
            "open_clip_version": open_clip.__version__,
            "image_dim": self.dim,
            "text_dim": self.dim,
            "context_length": int(self.tokenizer.context_length),
            "preprocess": asdict(self.preprocess),
            "autocast": "bfloat16" if self.device.type == "cuda" else "none (float32)",
        }

    def _batched(self, encode, inputs: torch.Tensor, batch_size: int) -> torch.Tensor:
        outputs = []
        with (
            torch.inference_mode(),
            torch.autocast("cuda", torch.bfloat16, enabled=self.device.type == "cuda"),
        ):
            for start in range(0, inputs.shape[0], batch_size):
                outputs.append(encode(inputs[start : start + batch_size]).float())
        return torch.cat(outputs)


def _register_config(path: Path, model_name: str | None) -> tuple[str, dict]:
    """Registers the config with open_clip; returns its model name and its preprocess_cfg, if any."""
    config = _read_config(path)
    if not all(key in config for key in ("embed_dim", "vision_cfg", "text_cfg")):
        raise BadInput(str(path), "not an open_clip model config (needs embed_dim, vision_cfg, text_cfg)")
    if model_name not in (None, path.stem):
        raise BadInput(
            str(path),
            f"open_clip names a config file's model after the file, {path.stem!r}, not {model_name!r}",
            "leave out the model name",
        )
    open_clip.add_model_config(path)
    return path.stem, config.get("preprocess_cfg", {})


def _read_config(path: Path) -> dict:
    if path.suffix != ".json":
        raise BadInput(str(path), "a CLIP model config must be a .json file")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInput(str(path), f"cannot read the CLIP model config ({exc})") from exc


def _checkpoint(model_name: str, pretrained: str, cache_dir) -> tuple[str, dict]:
    """(file, preprocess overrides) for a checkpoint path or an open_clip pretrained tag."""
    if os.path.isfile(pretrained):
        return pretrained, {}
    tag = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not tag:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model_name)) or "none"
        raise NotFound(
            f"CLIP weights {pretrained!r}",
            f"neither a file nor a pretrained tag of {model_name} (its tags: {tags})",
        )
    overrides = {key: tag[key] for key in ("mean", "std", "interpolation", "resize_mode") if key in tag}
    if tag.get("file"):
        return tag["file"], overrides
    if not tag.get("hf_hub"):
        raise NotFound(
            f"CLIP weights {model_name}/{pretrained}",
            f"published only at {tag.get('url')}",
            "download the file and give its path as the pretrained weights",
        )
    return _hub_file(model_name, pretrained, tag["hf_hub"], cache_dir), overrides


def _hub_file(model_name: str, tag: str, hub: str, cache_dir) -> str:
    from huggingface_hub import hf_hub_download
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    repo, filename = os.path.split(hub)  # "org/repo/" names the repository's default weights file
    if not filename:
        candidates = [HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME]
    elif filename.endswith((".bin", ".pth")):
        candidates = [filename[:-4] + ".safetensors", filename]
    else:
        candidates = [filename]
    offline = _hub_offline()
    errors = []
    for name in candidates:
        try:
            return hf_hub_download(repo, name, cache_dir=cache_dir, local_files_only=offline)
        except HUB_ERRORS_TO_REPORT as exc:
            errors.append(f"{name}: {type(exc).__name__}")
    fill = f"fill the cache with `hf download {repo} {candidates[0]}`"
    hint = f"{fill} (or set HF_HUB_OFFLINE=0 to let pixsift download it), or " if offline else ""
    raise NotFound(
        f"CLIP weights {model_name}/{tag}",
        f"({repo}, tried {'; '.join(errors)}) not available{' in the Hugging Face cache' if offline else ''}",
        f"{hint}give a local file as the pretrained weights",
    )


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "1").strip().lower() not in ("0", "false", "no", "off")
