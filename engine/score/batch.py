"""One prepared batch to its store columns: CLIP embeddings, the kernels' scores and the extra scorers on
the device, then the unit's numpy columns."""

from __future__ import annotations

import numpy as np
import torch

from pixsift.engine.core.candidates import failure
from pixsift.engine.core.isolate import isolate_failures
from pixsift.engine.core.progress import StageTimes
from pixsift.engine.score.edit_pairs import SourceEmbeddings, edit_scores, nan_columns
from pixsift.engine.score.embed import ClipEmbedder
from pixsift.engine.score.inputs import EditInputs, ScoreInputs
from pixsift.engine.score.kernel_scores import clip_scores, ssim_roundtrip
from pixsift.engine.score.prepare import Prepared
from pixsift.engine.score.preprocess import clip_batch
from pixsift.engine.score.scorers.base import EmbeddingScorer
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import EDIT_DINO, PAIR_PREFIX
from pixsift.engine.store.unit_store import Unit

NOT_FINITE = failure("score", "the model gave non-finite values for this image or its caption")


class BatchScorer:
    """Embeddings and scores of a batch's images and captions, on the device."""

    def __init__(
        self,
        embedder: ClipEmbedder,
        extra: list[EmbeddingScorer],
        fidelity_size: int,
        fidelity_via: int,
        dino: bool = False,
    ):
        self.embedder = embedder
        self.extra = extra
        self.dino = dino  # --edit-dino: the edit_dino column (computed with the pair's pixels)
        self.fidelity = (fidelity_size, fidelity_via)
        self.sources = SourceEmbeddings()  # the edits' sources, embedded once per worker

    def __call__(self, inputs: ScoreInputs, times: StageTimes) -> dict[str, torch.Tensor]:
        """float32 tensors by column, a row per image; non-finite where the model gave non-finite values
        (nothing here waits for the device)."""
        pixels, fidelity = inputs.pixels, inputs.fidelity
        if pixels is None:
            if inputs.ready is not None:
                inputs.ready()
            with times.stage("preprocess"):
                pixels = clip_batch(inputs.images, self.embedder.preprocess)
        with times.stage("embed"):
            image_emb = self.embedder.encode_images(pixels)
            text_all = self.embedder.encode_tokens(inputs.tokens)
            text_emb = text_all[inputs.rows.to(image_emb.device)]
            if inputs.edits is not None and inputs.edits.new:
                self._embed_sources(inputs.edits, image_emb.device)
        with times.stage("kernels"):
            scores = clip_scores(image_emb, text_emb)
            if fidelity is None:
                fidelity = ssim_roundtrip(inputs.images, *self.fidelity)
            scores["ssim_roundtrip"] = fidelity.to(image_emb.device)
            for extra in self.extra:
                if getattr(extra, "model_inputs", False):
                    model = inputs.models[extra.name]
                    scores[extra.name] = extra(model.pixels, model.tokens, inputs.rows).to(image_emb.device)
                else:
                    scores[extra.name] = extra(image_emb, text_emb)
            scores |= self._edit_columns(inputs.edits, image_emb, text_all, inputs.rows)
        return {"image_embedding": image_emb, "text_embedding": text_emb, **scores}

    def _embed_sources(self, edits: EditInputs, device: torch.device) -> None:
        pixels = edits.pixels
        if pixels is None:
            pixels = clip_batch([image.to(device) for image in edits.images], self.embedder.preprocess)
        self.sources.add([edits.keys[n] for n in edits.new], self.embedder.encode_images(pixels))

    def _edit_columns(
        self, edits: EditInputs | None, image_emb: torch.Tensor, text_all: torch.Tensor, rows: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The pair columns (engine.score.edit_pairs): NaN but for the edits."""
        device = image_emb.device
        columns = nan_columns(len(image_emb), device, self.dino)
        if edits is None:
            return columns
        at = (edits.slots >= 0).nonzero().flatten()
        source_emb = self.sources.stacked([edits.keys[s] for s in edits.slots[at].tolist()]).to(device)
        at_device = at.to(device)
        found = edit_scores(
            image_emb[at_device],
            text_all,
            rows[at].to(device),
            source_emb,
            edits.source_rows[at].to(device),
            edits.target_rows[at].to(device),
        )
        for name, values in found.items():
            columns[name][at_device] = values
        columns["edit_ssim"][at_device] = edits.pairs[at, 0].to(device)
        columns["edit_l1"][at_device] = edits.pairs[at, 1].to(device)
        if self.dino:
            columns[EDIT_DINO][at_device] = edits.pairs[at, 2].to(device)
        return columns

    def isolating(
        self, inputs: ScoreInputs, times: StageTimes
    ) -> tuple[dict[str, torch.Tensor] | None, dict[int, str]]:
        """Scores, retrying halves on an error (out of memory, say); also the images that fail alone, by
        index, with their reason."""
        return isolate_failures(
            lambda idx: self(inputs.subset(idx) if len(idx) < len(inputs) else inputs, times),
            range(len(inputs)),
            lambda parts: {k: torch.cat([p[k] for p in parts]) for k in parts[0]},
        )


def unit_columns(store: RunStore, unit: Unit) -> dict[str, np.ndarray]:
    """The score columns of one work unit as numpy arrays at their fill values, every row failed."""
    values = {
        c.name: np.full(
            (unit.rows, *store.arrays[c.name].shape[1:]),
            c.fill,
            dtype=object if c.dtype == "str" else c.dtype,
        )
        for c in store.score_columns
    }
    values["status"][:] = "failed"
    return values


def fill_columns(v: dict[str, np.ndarray], batch: Prepared, scorer: BatchScorer, times: StageTimes) -> None:
    """Rows [batch.first, batch.first + len(batch.candidates)) of a unit's columns `v`: what the read,
    the decode and the preparation found, then the scores of the images that were prepared."""
    start = batch.first
    for i, cand in enumerate(batch.candidates):
        row = start + i
        v["error"][row] = cand.error
        if batch.hashes[i] is not None:
            v["content_hash"][row] = batch.hashes[i]
        if (result := batch.decoded.get(i)) is not None:
            v["width"][row], v["height"][row] = result.width, result.height
            v["byte_size"][row], v["format"][row] = result.byte_size, result.format
            if result.error:
                v["error"][row] = failure("decode", result.error)
    for i, reason in batch.failed.items():
        v["error"][start + i] = reason
    if batch.inputs is None:
        return
    scores, failed = scorer.isolating(batch.inputs, times)
    for j, reason in failed.items():
        v["error"][start + batch.good[j]] = reason
    if scores is None:
        return
    scored = [j for j in range(len(batch.good)) if j not in failed]
    values = {name: tensor.float().cpu().numpy() for name, tensor in scores.items()}
    finite = np.ones(len(scored), dtype=bool)
    for name, array in values.items():
        if not name.startswith(PAIR_PREFIX):  # NaN but for edits; an edit's are what its pair gives
            finite &= np.isfinite(array.reshape(len(scored), -1)).all(axis=1)
    rows = start + np.asarray([batch.good[j] for j in scored], dtype=np.int64)
    for name, array in values.items():
        v[name][rows[finite]] = array[finite]
    v["status"][rows[finite]] = "ok"
    v["error"][rows[~finite]] = NOT_FINITE
