"""The token store as training data: samples formatted as the Janus-4o recipe formats them, collated into
right-padded `Batch`es, and a distributed, length-grouped, resumable batch sampler.

A text-to-image sample is BOS, the prompt, `<begin_of_image>` and the image positions; on `prompt_drop`
(10%) of them the prompt is blanked to pad (BOS and `<begin_of_image>` kept) for classifier-free guidance.
An edit sample carries its source twice before the instruction: SigLIP features on a block of
`<image_placeholder>`s and VQ-code embeddings on a block of pads after `<end_of_image><begin_of_image>`;
that second copy is dropped (its pads stay) with probability `source_drop` (0.5).

The random draws of a sample come from (seed, epoch, store row), never from a global RNG, so workers,
ranks and a resumed run all draw the same. The sampler therefore yields (epoch, index) pairs, which
`TokenDataset.__getitem__` takes, and `TokenDataset.collate` makes them a `Batch`.

Samples longer than `max_seq_len` are left out, counted and listed in `report()`; nothing is truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pixsift.engine.core.errors import BadInput
from pixsift.trainer.common.image_prep import SiglipNorm
from pixsift.trainer.common.prompt_format import SpecialIds, expand_source_block
from pixsift.trainer.common.token_store import EDIT, TokenStore
from pixsift.trainer.train.batch import Batch

_LISTED_TOO_LONG = 20


@dataclass
class Sample:
    input_ids: np.ndarray  # int64 [n]
    image_start: int  # index of <begin_of_image>
    image_codes: np.ndarray  # int64 [T]
    source_pixels: np.ndarray | None = None  # uint8 [S, S, 3] RGB, edits only
    source_codes: np.ndarray | None = None  # int64 [T], edits only
    source_start: int = -1  # first position of the VQ block, edits only
    keep_source_codes: bool = True


@dataclass(frozen=True)
class SampleFormat:
    ids: SpecialIds
    n_image_tokens: int
    siglip: SiglipNorm

    @classmethod
    def of(cls, processor) -> SampleFormat:
        """The format of a model's JanusProcessor (its tokenizer, image tokens and image normalization)."""
        image = processor.image_processor
        siglip = SiglipNorm(tuple(image.image_mean), tuple(image.image_std))
        return cls(SpecialIds.of(processor.tokenizer), processor.num_image_tokens, siglip)

    def length(self, prompt_lengths: np.ndarray, edit: np.ndarray) -> np.ndarray:
        """Sequence lengths from stored prompt lengths: an edit's placeholder becomes two blocks of T+2,
        and every sample ends with <begin_of_image> and T-1 image positions."""
        t = self.n_image_tokens
        return prompt_lengths + np.where(edit, 2 * (t + 2) - 1, 0) + t

    def sample(
        self,
        prompt: np.ndarray,
        image_codes: np.ndarray,
        source: tuple[np.ndarray, np.ndarray] | None = None,
        blank_prompt: bool = False,
        keep_source_codes: bool = True,
    ) -> Sample:
        """One sample from its stored prompt; `source` = (uint8 [S, S, 3] pixels, codes [T]) for an edit."""
        ids, t = self.ids, self.n_image_tokens
        tokens, source_start = expand_source_block([int(i) for i in prompt], ids, t)
        if (source is None) != (source_start < 0) or tokens.count(ids.image) not in (0, t):
            raise ValueError("a prompt needs exactly one <image_placeholder> if and only if it is an edit")
        image_start = len(tokens)
        input_ids = np.asarray([*tokens, ids.boi, *[ids.pad] * (t - 1)], np.int64)
        if blank_prompt:
            input_ids[1:image_start] = ids.pad
        sample = Sample(input_ids, image_start, np.asarray(image_codes, np.int64))
        if source is not None:
            sample.source_pixels = np.asarray(source[0], np.uint8)
            sample.source_codes = np.asarray(source[1], np.int64)
            sample.source_start = source_start
            sample.keep_source_codes = keep_source_codes
        return sample

    def collate(self, samples: list[Sample]) -> Batch:
        """Right-pad samples into a `Batch` (pad id); edit sources in batch order, as SigLIP pixels."""
        length = max(len(s.input_ids) for s in samples)
        input_ids = torch.full((len(samples), length), self.ids.pad, dtype=torch.long)
        lengths = torch.tensor([len(s.input_ids) for s in samples], dtype=torch.long)
        for row, s in enumerate(samples):
            input_ids[row, : len(s.input_ids)] = torch.from_numpy(s.input_ids)
        edits = [row for row, s in enumerate(samples) if s.source_codes is not None]
        sources = [samples[row] for row in edits]
        return Batch(
            input_ids=input_ids,
            lengths=lengths,
            image_start=torch.tensor([s.image_start for s in samples], dtype=torch.long),
            image_codes=torch.from_numpy(np.stack([s.image_codes for s in samples])),
            pixel_values=self.siglip(torch.from_numpy(np.stack([s.source_pixels for s in sources])))
            if edits
            else None,
            source_codes=torch.from_numpy(np.stack([s.source_codes for s in sources])) if edits else None,
            source_start=torch.tensor([s.source_start for s in sources], dtype=torch.long),
            source_row=torch.tensor(edits, dtype=torch.long),
            keep_source_codes=torch.tensor([s.keep_source_codes for s in sources], dtype=torch.bool),
            n_tokens=int(lengths.sum()),
        )


class TokenDataset:
    """Map-style dataset over the ok rows of a token store that fit in `max_seq_len`. Indexed by
    (epoch, index) pairs, as `MixedTaskBatchSampler` yields them; `collate` makes the `Batch`."""

    def __init__(
        self,
        store: TokenStore,
        processor,
        max_seq_len: int,
        *,
        seed: int = 0,
        prompt_drop: float = 0.1,
        source_drop: float = 0.5,
    ):
        self.format = SampleFormat.of(processor)
        if self.format.n_image_tokens != store.n_image_tokens:
            raise ValueError(
                f"the token store has {store.n_image_tokens} image tokens per image, the model's processor "
                f"{self.format.n_image_tokens}: tokenize with this model"
            )
        self.store, self.max_seq_len, self.seed = store, max_seq_len, seed
        self.prompt_drop, self.source_drop = prompt_drop, source_drop
        ok = store.ok_rows()
        self._edit = store.arrays["task"][:] == EDIT
        lengths = self.format.length(np.diff(store.arrays["prompt_offsets"][:])[ok], self._edit[ok])
        fits = lengths <= max_seq_len
        self.rows, self.lengths = ok[fits], lengths[fits]
        self.too_long, self.too_long_lengths = ok[~fits], lengths[~fits]
        self.n_not_ok = store.n_rows - len(ok)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def edit(self) -> np.ndarray:
        """Whether each sample is an editing sample (else text-to-image), by dataset index."""
        return self._edit[self.rows]

    def __getitem__(self, key: tuple[int, int]) -> Sample:
        epoch, index = key
        row = int(self.rows[index])
        arrays = self.store.arrays
        blank_draw, source_draw = np.random.default_rng((self.seed, epoch, row)).random(2)
        edit = bool(self._edit[row])
        source = (arrays["source_pixels"][row], arrays["source_codes"][row]) if edit else None
        return self.format.sample(
            self.store.prompt(row),
            arrays["image_codes"][row],
            source,
            blank_prompt=not edit and blank_draw < self.prompt_drop,
            keep_source_codes=source_draw >= self.source_drop,
        )

    def collate(self, samples: list[Sample]) -> Batch:
        return self.format.collate(samples)

    def report(self) -> str:
        """One line: how many rows are used, and which were left out and why."""
        line = f"data: {len(self)} of {self.store.n_rows} token-store rows used"
        if self.n_not_ok:
            line += f"; {self.n_not_ok} not tokenized ok"
        if len(self.too_long):
            shown = self.too_long[:_LISTED_TOO_LONG]
            keys = self.store.arrays["key"].oindex[shown]
            listed = ", ".join(f"{k} ({n})" for k, n in zip(keys, self.too_long_lengths, strict=False))
            more = len(self.too_long) - len(shown)
            line += (
                f"; {len(self.too_long)} longer than max_seq_len {self.max_seq_len} left out, not truncated: "
                f"{listed}" + (f" and {more} more" if more else "")
            )
        return line


class MixedTaskBatchSampler:
    """This rank's micro-batches of dataset indices, as lists of (epoch, index) pairs.

    Every optimizer step (batch_size * world_size * accumulation_steps samples) holds text-to-image and
    editing samples in the pool's proportion, stratified: step s takes floor((s+1) * step * E / N) -
    floor(s * step * E / N) edits, the rest text-to-image, as Janus-4o's random batches of 64 do on average
    (its length-free shuffle mixes them; length grouping alone would put 98% of steps on one task). Each
    epoch draws a permutation of each task from (seed, epoch) and drops the tail that does not fill a whole
    step, as Janus-4o's drop_last does, so each epoch drops different samples.

    Padding is kept down without giving up the mix: each task's samples for a block of `megabatch_steps`
    steps are sorted by length before they are dealt to the block's steps, and inside a step its samples,
    sorted by length, are cut into the micro-batches, micro-step by micro-step (rank r takes the r-th of
    each), so a micro-batch holds samples of similar length (edits, about 1,800 tokens, with edits). Steps
    are shuffled, the one with the longest sample first (out of memory at once, not hours in).
    `state_dict()` records the epoch and the micro-batches consumed; a sampler loaded with it yields
    exactly the rest of that epoch.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        edit: np.ndarray,
        batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        accumulation_steps: int = 1,
        megabatch_steps: int = 50,
    ):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of {world_size}")
        self.lengths, self.edit = np.asarray(lengths), np.asarray(edit, bool)
        if self.lengths.shape != self.edit.shape:
            raise ValueError("lengths and edit must give one value per sample")
        self.batch_size, self.rank, self.world_size = batch_size, rank, world_size
        self.seed, self.accumulation_steps, self.megabatch_steps = seed, accumulation_steps, megabatch_steps
        self.epoch = 0
        self.batches_consumed = 0
        if self.batches_per_epoch == 0:
            raise BadInput(
                "training data",
                f"{len(self.lengths)} samples do not fill one optimizer step of {self.step_samples} "
                f"(batch {batch_size} x {world_size} ranks x {accumulation_steps} accumulation steps)",
                "select more rows, or set a smaller parallel.global_batch",
            )

    @property
    def step_samples(self) -> int:
        return self.batch_size * self.world_size * self.accumulation_steps

    @property
    def steps_per_epoch(self) -> int:
        return len(self.lengths) // self.step_samples

    @property
    def batches_per_epoch(self) -> int:
        """Micro-batches per rank per epoch."""
        return self.steps_per_epoch * self.accumulation_steps

    def set_epoch(self, epoch: int) -> None:
        self.epoch, self.batches_consumed = epoch, 0

    def edits_per_step(self) -> np.ndarray:
        """The number of editing samples in each step of an epoch (the same every epoch)."""
        n, n_edit, step = len(self.lengths), int(self.edit.sum()), self.step_samples
        cumulative = np.arange(self.steps_per_epoch + 1) * step * n_edit // n
        return np.diff(cumulative)

    def epoch_steps(self, epoch: int) -> list[np.ndarray]:
        """Every step of `epoch`, in order: its samples, longest first."""
        rng = np.random.default_rng((self.seed, epoch))
        tasks = [rng.permutation(np.flatnonzero(self.edit == kind)) for kind in (True, False)]
        edits = self.edits_per_step()
        counts = [edits, self.step_samples - edits]  # per step, of each task
        steps: list[list[np.ndarray]] = [[] for _ in edits]
        for order, per_step in zip(tasks, counts, strict=True):
            taken = 0
            for block in range(0, len(steps), self.megabatch_steps):
                sizes = per_step[block : block + self.megabatch_steps]
                chunk = order[taken : taken + sizes.sum()]
                taken += sizes.sum()
                chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
                for offset, part in enumerate(np.split(chunk, np.cumsum(sizes)[:-1])):
                    steps[block + offset].append(part)
        merged = [np.concatenate(parts) for parts in steps]
        merged = [step[np.argsort(-self.lengths[step], kind="stable")] for step in merged]
        merged = [merged[i] for i in rng.permutation(len(merged))]
        longest = max(range(len(merged)), key=lambda i: self.lengths[merged[i][0]])
        merged[0], merged[longest] = merged[longest], merged[0]
        return merged

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """All of this rank's micro-batches of `epoch`, in order."""
        b, w = self.batch_size, self.world_size
        return [
            step[(k * w + self.rank) * b : (k * w + self.rank + 1) * b]
            for step in self.epoch_steps(epoch)
            for k in range(self.accumulation_steps)
        ]

    def __len__(self) -> int:
        return self.batches_per_epoch - self.batches_consumed

    def __iter__(self):
        epoch = self.epoch
        for batch in self.epoch_batches(epoch)[self.batches_consumed :]:
            self.batches_consumed += 1
            yield [(epoch, int(i)) for i in batch]

    def state_dict(self, batches_consumed: int | None = None) -> dict[str, Any]:
        """The position; pass `batches_consumed` when a DataLoader has drawn batches ahead of training."""
        return {
            "epoch": self.epoch,
            "batches_consumed": self.batches_consumed if batches_consumed is None else batches_consumed,
            **self._layout(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        layout = {k: state.get(k) for k in self._layout()}
        if layout != self._layout():
            raise BadInput("--resume", f"cannot resume the data position of {layout} with {self._layout()}")
        self.epoch, self.batches_consumed = state["epoch"], state["batches_consumed"]

    def _layout(self) -> dict[str, int]:
        """What the order of batches depends on besides the epoch."""
        return {
            "seed": self.seed,
            "n_samples": len(self.lengths),
            "n_edit": int(self.edit.sum()),
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "accumulation_steps": self.accumulation_steps,
            "megabatch_steps": self.megabatch_steps,
        }
