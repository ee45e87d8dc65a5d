"""VQ codes of images as the original Janus model computes them.

The original Janus (LlamaGen) VectorQuantizer is built with `codebook_l2_norm=True`: it L2-normalizes the
latent and every codebook row, then takes the nearest row (argmin of |z|^2 + |e|^2 - 2 z.e). transformers'
`JanusVQVAEVectorQuantizer.forward` skips both normalizations, so `vqmodel.encode(...).image_tokens` can
pick other codes than the released model was trained on; its `get_codebook_entry` (what decoding uses)
does normalize. `encode_codes` follows the original.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from pixsift.engine.core.errors import NotFound
from pixsift.trainer.common.model_checks import check_shapes, read_janus_config

# Images per distance matrix: [images * T, codebook] fp32 (576 x 16384 x 4 bytes = 38 MB per image).
_IMAGES_PER_SEARCH = 16


@torch.no_grad()
def encode_codes(vqmodel, pixels: torch.Tensor) -> torch.Tensor:
    """The codes (long [B, T], raster order) of `pixels` (float [B, 3, S, S] in [-1, 1]); the encoder runs
    in the model's dtype, the nearest-neighbour search in fp32."""
    weight = vqmodel.quant_conv.weight
    latent = vqmodel.quant_conv(vqmodel.encoder(pixels.to(weight.device, weight.dtype)))
    b, d = latent.shape[:2]
    z = F.normalize(latent.float().permute(0, 2, 3, 1).reshape(b, -1, d), dim=-1)
    codebook = F.normalize(vqmodel.quantize.embedding.weight.float(), dim=-1)
    codes = [_nearest(chunk, codebook) for chunk in z.split(_IMAGES_PER_SEARCH)]
    return torch.cat(codes)


def _nearest(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    distances = z.pow(2).sum(-1, keepdim=True) + codebook.pow(2).sum(-1) - 2 * z @ codebook.T
    return distances.argmin(-1)


VQ_PREFIX = "model.vqmodel."


def vq_state(model_dir: str | Path) -> dict[str, torch.Tensor]:
    """The VQ model's weights from the checkpoint's safetensors files, without loading the rest."""
    from safetensors import safe_open

    state = {}
    files = sorted(Path(model_dir).glob("*.safetensors"))
    for file in files:
        with safe_open(file, "pt") as f:
            state.update(
                {k.removeprefix(VQ_PREFIX): f.get_tensor(k) for k in f.keys() if k.startswith(VQ_PREFIX)}
            )
    if not state:
        raise NotFound(str(model_dir), f"no {VQ_PREFIX}* weights in {[f.name for f in files]}")
    return state


def load_vqmodel(model_dir: str | Path, device: str | torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """The frozen VQ model of the Janus checkpoint at `model_dir`, in eval mode on `device`."""
    from transformers import JanusVQVAE

    config = read_janus_config(str(model_dir))
    check_shapes(str(model_dir), config, VQ_PREFIX)
    vqmodel = JanusVQVAE(config.vq_config)
    vqmodel.load_state_dict(vq_state(model_dir), strict=True)
    return vqmodel.to(device, dtype).eval().requires_grad_(False)
