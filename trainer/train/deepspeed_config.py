"""The DeepSpeed config of a run: trainer/train/configs/zero2.json (ZeRO-1 and 2, which differ only in the
stage) or zero3.json, with its "auto" values filled from the train config (stage, batch sizes,
accumulation, clipping, bf16, optimizer offload)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pixsift.trainer.train.config import TrainConfig


def deepspeed_config(cfg: TrainConfig, world_size: int) -> dict[str, Any]:
    path = Path(__file__).with_name("configs") / f"zero{max(2, cfg.parallel.zero_stage)}.json"
    parallel = cfg.parallel
    values = {
        "stage": parallel.zero_stage,
        "train_batch_size": parallel.global_batch,
        "train_micro_batch_size_per_gpu": parallel.micro_batch,
        "gradient_accumulation_steps": parallel.accumulation_steps(world_size),
        "gradient_clipping": cfg.optim.grad_clip,
        "enabled": parallel.bf16,
        "offload_optimizer": {"device": "cpu", "pin_memory": True}
        if parallel.offload_optimizer
        else {"device": "none"},
    }
    return _fill(json.loads(path.read_text()), values, path.name)


def _fill(table: dict[str, Any], values: dict[str, Any], where: str) -> dict[str, Any]:
    filled = {}
    for key, value in table.items():
        if isinstance(value, dict):
            value = _fill(value, values, where)
        elif value == "auto":
            if key not in values:
                raise ValueError(f"{where}: no value for the 'auto' setting {key!r}")
            value = values[key]
        filled[key] = value
    return filled
