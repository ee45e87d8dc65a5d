"""A model folder's config checked against its weights before anything is built: the config must parse as
a JanusConfig, every safetensors file must be whole, and the config must ask for the shapes the weights
hold, so that a hostile or broken folder is one line, not minutes of building or gigabytes allocated."""

from __future__ import annotations

from pathlib import Path

import torch

from pixsift.engine.core.errors import BadInput

# Where the weights hold each stack of layers, and the config key that says how many it has: compared
# before any model is built (a config asking for 30,000 layers is refused at once, not after minutes).
LAYER_STACKS = (
    ("model.language_model.layers.", "text_config", "num_hidden_layers"),
    ("model.vision_model.encoder.layers.", "vision_config", "num_hidden_layers"),
)


def read_janus_config(path: str):
    """The JanusConfig of the folder `path`; a config.json that is not one is one line."""
    from huggingface_hub.errors import StrictDataclassError
    from transformers import JanusConfig

    try:
        return JanusConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, StrictDataclassError) as e:
        raise BadInput(
            f"model {path!r}", f"its config.json is not a Janus config ({first_line(e)})"
        ) from None


def weight_shapes(path: str) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor in the folder's safetensors files, from their headers alone; a
    file that is not whole safetensors (cut short, a header that does not fit the file) is one line."""
    from safetensors import SafetensorError, safe_open

    shapes = {}
    for file in sorted(Path(path).glob("*.safetensors")):
        try:
            with safe_open(file, "pt") as f:
                shapes.update({name: tuple(f.get_slice(name).get_shape()) for name in f.keys()})
        except (SafetensorError, OSError, ValueError) as e:
            raise BadInput(
                f"weights {str(file)!r}", f"are not a whole safetensors file ({first_line(e)})"
            ) from None
    return shapes


def check_shapes(path: str, config, prefix: str = "") -> None:
    """Refuse, before any tensor is allocated, a config that builds other shapes than the folder's weights
    hold: its layer counts, then every tensor of the model (or of its part under `prefix`, "model.vqmodel."
    for the VQ model alone), built on the meta device."""
    from transformers import JanusForConditionalGeneration, JanusVQVAE

    where = f"model {path!r}"
    shapes = weight_shapes(path)
    if not prefix:
        for stack, section, key in LAYER_STACKS:
            held = {name[len(stack) :].split(".", 1)[0] for name in shapes if name.startswith(stack)}
            wanted = getattr(getattr(config, section), key)
            if wanted != len(held):
                raise BadInput(
                    where, f"its config says {section}.{key} = {wanted}, its weights hold {len(held)}"
                )
    with torch.device("meta"):
        model = JanusVQVAE(config.vq_config) if prefix else JanusForConditionalGeneration(config)
    mismatched = [
        f"{prefix}{name} {tuple(tensor.shape)} by the config, {shapes[prefix + name]} in the weights"
        for name, tensor in model.state_dict().items()
        if prefix + name in shapes and tuple(tensor.shape) != shapes[prefix + name]
    ]
    if mismatched:
        raise BadInput(
            where, f"its config and weights differ in {len(mismatched)} shapes: {first_names(mismatched, 2)}"
        )


def first_line(error: Exception) -> str:
    """An exception's first line, at most 200 characters, for a one-line error."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:200]


def first_names(names: list, n: int = 3) -> str:
    """The first `n` of `names` for a one-line error, with "..." when there are more."""
    return ", ".join(str(name) for name in names[:n]) + (", ..." if len(names) > n else "")
