"""An extra scorer that is a stack of Linear layers on one CLIP embedding, loaded from a safetensors file
or from a PyTorch state dict (LAION's aesthetic predictor is published as one)."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open

from pixsift.engine.core.errors import BadInput, NotFound


class MlpScorer:
    """A Linear stack on one embedding, loaded from a safetensors file.

    Tensors: "layers.{i}.weight" (out x in) and "layers.{i}.bias" (out), applied in increasing i
    (gaps allowed, so a torch nn.Sequential's state dict with Dropout slots between its Linear layers
    loads as saved); the last layer has one output. Metadata (all optional):
        input        "image" (default) or "text": the embedding it reads
        normalize    "true" (default) or "false": L2-normalize that embedding first
        activation   "relu" (default) or "none": between layers, never after the last
    A `.pth` or `.pt` file is a PyTorch state dict of the same tensor names, read with
    `weights_only=True` (no code in it runs), in the layout of LAION's improved aesthetic predictor
    (github.com/christophschuhmann/improved-aesthetic-predictor, the file LAION, DataComp and NeMo Curator
    use: Linear 768-1024-128-64-16-1 with Dropouts between, no activation, on L2-normalized ViT-L-14
    image embeddings): input "image", normalize "true", activation "none".
    """

    def __init__(self, path: str | Path, name: str | None = None, device: torch.device | str = "cpu"):
        path = Path(path)
        self.name = name or path.stem
        device = torch.device(device)
        if not path.is_file():
            raise NotFound(str(path), "no such scorer file")
        if path.suffix in STATE_DICT_SUFFIXES:
            tensors, metadata = state_dict_of(path, device), LAION_AESTHETIC
        else:
            tensors, metadata = _safetensors(path, device)
        self.input = _choice(path, metadata, "input", ("image", "text"))
        self.normalize = _choice(path, metadata, "normalize", ("true", "false")) == "true"
        self.relu = _choice(path, metadata, "activation", ("relu", "none")) == "relu"
        self.layers = linear_stack(path, tensors)

    @property
    def in_features(self) -> int:
        return self.layers[0][0].shape[1]

    def __call__(self, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        x = (image_emb if self.input == "image" else text_emb).float()
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"MlpScorer {self.name!r}: takes N x {self.in_features} {self.input} embeddings, "
                f"got shape {tuple(x.shape)}"
            )
        if self.normalize:
            x = F.normalize(x, dim=1)
        for i, (weight, bias) in enumerate(self.layers):
            x = F.linear(x, weight, bias)
            if self.relu and i < len(self.layers) - 1:
                x = F.relu(x)
        return x[:, 0]


STATE_DICT_SUFFIXES = (".pth", ".pt")
SUFFIXES = (".safetensors", *STATE_DICT_SUFFIXES)  # what engine.score.scorers loads with this kind
LAION_AESTHETIC = {"input": "image", "normalize": "true", "activation": "none"}


def _safetensors(path: Path, device: torch.device) -> tuple[dict[str, torch.Tensor], dict]:
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as f:
            return {key: f.get_tensor(key) for key in f.keys()}, f.metadata() or {}
    except (OSError, SafetensorError) as e:
        raise BadInput(str(path), f"not a safetensors file ({e})") from None


def state_dict_of(path: Path, device: torch.device) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise BadInput(str(path), f"not a PyTorch state dict of tensors ({reason})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInput(str(path), "not a PyTorch state dict of tensors (a mapping of names to tensors)")
    return state


def _choice(path: Path, metadata: dict, key: str, choices: tuple[str, ...]) -> str:
    value = metadata.get(key, choices[0])
    if value not in choices:
        raise BadInput(str(path), f"metadata {key!r} must be one of {choices}, got {value!r}")
    return value


def linear_stack(path: Path, tensors: dict[str, torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    indices = set()
    for key in tensors:
        prefix, _, rest = key.partition(".")
        index, _, kind = rest.partition(".")
        if prefix != "layers" or not index.isdigit() or kind not in ("weight", "bias"):
            raise BadInput(str(path), f"unexpected tensor {key!r} (expected layers.<i>.weight / .bias)")
        indices.add(int(index))
    if not indices:
        raise BadInput(str(path), "no layers.<i>.weight tensors")
    layers = []
    for i in sorted(indices):
        weight, bias = tensors.get(f"layers.{i}.weight"), tensors.get(f"layers.{i}.bias")
        if weight is None or bias is None or weight.dim() != 2 or bias.shape != weight.shape[:1]:
            raise BadInput(str(path), f"layer {i} needs a 2-D weight and a bias of its output size")
        if layers and weight.shape[1] != layers[-1][0].shape[0]:
            raise BadInput(
                str(path),
                f"layer {i} takes {weight.shape[1]} inputs but the layer before gives "
                f"{layers[-1][0].shape[0]}",
            )
        layers.append((weight.float(), bias.float()))
    if layers[-1][0].shape[0] != 1:
        raise BadInput(str(path), f"the last layer must have 1 output, has {layers[-1][0].shape[0]}")
    return layers


Scorer = MlpScorer
