"""One batch of decoded candidates to their store columns: CLIP embeddings, the kernels' scores and the
extra scorers on the device, then the unit's numpy columns."""

from __future__ import annotations

import numpy as np
import torch

from engine.core.candidates import Candidate, content_hash, failure
from engine.core.isolate import isolate_failures
from engine.core.progress import StageTimes
from engine.decode.result import DecodeResult
from engine.score.embed import ClipEmbedder
from engine.score.kernel_scores import clip_scores, ssim_roundtrip
from engine.score.preprocess import clip_batch
from engine.score.scorers.base import EmbeddingScorer
from engine.store.run_store import RunStore
from engine.store.unit_store import Unit


class BatchScorer:
    """Embeddings and scores for a batch of decoded images and their captions, on the device."""

    def __init__(
        self, embedder: ClipEmbedder, extra: list[EmbeddingScorer], fidelity_size: int, fidelity_via: int
    ):
        self.embedder = embedder
        self.extra = extra
        self.fidelity = (fidelity_size, fidelity_via)

    def __call__(
        self, images: list[torch.Tensor], captions: list[str], times: StageTimes
    ) -> dict[str, torch.Tensor]:
        with times.stage("preprocess"):
            pixels = clip_batch(images, self.embedder.preprocess)
        with times.stage("embed"):
            image_emb = self.embedder.encode_images(pixels)
            text_emb = self.embedder.encode_texts(captions)
        with times.stage("kernels"):
            scores = clip_scores(image_emb, text_emb)
            scores["ssim_roundtrip"] = ssim_roundtrip(images, *self.fidelity)
            for extra in self.extra:
                scores[extra.name] = extra(image_emb, text_emb)
        return {"image_embedding": image_emb, "text_embedding": text_emb, **scores}

    def isolating(self, images, captions, times) -> tuple[dict[str, torch.Tensor] | None, dict[int, str]]:
        """Scores, retrying halves on an error (out of memory, say); also the images that fail alone, by
        index, with their reason."""
        return isolate_failures(
            lambda idx: self([images[i] for i in idx], [captions[i] for i in idx], times),
            range(len(images)),
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


def fill_columns(
    v: dict[str, np.ndarray],
    start: int,
    candidates: list[Candidate],
    decoded: dict[int, DecodeResult],
    scorer: BatchScorer,
    times: StageTimes,
) -> None:
    """Rows [start, start + len(candidates)) of a unit's columns `v`: what the read and the decode found,
    then the scores of the images that decoded."""
    for i, cand in enumerate(candidates):
        row = start + i
        result = decoded.get(i)
        v["error"][row] = cand.error
        if cand.data:
            v["content_hash"][row] = content_hash(cand.data)
        if result is not None:
            v["width"][row], v["height"][row] = result.width, result.height
            v["byte_size"][row], v["format"][row] = result.byte_size, result.format
            if not result.ok:
                v["error"][row] = failure("decode", result.error)
    good = [i for i, r in sorted(decoded.items()) if r.ok]
    if not good:
        return
    images = [decoded[i].image for i in good]
    scores, failed = scorer.isolating(images, [candidates[i].caption for i in good], times)
    for j, reason in failed.items():
        v["error"][start + good[j]] = reason
    scored = [i for j, i in enumerate(good) if j not in failed]
    if scores is None:
        return
    rows = np.asarray(scored) + start
    for name, tensor in scores.items():
        v[name][rows] = tensor.float().cpu().numpy()
    v["status"][rows] = "ok"
