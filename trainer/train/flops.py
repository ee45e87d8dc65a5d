"""Model FLOPs of Janus-Pro image-generation training, and MFU.

Counted from the model config (a weightless copy on the meta device): 2 FLOPs per weight per position in
the forward pass, 2 more for the gradient of the input where some trainable weight lies upstream of the
layer, and 2 more for the weight gradient where the weights train. So a trained layer costs 6 per weight
and position, a frozen layer that gradients still cross (the language model under LoRA) 4, and a frozen
layer with nothing trainable before it (SigLIP outside `full`) 2. Each component counts the positions it
runs on: the language model every non-pad token, the generation head the T image positions, the
generation aligner the T-1 target codes and a kept source copy, SigLIP and its aligner the patches of an
edit's source. Attention adds 4 * seq_len * hidden per token and layer forward (the PaLM convention: the
causal half is not subtracted), three times that with a backward pass. Embedding lookups and the text
head (unused by the image loss) cost nothing. MFU = achieved FLOP/s / the device's bf16 dense peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

# bf16 dense tensor-core peaks (TFLOP/s) per device, from the vendors' data sheets; the first name that is
# a substring of torch.cuda.get_device_name() wins, so the specific names come first.
PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),
    ("H200", 989.0),
    ("H800", 989.0),
    ("GH200", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("A10G", 70.0),
    ("L4", 121.0),
    ("RTX 4090", 165.0),
)

# Multiplier per weight and position for (vision, generation aligner, language model, generation head).
FACTORS = {
    "full": (6, 6, 6, 6),
    "lm": (2, 6, 6, 6),
    "lora": (2, 2, 4, 4),
}


def _matmul_weights(module: nn.Module, only: tuple[str, ...] = ()) -> int:
    return sum(
        m.weight.numel()
        for name, m in module.named_modules()
        if isinstance(m, nn.Linear | nn.Conv2d) and (not only or name.rsplit(".", 1)[-1] in only)
    )


@dataclass(frozen=True)
class TrainingFlops:
    trainable: str
    lm_weights: int  # matmul weights of the language model's layers
    lm_layers: int
    lm_hidden: int
    lora_weights: int  # adapter weights (A and B) over all targeted layers
    head_weights: int
    gen_aligner_weights: int
    vision_weights: int  # SigLIP (patch embedding included) and the understanding aligner
    vision_layers: int
    vision_hidden: int
    patches: int
    n_image_tokens: int

    @classmethod
    def of(
        cls, config, trainable: str, lora_rank: int = 0, lora_targets: tuple[str, ...] = ()
    ) -> TrainingFlops:
        from transformers import JanusForConditionalGeneration

        with torch.device("meta"):
            janus = JanusForConditionalGeneration(config).model
        lora = 0
        if trainable == "lora":
            targets = [
                m
                for name, m in janus.language_model.named_modules()
                if isinstance(m, nn.Linear) and name.rsplit(".", 1)[-1] in lora_targets
            ]
            lora = sum(lora_rank * (m.in_features + m.out_features) for m in targets)
        text, vision = config.text_config, config.vision_config
        head_dim = text.head_dim or text.hidden_size // text.num_attention_heads
        return cls(
            trainable=trainable,
            lm_weights=_matmul_weights(janus.language_model),
            lm_layers=text.num_hidden_layers,
            lm_hidden=text.num_attention_heads * head_dim,
            lora_weights=lora,
            head_weights=_matmul_weights(janus.generation_head),
            gen_aligner_weights=_matmul_weights(janus.generation_aligner),
            vision_weights=_matmul_weights(janus.vision_model) + _matmul_weights(janus.aligner),
            vision_layers=vision.num_hidden_layers,
            vision_hidden=vision.hidden_size,
            patches=(vision.image_size // vision.patch_size) ** 2,
            n_image_tokens=vision.num_image_tokens,
        )

    def sample(self, seq_len: int, edit: bool = False, source_codes_kept: bool = False) -> float:
        """FLOPs of one training sample (forward and backward) of `seq_len` non-pad tokens."""
        vision, aligner, lm, head = FACTORS[self.trainable]
        t = self.n_image_tokens
        flops = lm * self.lm_weights * seq_len + 6 * self.lora_weights * seq_len
        flops += 3 * 4 * seq_len * seq_len * self.lm_hidden * self.lm_layers
        flops += head * self.head_weights * t
        flops += aligner * self.gen_aligner_weights * (t - 1 + (t if source_codes_kept else 0))
        if edit:
            attention_passes = 3 if vision == 6 else 1
            flops += vision * self.vision_weights * self.patches
            flops += attention_passes * 4 * self.patches**2 * self.vision_hidden * self.vision_layers
        return float(flops)

    def batch(self, batch) -> float:
        """FLOPs of a `trainer.train.batch.Batch` (its non-pad tokens only)."""
        lengths = batch.lengths.tolist()
        kept = dict.fromkeys(batch.source_row.tolist(), False)
        kept.update(zip(batch.source_row.tolist(), batch.keep_source_codes.tolist(), strict=True))
        return sum(self.sample(n, row in kept, kept.get(row, False)) for row, n in enumerate(lengths))


def peak_flops(device: torch.device, given_tflops: float = 0.0) -> float | None:
    """The device's bf16 dense peak in FLOP/s: `given_tflops` when set, else from the GPU's name; None
    when unknown (the CPU, an unlisted GPU), and MFU is then reported as n/a."""
    if given_tflops > 0:
        return given_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tflops * 1e12 for key, tflops in PEAK_TFLOPS if key in name), None)
