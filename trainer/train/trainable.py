"""Janus-Pro loaded for training: the weights' dtype and attention kernel, which parameters train (everything,
the language model side of image generation, or LoRA adapters), and gradient checkpointing."""

from __future__ import annotations

import torch

from pixsift.kernels.optional import require
from pixsift.trainer.common.model_folder import load_janus_model
from pixsift.trainer.train.config import ModelConfig

# What `trainable = "lm"` trains: the language model (its token embeddings included) and the image
# generation path around it. SigLIP, its aligner, the VQ model and the text head stay frozen.
LM_PARTS = ("language_model", "generation_head", "generation_aligner", "generation_embeddings")


def load_janus(cfg: ModelConfig, dtype: str):
    """The model from `cfg.path` with `cfg.trainable` applied: a JanusForConditionalGeneration, with LoRA
    layers injected in place for "lora"."""
    janus = from_pretrained(cfg, dtype)
    prepare_for_training(janus, cfg)
    return janus


def prepare_for_training(janus, cfg: ModelConfig) -> None:
    """Apply `cfg.trainable` and gradient checkpointing to a loaded (or freshly built) model."""
    set_trainable(janus, cfg)
    if cfg.gradient_checkpointing:
        enable_checkpointing(janus.model.language_model)


def enable_checkpointing(model) -> None:
    """Activation checkpointing of `model`'s layers (non-reentrant): transformers' newer
    `activation_checkpointing_enable`, or `gradient_checkpointing_enable` on releases without it (5.17)."""
    options = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(options)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)


def from_pretrained(cfg: ModelConfig, dtype: str):
    return load_janus_model(
        cfg.path, dtype=getattr(torch, dtype), attn_implementation=cfg.attn_implementation
    )


def set_trainable(janus, cfg: ModelConfig) -> None:
    """Freeze what `cfg.trainable` leaves out. The VQ model never trains (codes are pre-tokenized), nor
    does the text head, which the image loss does not use: a trainable unused weight would still drift
    under weight decay."""
    if cfg.trainable == "lora":
        add_lora(janus, cfg)
        return
    for name, param in janus.named_parameters():
        if cfg.trainable == "full":
            param.requires_grad = not name.startswith(("model.vqmodel.", "lm_head."))
        else:
            param.requires_grad = name.split(".")[1] in LM_PARTS and name.startswith("model.")


def add_lora(janus, cfg: ModelConfig):
    """LoRA adapters on the `lora_targets` projections of the language model's layers (not SigLIP's
    same-named ones), injected into `janus` in place; every other weight is frozen. Returns the PeftModel
    around `janus` (for `merge_and_unload`)."""
    peft = require("peft", "LoRA fine-tuning")
    targets = "|".join(cfg.lora_targets)
    lora = peft.LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=rf"model\.language_model\.layers\.\d+\.\w+\.({targets})",
    )
    return peft.get_peft_model(janus, lora)
