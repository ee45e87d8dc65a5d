"""The image-generation loss of Janus-Pro on a `Batch`, and the module DeepSpeed wraps around it.

Input embeddings: the text embeddings of `input_ids`; SigLIP features (through the understanding aligner)
on the `<image_placeholder>` positions of edit rows; the kept VQ copies of edit sources and the target
codes c0..c_{T-2} through `prepare_embeddings_for_image_generation`. The generation head reads the hidden
states from `<begin_of_image>` to the last image position but one and is scored against all T codes, so
c0 is supervised too; with `first_code` false the prediction from `<begin_of_image>` is left out and the
mean is over the T-1 others, as Janus-4o's shifted labels compute it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pixsift.trainer.train.batch import Batch


def input_embeddings(janus, batch: Batch, every_module: bool = False) -> torch.Tensor:
    """[B, L, H] embeddings of the batch as the language model sees them. With `every_module`, a batch
    without edits still runs the vision tower, on one blank image whose features count zero times: under
    ZeRO-3 each module's weights are gathered as it runs, a collective that every rank must join, and a
    step's ranks may hold different mixes of tasks."""
    embeds = janus.get_input_embeddings()(batch.input_ids)
    vision = janus.model.vision_model
    if batch.pixel_values is not None:
        pixels = batch.pixel_values.to(vision.dtype)
        features = janus.model.get_image_features(pixels).pooler_output
        placeholders = (batch.input_ids == janus.config.image_token_id).unsqueeze(-1)
        embeds = embeds.masked_scatter(placeholders, features.to(embeds.dtype))
    elif every_module:
        size = janus.config.vision_config.image_size
        blank = torch.zeros(1, 3, size, size, dtype=vision.dtype, device=embeds.device)
        embeds = embeds + 0 * janus.model.get_image_features(blank).pooler_output.sum().to(embeds.dtype)

    n = batch.n_image_tokens
    steps = torch.arange(n, device=embeds.device)
    rows = torch.arange(len(batch.image_start), device=embeds.device)
    # Target codes c0..c_{T-2} right after <begin_of_image>; kept source copies on their VQ blocks.
    code_rows = [rows[:, None].expand(-1, n - 1)]
    code_cols = [batch.image_start[:, None] + 1 + steps[: n - 1]]
    codes = [batch.image_codes[:, :-1]]
    if batch.source_codes is not None:
        keep = batch.keep_source_codes
        code_rows.append(batch.source_row[keep][:, None].expand(-1, n))
        code_cols.append(batch.source_start[keep][:, None] + steps)
        codes.append(batch.source_codes[keep])
    codes = torch.cat([c.reshape(-1) for c in codes])
    code_embeds = janus.prepare_embeddings_for_image_generation(codes).to(embeds.dtype)
    index = (torch.cat([r.reshape(-1) for r in code_rows]), torch.cat([c.reshape(-1) for c in code_cols]))
    return embeds.index_put(index, code_embeds)


def image_generation_loss(
    janus, batch: Batch, every_module: bool = False, first_code: bool = True
) -> torch.Tensor:
    """Mean cross-entropy (fp32) over the B*T image codes of the batch (B*(T-1) without `first_code`). No
    attention mask: the batch is right-padded and attention causal (trainer.train.batch)."""
    hidden = janus.model.language_model(
        inputs_embeds=input_embeddings(janus, batch, every_module), attention_mask=None, use_cache=False
    ).last_hidden_state
    n = batch.n_image_tokens
    positions = batch.image_start[:, None] + torch.arange(n, device=hidden.device)
    image_hidden = hidden.gather(1, positions[:, :, None].expand(-1, -1, hidden.shape[-1]))
    codes = batch.image_codes
    if not first_code:
        image_hidden, codes = image_hidden[:, 1:], codes[:, 1:]
    logits = janus.model.generation_head(image_hidden).float()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), codes.reshape(-1))


class ImageGenerationModel(nn.Module):
    """`forward(batch) -> loss` around a `JanusForConditionalGeneration` (kept as `.janus`); `every_module`
    for ZeRO-3 (see input_embeddings), `first_code` as image_generation_loss takes it."""

    def __init__(self, janus, every_module: bool = False, first_code: bool = True):
        super().__init__()
        self.janus, self.every_module, self.first_code = janus, every_module, first_code

    def forward(self, batch: Batch) -> torch.Tensor:
        return image_generation_loss(self.janus, batch, self.every_module, self.first_code)
