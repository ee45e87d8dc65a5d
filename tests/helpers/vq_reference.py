"""The original Janus quantizer's codes (codebook_l2_norm=True), computed independently of pixsift."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reference_codes(vqmodel, pixels: torch.Tensor) -> torch.Tensor:
    """The original VectorQuantizer.forward's min_encoding_indices, per image: long [B, T]."""
    with torch.no_grad():
        z = vqmodel.quant_conv(vqmodel.encoder(pixels))
        z = torch.einsum("bchw->bhwc", z).contiguous()
        z_flattened = F.normalize(z.view(-1, z.shape[-1]), p=2, dim=-1)
        embedding = F.normalize(vqmodel.quantize.embedding.weight, p=2, dim=-1)
        d = (
            torch.sum(z_flattened**2, dim=1, keepdim=True)
            + torch.sum(embedding**2, dim=1)
            - 2 * torch.einsum("bd,dn->bn", z_flattened, torch.einsum("nd->dn", embedding))
        )
        return torch.argmin(d, dim=1).view(pixels.shape[0], -1)
