"""A right-padded micro-batch of image-generation samples, as collated from the token store.

Every row starts at position 0: the prompt (with an edit's source written out as the SigLIP block and the
VQ block), `<begin_of_image>` at `image_start`, then T-1 positions whose embeddings become the target codes
c0..c_{T-2}, then padding. The hidden states at image_start .. image_start+T-1 predict c0..c_{T-1}.

There is no attention mask: with right padding and causal attention no real position ever sees a pad, so
the loss is the masked one exactly, and SDPA can take its flash kernel (a mask rules it out).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch


@dataclass
class Batch:
    input_ids: torch.Tensor  # long [B, L]
    lengths: torch.Tensor  # long [B]: each row's tokens before its padding
    image_start: torch.Tensor  # long [B]: index of <begin_of_image>
    image_codes: torch.Tensor  # long [B, T]: the targets
    pixel_values: torch.Tensor | None  # float [E, 3, S, S]: SigLIP pixels of the edit sources, batch order
    source_codes: torch.Tensor | None  # long [E, T]: VQ codes of the edit sources
    source_start: torch.Tensor  # long [E]: position of each source's VQ block in its row
    source_row: torch.Tensor  # long [E]: the batch row of each source
    keep_source_codes: torch.Tensor  # bool [E]: False = that VQ copy is dropped (keeps pad embeddings)
    n_tokens: int  # non-pad tokens in the batch

    @property
    def n_image_tokens(self) -> int:
        return self.image_codes.shape[1]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True) on custom batch types."""
        return self._map(torch.Tensor.pin_memory)

    def _map(self, fn) -> Batch:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return Batch(**{k: fn(v) if isinstance(v, torch.Tensor) else v for k, v in values.items()})
