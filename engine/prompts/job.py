"""The prompts stage: a taxonomy -> a balanced plan -> prompts written (and rewritten) by local LLMs -> a
filtered pool that `pixsift generate t2i --captions OUT/pool.parquet` reads.

The driver draws the plan (engine.prompts.taxonomy) into `plan.parquet` and cuts it into work units of
`prompts_per_unit`; workers (processes of this machine or Ray actors, engine.executors.config) write each
pending unit's prompts in batches, the sampling of each batch seeded from (seed, unit, batch), so a unit
written again after a kill is the same text; then the driver filters the written units into the pool
(engine.prompts.pool). A killed job restarted with the same command writes only the missing units.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pixsift.engine.core.batches import batched
from pixsift.engine.core.candidates import parts_hash
from pixsift.engine.core.device import model_dtype, worker_device
from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.progress import Progress, StageTimes, format_seconds, stage_line
from pixsift.engine.executors.base import UnitProgress
from pixsift.engine.prompts.config import PromptsConfig
from pixsift.engine.prompts.llm import ChatLanguageModel, LanguageModel
from pixsift.engine.prompts.pool import POOL_FILE, REJECTS_FILE, PoolCounts, build_pool
from pixsift.engine.prompts.taxonomy import draw_plan
from pixsift.engine.prompts.units import read_plan_unit, remove_partials, unit_path, write_plan, write_unit
from pixsift.engine.store.lock import writing


@dataclass
class PromptsSummary:
    prompts: int  # written by this call
    wall_seconds: float
    stage_seconds: dict[str, float]
    units_written: int
    units_total: int
    planned: int
    pool: PoolCounts
    out: Path

    def text(self) -> str:
        rate = self.prompts / self.wall_seconds if self.wall_seconds > 0 else 0.0
        pool = self.pool
        reasons = ", ".join(f"{kind} {n:,}" for kind, n in pool.rejects.most_common()) or "none"
        cells, fewest, most = pool.cells
        return "\n".join(
            [
                f"wrote {self.prompts:,} prompts in {format_seconds(self.wall_seconds)} "
                f"({rate:,.2f} prompts/s); {self.units_written} of {self.units_total} units written now, "
                "the rest were done before",
                f"pool: {pool.kept:,} of {self.planned:,} planned prompts kept ({self.out / POOL_FILE}); "
                f"rejected {sum(pool.rejects.values()):,} ({reasons}; rows and reasons in "
                f"{self.out / REJECTS_FILE})",
                f"kept per category x style cell: {fewest:,} to {most:,} (of {cells:,} cells planned)",
                stage_line(self.stage_seconds, "workers"),
            ]
        )


def write_prompts(cfg: PromptsConfig, progress_stream=None) -> PromptsSummary:
    """Plan, write the pending units, and filter the pool; the summary of this call."""
    taxonomy = cfg.load_taxonomy()
    count = cfg.planned_count(taxonomy)
    for folder in (cfg.writer, cfg.enhancer, cfg.perplexity_model):
        if folder and not os.path.isfile(os.path.join(folder, "config.json")):
            raise BadInput(folder, "not a local model folder (no config.json)")
    with writing(cfg.out, "output folder"):
        out = Path(cfg.out)
        cfg.claim_output()
        remove_partials(out)
        write_plan(out, draw_plan(taxonomy, count, cfg.seed), cfg.names(), cfg.prompts_per_unit)
        per_unit = cfg.prompts_per_unit
        job = PromptsJob(cfg, -(-count // per_unit))
        todo = sum(min(per_unit, count - u * per_unit) for u in job.pending_units())
        progress = Progress("prompts", todo, noun="prompts", stream=progress_stream)
        result = cfg.run(job, progress)
        pool = build_pool(cfg, out, job.units, progress_stream)
        return PromptsSummary(
            result.rows, result.wall_seconds, result.stage_seconds, result.units, job.units, count, pool, out
        )


class PromptsJob:
    """The units to write (picklable; the models load on first use in the process that runs units)."""

    def __init__(self, cfg: PromptsConfig, units: int):
        self.cfg, self.units = cfg, units
        self._models: dict[str, ChatLanguageModel] | None = None
        self._times = StageTimes()

    def __getstate__(self):
        return {"cfg": self.cfg, "units": self.units, "_models": None, "_times": StageTimes()}

    def pending_units(self) -> list[int]:
        return [u for u in range(self.units) if not unit_path(Path(self.cfg.out), u).exists()]

    def run_units(self, units: Iterable[int], rank: int, emit) -> None:
        cfg, out = self.cfg, Path(self.cfg.out)
        taxonomy = cfg.load_taxonomy()
        for unit in units:
            models, times = self._load(), self._times
            before = dict(times.seconds)
            plan = read_plan_unit(out, unit)
            progress, rows = UnitProgress(emit, rank, unit), []
            for b, batch in enumerate(batched(plan, cfg.batch_size)):
                asks = [taxonomy.instruction(row) for row in batch]
                with times.stage("write"):
                    written = self._write(models["writer"], asks, unit, b, "write")
                enhanced = [None] * len(batch)
                if "enhancer" in models:
                    with times.stage("enhance"):
                        asks = [taxonomy.enhance.format(prompt=w.text) for w in written]
                        enhanced = self._write(models["enhancer"], asks, unit, b, "enhance")
                rows += [_row(p, w, e) for p, w, e in zip(batch, written, enhanced, strict=True)]
                if "perplexity" in models:
                    with times.stage("perplexity"):
                        _add_perplexity(models["perplexity"], rows[-len(batch) :])
                progress.done_so_far(len(rows))
            with times.stage("save"):
                write_unit(out, unit, rows)
            progress.finished(len(rows), 0, {k: v - before.get(k, 0.0) for k, v in times.seconds.items()})

    def close(self) -> None:
        self._models = None

    def _write(self, model: ChatLanguageModel, instructions: list[str], unit: int, batch: int, role: str):
        cfg = self.cfg
        limit = cfg.max_new_tokens if role == "write" else cfg.enhance_max_new_tokens
        seed = _seed(cfg.seed, unit, batch, role)
        return model.write(instructions, seed, limit, cfg.temperature, cfg.top_p)

    def _load(self) -> dict[str, ChatLanguageModel]:
        if self._models is None:
            cfg = self.cfg
            device = worker_device(cfg.device)
            dtype = model_dtype(cfg.dtype, device)
            roles = {"writer": cfg.writer, "enhancer": cfg.enhancer, "perplexity": cfg.perplexity_model}
            folders = {role: folder for role, folder in roles.items() if folder}
            with self._times.stage("load"):
                self._models = {
                    role: _language_model(folder, device, dtype, cfg, len(folders))
                    for role, folder in folders.items()
                }
        return self._models


def _language_model(folder: str, device, dtype, cfg: PromptsConfig, models: int) -> ChatLanguageModel:
    """The model of `folder` on the backend `cfg` names, one of the stage's `models`."""
    if cfg.backend == "vllm":
        from pixsift.engine.prompts.vllm_llm import VllmLanguageModel

        return VllmLanguageModel(folder, device, dtype, cfg, models)
    return LanguageModel(folder, device, dtype)


def _row(planned: dict, written, enhanced) -> dict:
    row = {"id": planned["id"]}
    for name, generated in (("prompt", written), ("enhanced_prompt", enhanced)):
        row[name] = generated.text if generated else None
        row[f"{name}_truncated"] = generated.hit_limit if generated else None
        row[f"{name}_tokens"] = generated.tokens if generated else None
        row[f"{name}_perplexity"] = None
    return row


def _add_perplexity(model: ChatLanguageModel, rows: list[dict]) -> None:
    for name in ("prompt", "enhanced_prompt"):
        present = [r for r in rows if r[name] is not None]
        if present:
            for row, value in zip(present, model.perplexity([r[name] for r in present]), strict=True):
                row[f"{name}_perplexity"] = value


def _seed(seed: int, unit: int, batch: int, role: str) -> int:
    return parts_hash(seed, unit, batch, role) & (2**63 - 1)
