"""CLIP's text tower at the length of a batch's longest caption rather than the whole context.

The text towers of open_clip's CLIP models (the `CLIP` class, and a `TextTransformer` inside
`CustomTextCLIP`) are causal and pool at the end-of-text token, the largest token id: a token attends
only to the tokens before it, so a caption's pooled embedding does not depend on the padding after it.
A caption of a dozen tokens then costs a dozen positions, not 77: the same embedding to float rounding.
Towers that attend both ways or pool elsewhere (SigLIP's, CoCa's, Hugging Face text models) run at the
full context, as open_clip runs them.
"""

from __future__ import annotations

import open_clip
import torch
from open_clip.transformer import TextTransformer, text_global_pool


class TextTower:
    def __init__(self, model: torch.nn.Module):
        self.model = model
        self._tower = _causal_argmax_tower(model)

    def trim(self, tokens: torch.Tensor) -> torch.Tensor:
        """`tokens` (N x context) cut after the last end-of-text token of the batch, when the tower allows."""
        if self._tower is None or tokens.shape[0] == 0:
            return tokens
        return tokens[:, : int(tokens.argmax(dim=1).max()) + 1]

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        tower = self._tower
        if tower is None or tokens.shape[1] == tower.positional_embedding.shape[0]:
            return self.model.encode_text(tokens)
        length = tokens.shape[1]
        cast_dtype = tower.transformer.get_cast_dtype()
        x = tower.token_embedding(tokens).to(cast_dtype)
        x = x + tower.positional_embedding[:length].to(cast_dtype)
        x = tower.transformer(x, attn_mask=tower.attn_mask[:length, :length])
        x = text_global_pool(tower.ln_final(x), tokens, "argmax")
        projection = tower.text_projection
        if projection is None:
            return x
        return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


def _causal_argmax_tower(model: torch.nn.Module):
    """The module holding the text tower's parts when it is causal and pools at the end-of-text token."""
    if isinstance(model, open_clip.CLIP):
        tower, pool = model, model.text_pool_type
    elif isinstance(model, open_clip.CustomTextCLIP) and isinstance(model.text, TextTransformer):
        tower, pool = model.text, model.text.pool_type
        if tower.cls_emb is not None or getattr(tower, "use_pad_mask", False):
            return None
    else:
        return None
    return tower if pool == "argmax" and getattr(tower, "attn_mask", None) is not None else None
