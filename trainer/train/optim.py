"""AdamW parameter groups (no weight decay on biases, nor on norm weights unless asked) and the
learning-rate schedule: linear warmup to the peak, then cosine decay to a floor, as a LambdaLR that
DeepSpeed steps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from pixsift.trainer.train.config import OptimConfig, ScheduleConfig


def param_groups(model: nn.Module, weight_decay: float, decay_norms: bool = False) -> list[dict]:
    """The trainable parameters in two groups, decayed and not: biases are never decayed; other vectors
    (norm weights) only with `decay_norms`, as Janus-4o decays everything whose name has no "bias"."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            undecayed = "bias" in name if decay_norms else param.ndim < 2
            (no_decay if undecayed else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def adamw(groups: list[dict], cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW; its fused CUDA kernel (one launch for all parameters) when the parameters are on a GPU."""
    on_gpu = all(p.is_cuda for g in groups for p in g["params"])
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, fused=on_gpu or None)


@dataclass
class WarmupCosine:
    """The lr factor of optimizer step `step` (0-based): (step + 1) / warmup during warmup, then a cosine
    from 1 to `floor` at the last step. A callable object, so LambdaLR's state_dict records it."""

    total_steps: int
    warmup_steps: int
    floor: float

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        decay_steps = max(1, self.total_steps - 1 - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        return self.floor + (1.0 - self.floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def schedule(cfg: ScheduleConfig, total_steps: int) -> WarmupCosine:
    return WarmupCosine(total_steps, round(cfg.warmup_ratio * total_steps), cfg.min_lr_ratio)


def lr_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, total_steps: int):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule(cfg, total_steps))
