"""The score stage: candidates -> decode -> CLIP embeddings and our kernels -> the run store.

The driver plans the job (engine.io.sources scans the inputs, engine.store.run_store writes one row per
candidate; run again with more input files, it plans those alone: engine.store.input_record), then an
executor runs the unfinished work units: worker processes on this machine, or
actors on a Ray cluster (engine.executors). Inside a worker a background thread and a pool of threads
read, decode and prepare the next batches (engine.score.prepare) while the current one is embedded and
scored, across unit boundaries (engine.store.unit_job). A batch that runs out of memory is split in
halves and retried; an image that alone does not fit gets a failed row. A unit is written whole, then
marked done with the decoder that read it: a killed job restarted with the same command redoes only
unmarked units and ends with the same values.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from pixsift.engine.core.batches import timed_batches
from pixsift.engine.core.device import worker_device
from pixsift.engine.core.progress import StageTimes
from pixsift.engine.decode.decoders import make_decoder
from pixsift.engine.io.input_files import fingerprint, input_files
from pixsift.engine.io.paths import expand_inputs
from pixsift.engine.io.sources import read_candidates, scan_file, within_failure_limit
from pixsift.engine.io.tar_scan import shard_name
from pixsift.engine.score.batch import BatchScorer, fill_columns, unit_columns
from pixsift.engine.score.config import ScoreConfig
from pixsift.engine.score.dino import DinoPairs
from pixsift.engine.score.edit_pairs import SourceReader
from pixsift.engine.score.embed import ClipEmbedder
from pixsift.engine.score.prepare import Prepared, Preparer
from pixsift.engine.score.scorers import load_scorer
from pixsift.engine.store.input_record import (
    InputChanges,
    PlannedFiles,
    input_changes,
    kept_records,
    refuse_unconfirmed,
    retired_rows,
)
from pixsift.engine.store.lock import writing
from pixsift.engine.store.run_store import RunStore
from pixsift.engine.store.schema import EDIT_DINO
from pixsift.engine.store.unit_job import StoreUnitJob, UnitJobSummary, run_store_job
from pixsift.engine.store.unit_store import Unit

DEFAULT_SHARD_ROWS = {"cuda": 4096, "cpu": 512}


def score(cfg: ScoreConfig, progress_stream=None) -> UnitJobSummary:
    """Plan the job (once) and run its unfinished units on the configured executor; the summary of
    this call."""
    paths = expand_inputs(cfg.inputs)  # a missing input is named before any model loads or store is made
    with writing(cfg.store, "run store") as fence:
        in_process = cfg.runs_in_process()
        # In-process runs keep the driver's model; other workers load their own on their device.
        embedder = load_embedder(cfg, cfg.resolved_device() if in_process else "cpu")
        store = planned_store(cfg, embedder, paths)
        job = ScoreJob(cfg, embedder if in_process else None)
        return run_store_job(store, job, cfg, "score", "scored", "store", progress_stream, fence)


def planned_store(cfg: ScoreConfig, embedder: ClipEmbedder, paths: list[str] | None = None) -> RunStore:
    """The run store of `cfg`: the existing one, checked against its settings, or a new one, planned from
    the inputs (`paths`, when they were expanded already); an existing one plans the input files it has not
    seen (engine.store.input_record)."""
    files = input_files(expand_inputs(cfg.inputs) if paths is None else paths, cfg.allow_outside_paths)
    planned = RunStore.planned_at(cfg.store)  # the store is opened once
    store = RunStore.checked_or_created(
        planned,
        cfg.store,
        shard_rows=shard_rows(cfg, planned),
        image_dim=embedder.dim,
        text_dim=embedder.dim,
        extra_columns=[*cfg.scorers, *([EDIT_DINO] if cfg.edit_dino else [])],
        config=cfg.value_settings(embedder.describe()),
    )
    if store.planned:
        changes = input_changes(store, files)
        if not changes:
            return store
        refuse_unconfirmed(changes, cfg.allow_changed_inputs)
        print(f"score: inputs since the store was planned: {changes.text()}; planning their candidates, "
              "every row scored before is kept", file=sys.stderr)  # fmt: skip
    else:
        changes = InputChanges(new=files, fingerprints={f.path: fingerprint(f.path) for f in files})
    kept = kept_records(store, changes)  # a new store has none, and no rows
    shards = {shard_name(r["path"]): r["path"] for r in kept if r["path"].endswith(".tar")}
    planning = PlannedFiles(changes.fingerprints, store.n_rows, cfg.limit)
    todo = changes.new + [file for _, file in changes.changed]
    entries = planning.entries(
        todo, lambda file: scan_file(file, shards, cfg.allow_outside_paths, cfg.columns)
    )
    checked = within_failure_limit(entries, cfg.max_scan_failures, "inputs " + " ".join(cfg.inputs))
    if store.planned:
        store.extend(checked, lambda: kept + planning.records, retired_rows(changes))
    else:
        store.plan(checked, lambda: planning.records)
    return store


def shard_rows(cfg: ScoreConfig, planned: RunStore | None) -> int:
    """--shard-rows; else the size the `planned` store was made with; else the default for where the
    units run."""
    if cfg.shard_rows:
        return cfg.shard_rows
    if planned is not None:
        return planned.shard_rows
    on_gpus = cfg.executor == "ray" or cfg.resolved_device().startswith("cuda")
    return DEFAULT_SHARD_ROWS["cuda" if on_gpus else "cpu"]


def load_embedder(cfg: ScoreConfig, device: str) -> ClipEmbedder:
    return ClipEmbedder(
        None if cfg.clip_config else cfg.clip_model,
        pretrained=cfg.clip_pretrained,
        random_init=cfg.clip_random_init,
        config_file=cfg.clip_config,
        device=device,
        image_batch_size=cfg.batch_size,
        text_prefix=cfg.text_prefix,
    )


@dataclass
class _Loaded:
    """What a worker loads once and keeps for all the units it runs."""

    device: torch.device
    preparer: Preparer
    scorer: BatchScorer


class ScoreJob(StoreUnitJob[RunStore]):
    """The score stage as an executor job: the models load where it runs (or it keeps the driver's)."""

    prefetch_thread = "pixsift-read-prepare"

    def __init__(self, cfg: ScoreConfig, embedder: ClipEmbedder | None = None):
        super().__init__(cfg)
        self._embedder = embedder

    def __getstate__(self):
        return {**super().__getstate__(), "_embedder": None}

    def open_store(self, read_only: bool) -> RunStore:
        return RunStore.open(self.cfg.store, read_only=read_only)

    def load(self, store: RunStore) -> _Loaded:
        cfg = self.cfg
        device = worker_device(cfg.device)
        embedder = self._embedder or load_embedder(cfg, str(device))
        kinds = cfg.scorer_kinds
        scorers = [load_scorer(path, name, device, kinds.get(name)) for name, path in cfg.scorers.items()]
        threads = cfg.cpu_threads()
        decoder = make_decoder(
            cfg.decoder, device, limits=cfg.image_limits, threads=threads, batch_size=cfg.batch_size
        )
        print(f"score: decoding with {decoder.name} on {device}, {threads} CPU threads", file=sys.stderr)
        fidelity = (cfg.fidelity_size, cfg.fidelity_via)
        dino = DinoPairs(cfg.edit_dino, device) if cfg.edit_dino else None
        scorer = BatchScorer(embedder, scorers, *fidelity, dino=dino is not None)
        sources = SourceReader(store, decoder)
        models = [s for s in scorers if getattr(s, "model_inputs", False)]
        preparer = Preparer(
            decoder, embedder, fidelity, device, threads, sources, scorer.sources, dino, models
        )
        return _Loaded(device, preparer, scorer)

    def release(self, loaded: _Loaded) -> None:
        loaded.preparer.close()
        loaded.preparer.decoder.close()

    def unit_info(self, loaded: _Loaded) -> dict:
        return {"decoder": loaded.preparer.decoder.name}

    def stage_device(self, loaded: _Loaded) -> torch.device:
        return loaded.device

    def read(self, loaded: _Loaded, store: RunStore, unit: Unit) -> Iterator[Prepared]:
        candidates = read_candidates(store.read_plan(unit), self.cfg.max_bytes)
        for start, batch, times in timed_batches(candidates, self.cfg.batch_size):
            yield loaded.preparer.prepare(start, batch, times)

    def new_columns(self, store: RunStore, unit: Unit) -> dict[str, np.ndarray]:
        return unit_columns(store, unit)

    def fill(
        self, loaded: _Loaded, columns: dict[str, np.ndarray], batch: Prepared, times: StageTimes
    ) -> None:
        fill_columns(columns, batch, loaded.scorer, times)
