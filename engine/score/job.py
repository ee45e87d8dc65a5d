"""The score stage: candidates -> decode -> CLIP embeddings and our kernels -> the run store.

The driver plans the job once (engine.sources scans the inputs, engine.store writes one row per
candidate), then an executor runs the unfinished work units: worker processes on this machine, or
actors on a Ray cluster (engine.executors, engine.executors_ray). Inside a worker a background
thread reads and decodes the next batches while the current one is embedded and scored, so decode
overlaps the GPU. A batch that runs out of GPU memory is split in halves and retried; an image that
alone does not fit gets a failed row. A unit is written whole, then marked done: a killed job
restarted with the same command redoes only unmarked units and ends with the same values.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from engine.core.candidates import Candidate, failure
from engine.core.oom import split_on_oom
from engine.core.prefetch import prefetch, timed_batches
from engine.core.progress import Progress, StageTimes
from engine.decode.decoders import Decoder, DecodeResult, make_decoder
from engine.decode.probe import MAX_PIXELS
from engine.executors.config import ExecutorConfig
from engine.executors.local import UnitJobSummary, UnitReport
from engine.io.paths import absolute
from engine.io.sources import read_candidates, scan
from engine.score.embed import ClipEmbedder
from engine.score.preprocess import clip_batch
from engine.score.scorers import MlpScorer, clip_scores, ssim_roundtrip
from engine.store.run_store import RunStore, Unit


@dataclass
class ScoreConfig(ExecutorConfig):
    inputs: list[str]
    store: str
    clip_model: str = "ViT-L-14"
    clip_pretrained: str | None = None  # an open_clip tag (local hub cache) or a checkpoint file
    clip_config: str | None = None  # a JSON model config registered with open_clip (tiny test models)
    clip_random_init: bool = False  # random weights, for benchmarks: the cost is the same
    scorers: dict[str, str] = field(default_factory=dict)  # column name -> MLP safetensors file
    fidelity_size: int = 768
    fidelity_via: int = 336
    max_pixels: int = MAX_PIXELS  # width * height above which an image is refused from its header
    decoder: str = "auto"  # auto | dali | pil
    batch_size: int = 256
    shard_rows: int = 4096
    decode_threads: int = 4
    prefetch_batches: int = 2

    # Settings that change the values in the store; a store made with others cannot be resumed.
    VALUE_KEYS = (
        "inputs",
        "clip_pretrained",
        "clip_config",
        "clip_random_init",
        "scorers",
        "fidelity_size",
        "fidelity_via",
        "max_pixels",
    )

    @classmethod
    def from_toml(cls, path: str | os.PathLike, **overrides) -> ScoreConfig:
        """Settings from a TOML file (keys are the field names), then `overrides` that are not None."""
        values = tomllib.loads(Path(path).read_text()) if path else {}
        known = {f.name for f in fields(cls)}
        if unknown := values.keys() - known:
            raise ValueError(
                f"{path}: unknown settings {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        values.update({k: v for k, v in overrides.items() if v is not None})
        for required in ("inputs", "store"):
            if not values.get(required):
                raise ValueError(f"pixsift score: '{required}' is required (flag or config file)")
        return cls(**values)

    def value_settings(self, embedder_info: dict) -> dict:
        settings = {k: getattr(self, k) for k in self.VALUE_KEYS}
        settings["inputs"] = [absolute(str(i)) for i in self.inputs]
        settings["embedder"] = {k: v for k, v in embedder_info.items() if k != "autocast"}
        return settings


class ScoreSummary(UnitJobSummary):
    verb = "scored"


def score(cfg: ScoreConfig, progress_stream=None) -> ScoreSummary:
    """Plan the job (once) and run its unfinished units on the configured executor; the summary of
    this call."""
    in_process = cfg.runs_in_process()
    # In-process runs keep the driver's model; other workers load their own on their device.
    embedder = load_embedder(cfg, cfg.resolved_device() if in_process else "cpu")
    store = planned_store(cfg, embedder)
    units = store.units()
    done = store.done_units()
    progress = Progress("score", sum(u.rows for u in units if u.index not in done))
    if progress_stream is not None:
        progress.stream = progress_stream
    job = ScoreJob(cfg, embedder if in_process else None)
    result = cfg.run(job, progress)
    statuses, errors = Counter(), Counter()
    for report in store.unit_reports().values():
        statuses.update(report["status"])
        errors.update(report["errors"])
    return ScoreSummary.of(result, len(units), statuses, errors)


def planned_store(cfg: ScoreConfig, embedder: ClipEmbedder) -> RunStore:
    """The run store of `cfg`: the existing one, checked against its settings, or a new one, planned."""
    store = RunStore.open_or_create(
        cfg.store,
        shard_rows=cfg.shard_rows,
        image_dim=embedder.dim,
        text_dim=embedder.dim,
        extra_columns=list(cfg.scorers),
        config=cfg.value_settings(embedder.describe()),
    )
    if not store.planned:
        store.plan(scan(cfg.inputs))
    return store


def load_embedder(cfg: ScoreConfig, device: str) -> ClipEmbedder:
    return ClipEmbedder(
        None if cfg.clip_config else cfg.clip_model,
        pretrained=cfg.clip_pretrained,
        random_init=cfg.clip_random_init,
        config_file=cfg.clip_config,
        device=device,
        image_batch_size=cfg.batch_size,
    )


class ScoreJob:
    """The score stage as an executor job (engine.executors): picklable, models load where it runs."""

    def __init__(self, cfg: ScoreConfig, embedder: ClipEmbedder | None = None):
        self.cfg = cfg
        self._embedder = embedder
        self._loaded: _Loaded | None = None

    def __getstate__(self):
        return {"cfg": self.cfg, "_embedder": None, "_loaded": None}

    def pending_units(self) -> list[int]:
        store = RunStore.open(self.cfg.store)
        done = store.done_units()
        return [u.index for u in store.units() if u.index not in done]

    def run_units(self, units: Iterable[int], rank: int, emit) -> None:
        """Score `units` in order, each written whole then marked done; a background thread reads and
        decodes ahead, across unit boundaries."""
        cfg = self.cfg
        store = RunStore.open(cfg.store)
        by_index = store.units()
        units = [by_index[i] for i in units]
        if not units:
            return
        loaded = self._load()
        work = _read_and_decode(store, units, loaded.decoder, cfg.batch_size)
        columns, times = None, StageTimes()
        for unit, batch in prefetch(work, cfg.prefetch_batches, "pixsift-read-decode"):
            columns = columns or UnitColumns(store, unit)
            if batch is not None:
                start, candidates, decoded, read_decode_seconds = batch
                times.merge(read_decode_seconds)
                columns.fill(start, candidates, decoded, loaded.scorer, times)
                continue
            with times.stage("write"):
                store.write_unit(unit, columns.values)
            emit(UnitReport(rank, unit.index, unit.rows, columns.failed, dict(times.seconds)))
            columns, times = None, StageTimes()

    def close(self) -> None:
        if self._loaded is not None:
            self._loaded.decoder.close()
            self._loaded = None

    def _load(self) -> _Loaded:
        if self._loaded is None:
            cfg = self.cfg
            device = torch.device(cfg.resolved_device())
            if device.type == "cuda":
                device = torch.device("cuda", torch.cuda.current_device())
            embedder = self._embedder or load_embedder(cfg, str(device))
            scorers = [MlpScorer(path, name, device) for name, path in cfg.scorers.items()]
            decoder = make_decoder(
                cfg.decoder,
                device,
                max_pixels=cfg.max_pixels,
                threads=cfg.decode_threads,
                batch_size=cfg.batch_size,
            )
            scorer = BatchScorer(embedder, scorers, cfg.fidelity_size, cfg.fidelity_via)
            self._loaded = _Loaded(decoder, scorer)
        return self._loaded


@dataclass
class _Loaded:
    """What a worker loads once and keeps for all the units it runs."""

    decoder: Decoder
    scorer: BatchScorer


class BatchScorer:
    """Embeddings and scores for a batch of decoded images and their captions, on the device."""

    def __init__(self, embedder: ClipEmbedder, extra: list[MlpScorer], fidelity_size: int, fidelity_via: int):
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

    def split_on_oom(self, images, captions, times) -> tuple[dict[str, torch.Tensor] | None, list[int]]:
        """Scores, retrying halves on GPU out-of-memory; also the indices of images that alone do not fit."""
        return split_on_oom(
            lambda idx: self([images[i] for i in idx], [captions[i] for i in idx], times),
            range(len(images)),
            lambda parts: {k: torch.cat([p[k] for p in parts]) for k in parts[0]},
        )


class UnitColumns:
    """The score columns of one work unit as numpy arrays, filled batch by batch."""

    def __init__(self, store: RunStore, unit: Unit):
        self.values = {
            c.name: np.full(
                (unit.rows, *store.arrays[c.name].shape[1:]),
                c.fill,
                dtype=object if c.dtype == "str" else c.dtype,
            )
            for c in store.score_columns
        }
        self.values["status"][:] = "failed"

    @property
    def failed(self) -> int:
        return int((self.values["status"] == "failed").sum())

    def fill(
        self,
        start: int,
        candidates: list[Candidate],
        decoded: dict[int, DecodeResult],
        scorer: BatchScorer,
        times: StageTimes,
    ) -> None:
        v = self.values
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
        scores, oom = scorer.split_on_oom(images, [candidates[i].caption for i in good], times)
        for j in oom:
            v["error"][start + good[j]] = failure("oom", "the image alone does not fit in GPU memory")
        scored = [i for j, i in enumerate(good) if j not in set(oom)]
        if scores is None:
            return
        rows = np.asarray(scored) + start
        for name, tensor in scores.items():
            v[name][rows] = tensor.float().cpu().numpy()
        v["status"][rows] = "ok"


def content_hash(data: bytes) -> int:
    """The 64-bit BLAKE2b digest of `data` as a signed int64."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def _read_and_decode(store: RunStore, units: list[Unit], decoder, batch_size: int) -> Iterator[tuple]:
    """(unit, batch) for each batch of each unit, then (unit, None) when the unit is complete.

    A batch is (first row in the unit, candidates, {index in batch: DecodeResult}, seconds per stage).
    """
    for unit in units:
        for start, batch, times in timed_batches(read_candidates(store.read_plan(unit)), batch_size):
            readable = [i for i, c in enumerate(batch) if not c.error]
            with times.stage("decode"):
                results = decoder.decode([batch[i].data for i in readable]) if readable else []
            yield unit, (start, batch, dict(zip(readable, results, strict=True)), dict(times.seconds))
        yield unit, None
