"""The CPU side of scoring, ahead of the device: on the read thread and a pool of threads sized to the
machine (numba, PIL, torch's CPU resize and hashlib release the GIL), across unit boundaries
(engine.store.unit_job runs `read` on its own thread).

For each batch: read the candidates (engine.io.sources), decode them (engine.decode), hash them, tokenize
their captions (each distinct caption once), and then
- on a CPU device, each image's model input (engine.score.preprocess.clip_pixels) and round-trip SSIM
  (kernels.ssim.roundtrip_ssim, on the calling thread): the model step gets ready tensors, runs at the
  same time, and the decoded images are freed here;
- on a GPU, the images: uploaded in one copy per batch when the decoder left them on the CPU
  (engine.decode.upload), preprocessed and round-tripped batched on the device.
An edit (engine.score.edit_pairs) gets its source read and decoded, the pair's SSIM and L1 computed where
the images are, and the source's model input prepared when the worker has not embedded it yet.
An image that cannot be prepared fails its row alone, with the reason.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from pixsift.engine.core.candidates import Candidate, content_hash
from pixsift.engine.core.isolate import isolate_failures
from pixsift.engine.core.progress import StageTimes
from pixsift.engine.decode.result import Decoder, DecodeResult
from pixsift.engine.score.dino import DinoPairs
from pixsift.engine.score.edit_pairs import (
    Source,
    SourceEmbeddings,
    SourceReader,
    is_edit,
    pair_captions,
    pair_pixels,
)
from pixsift.engine.score.embed import ClipEmbedder
from pixsift.engine.score.inputs import EditInputs, ModelInputs, ScoreInputs
from pixsift.engine.score.preprocess import clip_pixels
from pixsift.engine.store.unit_job import Batch
from pixsift.kernels.ssim import roundtrip_ssim


@dataclass
class Prepared(Batch):
    candidates: list[Candidate]
    decoded: dict[int, DecodeResult]  # index in the batch -> its decode result (on the CPU, without image)
    hashes: list[int | None]  # content hash of each candidate read, None for those that were not
    good: list[int]  # the batch indices of the images in `inputs`, in order
    inputs: ScoreInputs | None  # None when no image of the batch is left to score
    failed: dict[int, str]  # batch index -> why its decoded image could not be prepared


class Preparer:
    def __init__(
        self,
        decoder: Decoder,
        embedder: ClipEmbedder,
        fidelity: tuple[int, int],
        device: torch.device,
        threads: int,
        sources: SourceReader | None = None,
        embedded: SourceEmbeddings | None = None,
        dino: DinoPairs | None = None,
        models: list | None = None,
    ):
        self.decoder, self.embedder, self.fidelity, self.device = decoder, embedder, fidelity, device
        self.sources, self.embedded, self.dino = sources, embedded, dino
        self.models = models or []  # extra model scorers (engine.score.scorers), each with its own inputs
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="pixsift-prepare")
        self._uploader = None
        if device.type == "cuda" and decoder.device.type == "cpu":
            from pixsift.engine.decode.upload import Uploader

            self._uploader = Uploader(device)

    def prepare(self, first: int, candidates: list[Candidate], times: StageTimes) -> Prepared:
        readable = [i for i, c in enumerate(candidates) if not c.error]
        with times.stage("decode"):
            results = self.decoder.decode([candidates[i].data for i in readable]) if readable else []
        decoded = dict(zip(readable, results, strict=True))
        good = [i for i in readable if decoded[i].ok]
        with times.stage("prepare"):
            hashes = list(self._pool.map(lambda c: content_hash(c.data) if c.data else None, candidates))
            sources, pairs, failed = self._pairs(good, candidates, decoded)
            good = [i for i in good if i not in failed]
            model_pixels = self._model_pixels(good, decoded)  # before the CPU preparation frees the images
            if self.device.type == "cpu":
                good, prepared, failed_here = self._prepared_on_cpu(good, decoded)
                failed |= failed_here
            else:
                prepared = self._on_device([decoded[i].image for i in good])
            inputs = None
            if good:
                captions = [candidates[i].caption for i in good]
                edits = [i for i in good if i in sources]
                known = [pair_captions(candidates[i], sources[i]) for i in edits]
                extra = [source for source, _ in known] + [target for _, target in known]
                texts = captions + [c for c in extra if c]
                tokens, rows = self.embedder.tokenize(texts)
                inputs = ScoreInputs(tokens, rows[: len(good)], **prepared)
                inputs.models = self._model_inputs(model_pixels, good, list(dict.fromkeys(texts)))
                if edits:
                    inputs.edits = self._edit_inputs(good, edits, sources, pairs, rows[len(good) :], extra)
        return Prepared(first, dict(times.seconds), candidates, decoded, hashes, good, inputs, failed)

    def _model_pixels(
        self, good: list[int], decoded: dict[int, DecodeResult]
    ) -> dict[int, list[torch.Tensor]]:
        """Batch index -> each model scorer's input of its image (prepared on the CPU)."""
        if not self.models:
            return {}
        images = [decoded[i].image.cpu() for i in good]
        per_model = [model.pixels(images) for model in self.models]
        return {i: [pixels[n] for pixels in per_model] for n, i in enumerate(good)}

    def _model_inputs(self, model_pixels, good: list[int], texts: list[str]) -> dict[str, ModelInputs]:
        """Each model scorer's inputs for the images `good` and the distinct captions `texts`."""
        return {
            model.name: ModelInputs(torch.stack([model_pixels[i][m] for i in good]), model.tokens(texts))
            for m, model in enumerate(self.models)
        }

    def _pairs(
        self, good: list[int], candidates: list[Candidate], decoded: dict[int, DecodeResult]
    ) -> tuple[dict[int, Source], dict[int, tuple[float, float, float]], dict[int, str]]:
        """The sources of the edits among `good`, their pairs' (SSIM, L1, DINO: NaN without --edit-dino),
        and why the others failed."""
        edits = [i for i in good if is_edit(candidates[i])] if self.sources is not None else []
        found = {i: self.sources.get(candidates[i].source_key) for i in edits}
        failed = {i: reason for i, reason in found.items() if isinstance(reason, str)}
        sources = {i: source for i, source in found.items() if i not in failed}
        pairs = {}
        if sources:
            with torch.no_grad():
                edit_images = [decoded[i].image for i in sources]
                source_images = [s.image.to(edit_images[0].device) for s in sources.values()]
                ssims, l1 = pair_pixels(edit_images, source_images)
                dino = torch.full_like(ssims, float("nan"))
                if self.dino is not None:
                    keyed = [(s.key, image) for s, image in zip(sources.values(), source_images, strict=True)]
                    dino = self.dino.similarity(edit_images, keyed)
            values = zip(ssims.tolist(), l1.tolist(), dino.tolist(), strict=True)
            pairs = dict(zip(sources, values, strict=True))
        return sources, pairs, failed

    def _edit_inputs(self, good, edits, sources, pairs, extra_rows, extra) -> EditInputs:
        """The edit fields of a batch (engine.score.inputs.EditInputs)."""
        by_key = {sources[i].key: sources[i] for i in edits}
        keys = list(by_key)
        slot = {key: n for n, key in enumerate(keys)}
        position = {i: n for n, i in enumerate(good)}
        slots = torch.full((len(good),), -1, dtype=torch.int64)
        source_rows, target_rows = slots.clone(), slots.clone()
        pair_values = torch.full((len(good), 3), float("nan"))
        texts = iter(extra_rows.tolist())
        given = [next(texts) if caption else -1 for caption in extra]
        for n, i in enumerate(edits):
            slots[position[i]] = slot[sources[i].key]
            source_rows[position[i]], target_rows[position[i]] = given[n], given[len(edits) + n]
            pair_values[position[i]] = torch.tensor(pairs[i])
        new = [n for n, key in enumerate(keys) if key not in self.embedded]
        images = [by_key[keys[n]].image for n in new]
        edit_inputs = EditInputs(slots, keys, new, source_rows=source_rows, target_rows=target_rows,
                                 pairs=pair_values)  # fmt: skip
        if not new:
            return edit_inputs
        if self.device.type == "cpu":
            edit_inputs.pixels = torch.stack(list(self._pool.map(
                lambda image: clip_pixels(image, self.embedder.preprocess), images)))  # fmt: skip
        else:
            edit_inputs.images = images
        return edit_inputs

    def close(self) -> None:
        self._pool.shutdown()

    def _prepared_on_cpu(self, good: list[int], decoded: dict[int, DecodeResult]):
        """(the images prepared, their model inputs and fidelity, why the others failed); the decoded
        images are freed."""
        results = dict(zip(good, self._pool.map(self._on_cpu, [decoded[i].image for i in good]), strict=True))
        for i in good:
            decoded[i] = dataclasses.replace(decoded[i], image=None)
        failed = {i: reason for i, (_, reason) in results.items() if reason}
        kept = [results[i][0] for i in good if i not in failed]
        prepared = {}
        if kept:
            prepared = {
                "pixels": torch.stack([p for p, _ in kept]),
                "fidelity": torch.cat([f for _, f in kept]),
            }
        return [i for i in good if i not in failed], prepared, failed

    def _on_device(self, images: list[torch.Tensor]) -> dict:
        if self._uploader is None or not images:
            return {"images": images}
        uploaded = self._uploader.upload(images)
        return {"images": uploaded.images, "ready": uploaded.wait}

    def _on_cpu(self, image: torch.Tensor) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, str]:
        """(model input, round-trip SSIM) of one image, or why it failed."""

        def prepare(_):
            size, via = self.fidelity
            return clip_pixels(image, self.embedder.preprocess), roundtrip_ssim(
                image[None], size, via, serial=True
            )

        result, failed = isolate_failures(prepare, [0], lambda parts: parts[0])
        return result, failed.get(0, "")
