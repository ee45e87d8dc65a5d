"""Random-weight diffusers pipelines built from configs, offline: tiny ones for tests and CPU demos, and
SDXL-shaped ones for benchmarks (random weights cost the same as trained ones).

    python -m benchmarks.tiny_diffusers runs/tiny-sd            # a tiny StableDiffusionPipeline
    python -m benchmarks.tiny_diffusers runs/tiny-ip2p --edit   # a tiny InstructPix2Pix pipeline

The tokenizers are CLIP tokenizers over a byte-level vocabulary with no merges (one token per
character), built in-process: nothing is downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    EulerDiscreteScheduler,
    StableDiffusionInstructPix2PixPipeline,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

TINY_TEXT = dict(
    bos_token_id=0,
    eos_token_id=1,
    pad_token_id=1,
    hidden_size=32,
    intermediate_size=37,
    num_attention_heads=4,
    num_hidden_layers=2,
    vocab_size=1000,
)
SD_SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def char_tokenizer(max_length: int = 77) -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary is every byte-level character, alone and word-final."""
    chars = [chr(b) for b in _BYTE_CHARS] + [chr(256 + n) for n in range(256 - len(_BYTE_CHARS))]
    tokens = ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]
    return CLIPTokenizer(vocab={t: i for i, t in enumerate(tokens)}, merges=[], model_max_length=max_length)


# The printable bytes that byte-level BPE maps to themselves; the others map to chr(256 + n) (GPT-2's table).
_BYTE_CHARS = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]


def _tiny_unet(in_channels: int = 4) -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=16,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=16,
    )


def _tiny_vae() -> AutoencoderKL:
    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=(16, 32),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=16,
        sample_size=32,
    )


def tiny_sd_components(unet_in_channels: int = 4) -> dict:
    torch.manual_seed(0)
    return dict(
        unet=_tiny_unet(unet_in_channels),
        vae=_tiny_vae(),
        text_encoder=CLIPTextModel(CLIPTextConfig(**TINY_TEXT)),
        tokenizer=char_tokenizer(),
        scheduler=DDIMScheduler(**SD_SCHEDULER, clip_sample=False, set_alpha_to_one=False, steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_tiny_sd(folder: Path) -> Path:
    """A tiny text-to-image StableDiffusionPipeline (64x64 images by default) saved in `folder`."""
    StableDiffusionPipeline(**tiny_sd_components()).save_pretrained(folder)
    return folder


def save_tiny_instruct_pix2pix(folder: Path) -> Path:
    """A tiny StableDiffusionInstructPix2PixPipeline (the UNet also reads the source latents) in `folder`."""
    pipe = StableDiffusionInstructPix2PixPipeline(**tiny_sd_components(unet_in_channels=8))
    pipe.save_pretrained(folder)
    return folder


def sdxl_pipeline(device: str = "cuda", dtype: torch.dtype = torch.bfloat16) -> StableDiffusionXLPipeline:
    """SDXL base 1.0's architecture (UNet 2.6B, VAE, CLIP ViT-L and OpenCLIP bigG text encoders), random
    weights initialised on `device` (fast on a GPU)."""
    with torch.device(device):
        models = sdxl_models()
    return StableDiffusionXLPipeline(
        **{name: model.to(dtype) for name, model in models.items()},
        tokenizer=char_tokenizer(),
        tokenizer_2=char_tokenizer(),
        scheduler=EulerDiscreteScheduler(**SD_SCHEDULER, steps_offset=1, timestep_spacing="leading"),
    )


def sdxl_models() -> dict[str, torch.nn.Module]:
    """SDXL base 1.0's UNet, VAE and text encoders, from their published configs, random weights."""
    unet = UNet2DConditionModel(
        sample_size=128,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=(320, 640, 1280),
        layers_per_block=2,
        transformer_layers_per_block=(1, 2, 10),
        attention_head_dim=(5, 10, 20),
        cross_attention_dim=2048,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=1024,
        scaling_factor=0.13025,
    )
    clip_l = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12)
    clip_g = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32)
    text = dict(vocab_size=49408, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return dict(
        unet=unet,
        vae=vae,
        text_encoder=CLIPTextModel(CLIPTextConfig(**text, **clip_l, hidden_act="quick_gelu")),
        text_encoder_2=CLIPTextModelWithProjection(
            CLIPTextConfig(**text, **clip_g, hidden_act="gelu", projection_dim=1280)
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path, help="folder to save the pipeline in (DiffusionPipeline layout)")
    parser.add_argument(
        "--edit", action="store_true", help="an InstructPix2Pix pipeline instead of text-to-image"
    )
    args = parser.parse_args()
    print((save_tiny_instruct_pix2pix if args.edit else save_tiny_sd)(args.out))


if __name__ == "__main__":
    main()
