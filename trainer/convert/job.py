"""`pixsift convert-janus SRC DST`: a Janus / Janus-Pro folder in DeepSeek's original format (model_type
multi_modality: `deepseek-ai/Janus-Pro-7B`, `Janus-Pro-1B`, `Janus-1.3B`) into transformers' Janus format,
offline.

The weight names follow transformers' own conversion (`convert_janus_weights_to_hf.py`, which lives in the
transformers source tree only, not in its wheel or sdist): the fused SigLIP `qkv` split into q, k and v, the
position embedding without its batch axis, the SigLIP attention-pooling head and the VQ model's usage counter
dropped. Sizes come from the weights themselves; the one thing they do not say, the SigLIP tower's head count,
comes from the tower's name as DeepSeek's code defines it. Shards are read as plain tensors (safetensors, or
`torch.load(weights_only=True)`), never as pickled code. The result is written beside DST and renamed into
place once complete, and is checked by a strict load before it is: a folder either converts whole or not at
all.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from pixsift.engine.core.errors import BadInput, NotFound
from pixsift.engine.io.ownership import claim, refuse_overlap, remove
from pixsift.trainer.common.model_checks import first_line, first_names
from pixsift.trainer.common.model_folder import ORIGINAL_FORMAT, janus_generation_config, load_janus_model
from pixsift.trainer.common.prompt_format import CHAT_TEMPLATE, IMAGE, TOKENIZER_ATTRIBUTES

OUTPUT_KIND = "converted model"  # engine.io.ownership

# DeepSeek's SigLIP towers (janus/models/siglip_vit.py) by the name config.json gives: their head counts.
SIGLIP_HEADS = {
    "siglip_large_patch16_384": 16,
    "siglip_so400m_patch14_384": 16,
    "siglip_so400m_patch14_224": 16,
}
# preprocessor_config.json keys that mean the same in JanusImageProcessor.
PROCESSOR_KEYS = ("do_normalize", "image_mean", "image_std", "min_size", "rescale_factor")

_TOWER = r"vision_model\.vision_tower\."
_LAYER = r"model.vision_model.encoder.layers.\1."
_VQ_STAGES = {"encoder": "down", "decoder": "up"}
_VQ_MID = {"0": "block_1", "1": "attn_1", "2": "block_2"}


def _aligner(prefix: str) -> Callable[[re.Match], str]:
    """MlpProjector's Sequential (Linear, GELU, Linear, ...) as transformers' fc1 + hidden_layers."""
    return lambda m: (
        f"{prefix}.fc1.{m[2]}" if m[1] == "0" else f"{prefix}.hidden_layers.{int(m[1]) // 2 - 1}.{m[2]}"
    )


# Each original weight name to its transformers name (None: not used by transformers' model); the first
# pattern that matches the whole name decides.
RENAMES: list[tuple[str, str | Callable[[re.Match], str] | None]] = [
    (_TOWER + r"attn_pool\..+", None),
    (_TOWER + r"pos_embed", "model.vision_model.embeddings.position_embedding.weight"),
    (_TOWER + r"patch_embed\.proj\.(weight|bias)", r"model.vision_model.embeddings.patch_embedding.\1"),
    (_TOWER + r"norm\.(weight|bias)", r"model.vision_model.post_layernorm.\1"),
    (_TOWER + r"blocks\.(\d+)\.norm([12])\.(weight|bias)", _LAYER + r"layer_norm\2.\3"),
    (_TOWER + r"blocks\.(\d+)\.attn\.qkv\.(weight|bias)", _LAYER + r"self_attn.qkv.\2"),
    (_TOWER + r"blocks\.(\d+)\.attn\.proj\.(weight|bias)", _LAYER + r"self_attn.projection_layer.\2"),
    (_TOWER + r"blocks\.(\d+)\.mlp\.(fc[12])\.(weight|bias)", _LAYER + r"mlp.\2.\3"),
    (r"aligner\.layers\.(\d+)\.(weight|bias)", _aligner("model.aligner")),
    (r"gen_aligner\.layers\.(\d+)\.(weight|bias)", _aligner("model.generation_aligner")),
    (r"gen_head\.output_mlp_projector\.(weight|bias)", r"model.generation_head.proj_out.\1"),
    (r"gen_head\.vision_head\.(weight|bias)", r"model.generation_head.vision_head.\1"),
    (r"gen_embed\.weight", "model.generation_embeddings.weight"),
    (r"language_model\.model\.(.+)", r"model.language_model.\1"),
    (r"language_model\.lm_head\.weight", "lm_head.weight"),
    (r"gen_vision_model\.quantize\.codebook_used", None),
    (
        r"gen_vision_model\.(encoder|decoder)\.conv_blocks\.(\d+)\.res\.(.+)",
        lambda m: f"model.vqmodel.{m[1]}.{_VQ_STAGES[m[1]]}.{m[2]}.block.{m[3]}",
    ),
    (
        r"gen_vision_model\.(encoder|decoder)\.conv_blocks\.(\d+)\.(.+)",
        lambda m: f"model.vqmodel.{m[1]}.{_VQ_STAGES[m[1]]}.{m[2]}.{m[3]}",
    ),
    (
        r"gen_vision_model\.(encoder|decoder)\.mid\.([012])\.(.+)",
        lambda m: f"model.vqmodel.{m[1]}.mid.{_VQ_MID[m[2]]}.{m[3]}",
    ),
    (r"gen_vision_model\.(.+)", r"model.vqmodel.\1"),
]
_COMPILED = [(re.compile(pattern), target) for pattern, target in RENAMES]


def transformers_name(original: str) -> str | None:
    """The transformers name of an original weight; None for one transformers' model has no use for.
    KeyError for a name no Janus part has."""
    for pattern, target in _COMPILED:
        if match := pattern.fullmatch(original):
            if target is None:
                return None
            return match.expand(target) if isinstance(target, str) else target(match)
    raise KeyError(original)


def transformers_weights(original: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The original state dict under transformers' names (qkv split, the position embedding's batch axis
    removed, unused weights dropped; a name of no known part kept as it is, for the load to refuse), and
    each new name's original name."""
    weights, origin = {}, {}
    for key, tensor in original.items():
        try:
            name = transformers_name(key)
        except KeyError:
            name = key
        if name is None:
            continue
        if ".self_attn.qkv." in name:
            parts = {
                name.replace(".qkv.", f".{part}."): chunk.clone()
                for part, chunk in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0), strict=True)
            }
        else:
            parts = {name: tensor.squeeze(0) if name.endswith("position_embedding.weight") else tensor}
        weights.update(parts)
        origin.update(dict.fromkeys(parts, key))
    return weights, origin


def read_original(src: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """config.json and every weight of an original-format folder, as plain tensors."""
    where = f"model {str(src)!r}"
    try:
        config = json.loads((src / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise NotFound(where, f"has no readable config.json ({e})") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type == "janus":
        raise BadInput(where, "is in transformers' Janus format already", "use it as it is")
    if model_type != ORIGINAL_FORMAT:
        raise BadInput(
            where, f"is a {model_type!r} checkpoint, not an original-format Janus ({ORIGINAL_FORMAT})"
        )
    state: dict[str, torch.Tensor] = {}
    for shard in _shards(src, where):
        print(f"convert-janus: reading {shard.name}", file=sys.stderr)
        state.update(_read_shard(shard))
    return config, state


def _shards(src: Path, where: str) -> list[Path]:
    for index_name, pattern in (
        ("model.safetensors.index.json", "*.safetensors"),
        ("pytorch_model.bin.index.json", "pytorch_model*.bin"),
    ):
        index = src / index_name
        if index.is_file():
            try:
                files = [
                    src / str(name)
                    for name in sorted(set(json.loads(index.read_text())["weight_map"].values()))
                ]
            except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
                raise BadInput(
                    f"index {str(index)!r}", "is not a JSON weight index (a weight_map table)"
                ) from None
            if missing := [f.name for f in files if not f.is_file()]:
                raise NotFound(where, f"lacks shards its {index_name} names: {first_names(missing)}")
            return files
        if files := sorted(src.glob(pattern)):
            return files
    raise NotFound(where, "has no weights (*.safetensors or pytorch_model*.bin)")


def _read_shard(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(path)
        except (SafetensorError, OSError, ValueError) as e:
            raise BadInput(
                f"weights {str(path)!r}", f"are not a whole safetensors file ({first_line(e)})"
            ) from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 - any refusal of the unpickler, named with its file
        raise BadInput(f"weights {str(path)!r}", f"are not plain tensors ({_unpickler_refusal(e)})") from None


def _unpickler_refusal(error: Exception) -> str:
    """What torch's unpickler refused, without its advice to load with weights_only=False (which would run
    whatever code the file holds)."""
    if found := re.search(r"WeightsUnpickler error: (.+?)(?:\. Please use|\n|$)", str(error)):
        return found[1][:200]
    return first_line(error)


def janus_config(original: dict, weights: dict[str, torch.Tensor], tokenizer, where: str):
    """transformers' JanusConfig for the converted weights: the language model as config.json gives it,
    the vision tower, aligners and VQ model sized by their weights."""
    from huggingface_hub.errors import StrictDataclassError
    from transformers import JanusConfig, JanusVisionConfig, JanusVQVAEConfig, LlamaConfig

    def shape(name: str) -> torch.Size:
        if name not in weights:
            raise BadInput(where, f"lacks {name}, which the converted model's sizes are read from")
        return weights[name].shape

    def count(pattern: str) -> int:
        return len({m[1] for key in weights if (m := re.fullmatch(pattern, key))})

    tower = _table(_table(original, "vision_config", where), "params", where, "vision_config.params")
    if (heads := SIGLIP_HEADS.get(tower.get("model_name"))) is None:
        raise BadInput(
            where,
            f"has vision tower {tower.get('model_name')!r}, not one of DeepSeek's SigLIP towers "
            f"({', '.join(SIGLIP_HEADS)})",
        )
    patch = shape("model.vision_model.embeddings.patch_embedding.weight")
    hidden, image_size = patch[0], int(tower.get("image_size", 384))
    vision = JanusVisionConfig(
        hidden_size=hidden,
        num_channels=patch[1],
        patch_size=patch[2],
        image_size=image_size,
        num_hidden_layers=count(r"model\.vision_model\.encoder\.layers\.(\d+)\..+"),
        num_attention_heads=heads,
        mlp_ratio=shape("model.vision_model.encoder.layers.0.mlp.fc1.weight")[0] / hidden,
        projection_dim=shape("model.aligner.fc1.weight")[0],
        depth=1 + count(r"model\.aligner\.hidden_layers\.(\d+)\..+"),
        num_image_tokens=(image_size // patch[2]) ** 2,
    )
    base = shape("model.vqmodel.encoder.conv_in.weight")[0]
    levels = count(r"model\.vqmodel\.encoder\.down\.(\d+)\..+")
    codebook = shape("model.vqmodel.quantize.embedding.weight")
    vq = JanusVQVAEConfig(
        embed_dim=codebook[1],
        num_embeddings=codebook[0],
        in_channels=shape("model.vqmodel.encoder.conv_in.weight")[1],
        out_channels=shape("model.vqmodel.decoder.conv_out.weight")[0],
        base_channels=base,
        latent_channels=shape("model.vqmodel.encoder.conv_out.weight")[0],
        channel_multiplier=[
            shape(f"model.vqmodel.encoder.down.{level}.block.0.conv1.weight")[0] // base
            for level in range(levels)
        ],
        num_res_blocks=count(r"model\.vqmodel\.encoder\.down\.0\.block\.(\d+)\..+"),
        projection_dim=shape("model.generation_aligner.fc1.weight")[0],
        num_hidden_layers=1 + count(r"model\.generation_aligner\.hidden_layers\.(\d+)\..+"),
        image_token_embed_dim=shape("model.generation_head.proj_out.weight")[0],
    )
    language = {
        k: v
        for k, v in _table(original, "language_config", where).items()
        if k not in ("model_type", "torch_dtype")
    }
    try:
        text = LlamaConfig(
            **language,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    except (TypeError, ValueError, StrictDataclassError) as e:
        raise BadInput(
            where, f"config.json language_config is not a Llama config ({first_line(e)})"
        ) from None
    layers = count(r"model\.language_model\.layers\.(\d+)\..+")
    if text.num_hidden_layers != layers:
        raise BadInput(
            where,
            f"config.json language_config.num_hidden_layers = {text.num_hidden_layers}, its weights "
            f"hold {layers}",
        )
    return JanusConfig(
        text_config=text,
        vision_config=vision,
        vq_config=vq,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE),
    )


def _table(config: dict, key: str, where: str, name: str = "") -> dict:
    """config[key] when it is a table (absent: an empty one); one line naming it otherwise."""
    value = config.get(key, {})
    if not isinstance(value, dict):
        raise BadInput(where, f"config.json {name or key} must be a table, got {type(value).__name__}")
    return value


def original_tokenizer(src: Path):
    """The folder's tokenizer.json with its pipeline kept as it is, its special tokens, and the
    attributes transformers' JanusProcessor reads."""
    from transformers import PreTrainedTokenizerFast

    if not (src / "tokenizer.json").is_file():
        raise NotFound(f"model {str(src)!r}", "has no tokenizer.json")
    settings = {}
    for name in ("special_tokens_map.json", "tokenizer_config.json"):
        settings.update(_json_or_empty(src / name))
    special = {
        key: value["content"] if isinstance(value, dict) else value
        for key, value in settings.items()
        if key in ("bos_token", "eos_token", "pad_token", "unk_token") and value
    }
    if bad := sorted(key for key, value in special.items() if not isinstance(value, str)):
        raise BadInput(
            f"model {str(src)!r}", f"its tokenizer settings give {', '.join(bad)} as no token text"
        )
    return PreTrainedTokenizerFast(
        tokenizer_file=str(src / "tokenizer.json"),
        model_max_length=settings.get("model_max_length", 16384),
        extra_special_tokens=TOKENIZER_ATTRIBUTES,
        **special,
    )


def original_image_processor(src: Path):
    """JanusImageProcessor with the settings of the folder's preprocessor_config.json."""
    from transformers import JanusImageProcessor

    image = _json_or_empty(src / "preprocessor_config.json")
    options = {key: image[key] for key in PROCESSOR_KEYS if key in image}
    if "image_size" in image:
        options["size"] = {"height": image["image_size"], "width": image["image_size"]}
    return JanusImageProcessor(**options)


def _json_or_empty(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def convert_janus(src: str, dst: str) -> Path:
    """Convert the original-format folder `src` into a new transformers-format folder `dst`."""
    from transformers import JanusForConditionalGeneration, JanusProcessor

    source, target = Path(src), Path(dst)
    partial = target.with_name(target.name + ".partial")
    for path in (target, partial):
        refuse_overlap(str(path), src, "the source model")
    if target.exists():
        raise BadInput(f"output {dst!r}", "exists already", "name a new folder")
    remove(str(partial), OUTPUT_KIND)  # a killed conversion's, never anything else
    where = f"model {src!r}"
    original, state = read_original(source)
    weights, origin = transformers_weights(state)
    tokenizer = original_tokenizer(source)
    config = janus_config(original, weights, tokenizer, where)
    with torch.device("meta"):
        model = JanusForConditionalGeneration(config)
    try:
        loaded = model.load_state_dict(weights, strict=False, assign=True)
    except RuntimeError as e:
        mismatched = re.findall(r"size mismatch for ([\w.]+)", str(e))
        raise BadInput(
            where, f"has weights of other shapes than they imply: {first_names(mismatched)}"
        ) from None
    if unexpected := sorted(origin[name] for name in loaded.unexpected_keys):
        raise BadInput(where, f"has {len(unexpected)} weights of no Janus part: {first_names(unexpected)}")
    if loaded.missing_keys:
        raise BadInput(where, f"lacks {len(loaded.missing_keys)} weights: {first_names(loaded.missing_keys)}")
    model.generation_config = janus_generation_config(tokenizer)
    processor = JanusProcessor(
        image_processor=original_image_processor(source),
        tokenizer=tokenizer,
        num_image_tokens=config.vision_config.num_image_tokens,
        chat_template=CHAT_TEMPLATE,
        use_default_system_prompt=True,
    )
    claim(str(partial), OUTPUT_KIND, {"source": str(source.resolve())})
    print(f"convert-janus: writing {partial}", file=sys.stderr)
    model.save_pretrained(partial)
    processor.save_pretrained(partial)
    del model, weights, state
    load_janus_model(str(partial))
    partial.rename(target)
    print(f"convert-janus: {target} (transformers' Janus format)", file=sys.stderr)
    return target
