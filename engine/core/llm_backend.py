"""Which library runs a stage's language models (engine.vlm, engine.prompts): transformers, or vLLM's offline
`LLM` (`--backend vllm`, when it is installed) over the same local folder. Both backends are fed the same
token ids and read the same answers; this holds the settings and what the vLLM side of both stages shares.

vLLM's engine runs in the calling process (VLLM_ENABLE_V1_MULTIPROCESSING=0): a worker is a daemonic
process, which may not start the engine process vLLM would start by default, and a stage with a writer
and an enhancer holds two engines in one worker.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pixsift.engine.core.config import Config, SettingError, setting
from pixsift.engine.core.generation import Generated, decode_generated, end_tokens
from pixsift.kernels.optional import require

if TYPE_CHECKING:
    import torch

BACKENDS = ("transformers", "vllm")
VLLM_MEMORY = 0.9
_VLLM_ONLY = ("vllm_memory", "vllm_kv_cache_gib")


@dataclass(kw_only=True)
class BackendConfig(Config):
    backend: str = setting(
        "transformers",
        choices=BACKENDS,
        affects_values=True,
        help="the library that runs the models: transformers, or vllm (vLLM's offline LLM, when installed: "
        "pip install 'pixsift[vllm]')",
    )
    vllm_memory: float | None = setting(
        None,
        min=0.01,
        max=1.0,
        help=f"--backend vllm: the share of the GPU's memory (of the machine's memory on vLLM's CPU build) "
        f"the stage's models take together, split evenly between them (default {VLLM_MEMORY})",
    )
    vllm_kv_cache_gib: float | None = setting(
        None,
        min=0.001,
        help="--backend vllm: each model's KV cache in GiB, instead of what --vllm-memory leaves (on vLLM's "
        "CPU build, give this when a stage runs several models: its share counts the memory of those "
        "loaded before)",
    )

    def check(self) -> None:
        super().check()
        if self.backend != "vllm":
            for name in _VLLM_ONLY:
                if getattr(self, name) is not None:
                    raise SettingError(name, f"is for --backend vllm, and the backend is {self.backend}")
        if self.vllm_memory is not None and self.vllm_kv_cache_gib is not None:  # vLLM ignores it then
            raise SettingError(
                "vllm_memory", "goes unused when --vllm-kv-cache-gib sizes each model's KV cache"
            )


def open_vllm(folder: str, device: torch.device, dtype: torch.dtype, cfg: BackendConfig, models: int, **more):
    """vLLM's `LLM` over the local model `folder` on `device` (the one its build runs on), one of the
    stage's `models` in this process; `more` are further engine arguments."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    vllm = require("vllm", "--backend vllm")
    from vllm.platforms import current_platform

    if current_platform.device_type != device.type:
        raise SettingError(
            "device",
            f"is {device.type}, and the installed vLLM runs on {current_platform.device_type or 'no device'}",
        )
    arguments: dict[str, Any] = {
        "model": folder,
        "dtype": str(dtype).removeprefix("torch."),
        "seed": 0,
        "gpu_memory_utilization": (cfg.vllm_memory or VLLM_MEMORY) / models,
        # vLLM compiles the model for the GPU; on its CPU build that compile costs minutes per start.
        "enforce_eager": device.type == "cpu",
        # A prompt prefilled in chunks has its seeded sampler rewound, which the CPU's generators cannot
        # do ("CPU Generator does not use offset"): on the CPU each prompt is prefilled whole.
        "enable_chunked_prefill": device.type != "cpu",
        **more,
    }
    if cfg.vllm_kv_cache_gib is not None:
        arguments["kv_cache_memory_bytes"] = int(cfg.vllm_kv_cache_gib * 2**30)
    with _hidden_module("llvmlite.binding.ffi"):
        return vllm.LLM(**arguments)


@contextmanager
def _hidden_module(name: str) -> Iterator[None]:
    """`name` out of sys.modules for a while. vLLM's CPU build, starting, rebinds its kernels by reading the
    `__dict__` of every attribute of every loaded module, and llvmlite's `ffi.lib` (loaded with numba, which
    pixsift's statistics run on) answers that with a function: the engine would fail to start."""
    hidden = sys.modules.pop(name, None)
    try:
        yield
    finally:
        if hidden is not None:
            sys.modules[name] = hidden


@dataclass(frozen=True)
class Decoding:
    """How transformers' `generate` decodes for a model of a folder, as vLLM is asked to: the end-of-turn
    tokens it stops at and the repetition penalty of the folder's generation config."""

    ends: list[int]
    repetition_penalty: float

    @classmethod
    def of(cls, folder: str, tokenizer) -> Decoding:
        from transformers import AutoConfig, GenerationConfig

        try:
            generation = GenerationConfig.from_pretrained(folder)
        except OSError:  # no generation_config.json: the defaults the model's config implies
            generation = GenerationConfig.from_model_config(AutoConfig.from_pretrained(folder))
        return cls(end_tokens(generation, tokenizer), generation.repetition_penalty or 1.0)

    def params(self, **sampling):
        """vLLM's SamplingParams of `sampling`, stopping and penalising repeats as transformers would."""
        from vllm import SamplingParams

        return SamplingParams(
            stop_token_ids=self.ends, repetition_penalty=self.repetition_penalty, **sampling
        )

    def generated(self, outputs, tokenizer, max_new_tokens: int) -> list[Generated]:
        """The text each vLLM request output wrote, cut as the transformers backend cuts it."""
        rows = [list(o.outputs[0].token_ids) for o in outputs]
        return decode_generated(tokenizer, rows, self.ends, max_new_tokens)


def vllm_prompt(ids: Sequence[int], images: Sequence[Any] = ()) -> dict:
    """A vLLM prompt of token ids, its images (as the processor's placeholders in `ids` stand for them)."""
    prompt: dict[str, Any] = {"prompt_token_ids": list(ids)}
    if images:
        prompt["multi_modal_data"] = {"image": list(images)}
    return prompt
