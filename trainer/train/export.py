"""The trained model as a Hugging Face checkpoint: safetensors weights (frozen ones included, ZeRO-3
partitions gathered, LoRA adapters merged), the config, generation config and processor, so that
`JanusForConditionalGeneration.from_pretrained(out)` loads it and generates images; and
`pixsift_training.json`: the recipe and how its images were fitted (crop or pad), which `pixsift sample`
fits edit sources by."""

from __future__ import annotations

import json
from pathlib import Path

import torch.distributed as dist

from pixsift.engine.io.paths import write_whole
from pixsift.trainer.common.model_folder import TRAINED_WITH
from pixsift.trainer.common.token_store import TokenStore
from pixsift.trainer.train.config import TrainConfig
from pixsift.trainer.train.trainable import add_lora, from_pretrained

MODULE_PREFIX = "janus."  # the engine wraps ImageGenerationModel, which keeps the Janus model as `.janus`


def full_state_dict(engine) -> dict | None:
    """Every weight of the engine's model on rank 0 (None elsewhere); a collective under ZeRO-3."""
    if engine.zero_optimization_partition_weights():
        state = engine._zero3_consolidated_16bit_state_dict()
    else:
        state = engine.module.state_dict() if dist.get_rank() == 0 else None
    if state is None:
        return None
    return {k.removeprefix(MODULE_PREFIX): v for k, v in state.items()}


def export_hf(engine, cfg: TrainConfig, out: Path) -> Path | None:
    """Write the engine's model to `out` (rank 0 writes; all ranks must call)."""
    state = full_state_dict(engine)
    if state is None:
        return None
    dtype = str(next(v.dtype for v in state.values() if v.is_floating_point())).removeprefix("torch.")
    janus = from_pretrained(cfg.model, dtype)
    if cfg.model.trainable == "lora":
        lora = add_lora(janus, cfg.model)
        janus.load_state_dict(state, strict=True)
        janus = lora.merge_and_unload()
    else:
        janus.load_state_dict(state, strict=True)
    janus.save_pretrained(out)
    from transformers import JanusProcessor

    JanusProcessor.from_pretrained(cfg.model.path, local_files_only=True).save_pretrained(out)
    fit = TokenStore.open(cfg.data.tokens).image_fit
    write_whole(out / TRAINED_WITH, json.dumps({"recipe": cfg.recipe, "image_fit": fit}, indent=1) + "\n")
    return out
