"""Janus-Pro checkpoints load from local folders only (nothing downloads): a path that is not one is
refused up front, naming it, instead of being taken for a hub repository id. A folder's fingerprint
(its tokenizer files and VQ weights) is what a token store's codes depend on: a token store records
it, and training refuses a token store made with another."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from pixsift.engine.core.errors import BadInput, NotFound
from pixsift.trainer.common.model_checks import check_shapes, first_names, read_janus_config

ORIGINAL_FORMAT = "multi_modality"  # the model_type of DeepSeek's own Janus and Janus-Pro releases
TRAINED_WITH = "pixsift_training.json"  # written beside a model pixsift trained: its recipe, its data's fit


def require_model_folder(path: str) -> str:
    """`path` when it is a folder with a transformers Janus config (model_type "janus") and safetensors
    weights; a one-line error naming what it is otherwise (DeepSeek's original format included)."""
    folder = Path(path)
    where = f"model {path!r}"
    try:
        model_type = json.loads((folder / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
        model_type = None
    if model_type == ORIGINAL_FORMAT:
        raise BadInput(
            where,
            f"is in DeepSeek's original Janus format (model_type {ORIGINAL_FORMAT}), not transformers'",
            f"convert it first: pixsift convert-janus {path} NEW_FOLDER",
        )
    if model_type is not None and model_type != "janus":
        raise BadInput(where, f"is a {model_type!r} checkpoint, not Janus-Pro (model_type janus)")
    if model_type is None or not any(folder.glob("*.safetensors")):
        raise NotFound(
            where,
            "is not a local Janus-Pro checkpoint folder (config.json and *.safetensors, transformers format)",
            "models load from local folders only",
        )
    return path


def janus_generation_config(tokenizer):
    """What JanusForConditionalGeneration.generate needs for images: BOS and pad (the unconditional
    branch of CFG blanks the prompt to pad) and the id of <begin_of_image>."""
    from transformers import GenerationConfig

    return GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        generation_kwargs={"boi_token_id": tokenizer.convert_tokens_to_ids(tokenizer.boi_token)},
        guidance_scale=5.0,
        do_sample=True,
    )


def load_janus_model(path: str, **kwargs):
    """The JanusForConditionalGeneration in `path`, refusing a load that leaves weights missing, unused or
    of another shape (a model built at random around a few loaded tensors is never trained or sampled)."""
    from transformers import JanusForConditionalGeneration

    require_model_folder(path)
    check_shapes(path, read_janus_config(path))
    model, info = JanusForConditionalGeneration.from_pretrained(
        path, local_files_only=True, output_loading_info=True, **kwargs
    )
    problems = [
        f"{len(keys)} {kind.replace('_', ' ')} ({first_names(sorted(keys, key=str))})"
        for kind in ("missing_keys", "unexpected_keys", "mismatched_keys")
        if (keys := info.get(kind))
    ]
    if problems:
        raise BadInput(f"model {path!r}", "its weights do not fit its config: " + "; ".join(problems))
    return model


def model_info(model_dir: str) -> dict:
    """What the stored values depend on in the checkpoint: its sizes, and a fingerprint of its tokenizer
    files and VQ weights."""
    from pixsift.trainer.common.vq import VQ_PREFIX, vq_state

    config = read_janus_config(model_dir)
    check_shapes(model_dir, config, VQ_PREFIX)
    digest = hashlib.blake2b(digest_size=16)
    for file in sorted(Path(model_dir).glob("tokenizer*")):
        digest.update(file.name.encode() + file.read_bytes())
    for name, tensor in sorted(vq_state(model_dir).items()):
        digest.update(name.encode() + tensor.contiguous().view(torch.uint8).numpy().tobytes())
    return {
        "path": str(Path(model_dir).resolve()),
        "n_image_tokens": config.vision_config.num_image_tokens,
        "image_size": config.vision_config.image_size,
        "codebook_size": config.vq_config.num_embeddings,
        "fingerprint": digest.hexdigest(),
    }


def check_same_model(tokens_url: str, stored: dict, model_dir: str) -> None:
    """Refuse a token store whose codes and prompts came from another model than `model_dir`."""
    here = model_info(model_dir)
    if stored.get("fingerprint") != here["fingerprint"]:
        raise BadInput(
            f"token store {tokens_url}",
            f"was tokenized with the model {stored.get('path', '?')} (fingerprint "
            f"{stored.get('fingerprint', 'none')}), not the one training starts from, {here['path']} "
            f"(fingerprint {here['fingerprint']}): their VQ codes or tokens differ",
            "tokenize the selection again with --model " + model_dir,
        )


def trained_fit(model_dir: str, fit: str) -> str:
    """`fit`, or for `auto` the fit of the token store pixsift trained the model on, else `pad` (as
    Janus-Pro's processor prepares images)."""
    if fit != "auto":
        return fit
    try:
        record = json.loads((Path(model_dir) / TRAINED_WITH).read_text())
    except (OSError, ValueError):
        return "pad"
    return record.get("image_fit") or "pad"
