"""The training loop: Janus-Pro's image-generation loss on a token store, in a DeepSpeed ZeRO engine.

One process per GPU as the `deepspeed` launcher starts them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT
in the environment; NCCL), or one plain process (gloo on the CPU). Each optimizer step accumulates
global_batch / (micro_batch * world_size) micro-batches and logs loss, lr, gradient norm, tokens/s, MFU and
memory; each stage is an NVTX range. Checkpoints every N steps and at the end; `resume` continues from the
newest one with the same weights, optimizer, schedule, data position and RNG states.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from pixsift.engine.core.errors import Exists
from pixsift.engine.core.progress import StageTimes, format_seconds, stage_line
from pixsift.engine.core.settings import check_settings
from pixsift.engine.io.ownership import check_replaceable, claim
from pixsift.kernels.optional import require
from pixsift.trainer.common.model_folder import check_same_model, require_model_folder
from pixsift.trainer.train import checkpoint
from pixsift.trainer.train.config import OUTPUT_KIND, RESULT_SECTIONS, TrainConfig
from pixsift.trainer.train.data import MixedTaskBatchSampler, TokenDataset
from pixsift.trainer.train.deepspeed_config import deepspeed_config
from pixsift.trainer.train.flops import TrainingFlops, peak_flops
from pixsift.trainer.train.metrics import MetricsLog, memory_gib, step_line
from pixsift.trainer.train.optim import adamw, lr_scheduler, param_groups

# Locations (folders move; the checkpoint holds the weights) and a speed knob.
UNCHECKED_ON_RESUME = (("model", "path"), ("data", "tokens"), ("data", "num_workers"))


@dataclass(frozen=True)
class Process:
    rank: int
    world_size: int
    device: torch.device


@dataclass
class TrainResult:
    steps: int  # optimizer steps done in all, resumed ones included
    total_steps: int
    losses: list[float] = field(default_factory=list)  # of the steps this call ran
    export_dir: Path | None = None
    seconds: float = 0.0


def init_distributed() -> Process:
    """Join (or make) the process group: NCCL on GPUs, gloo on the CPU; a lone process is rank 0 of 1."""
    deepspeed = require("deepspeed", "pixsift train")
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
        # DeepSpeed's CPU backend JIT-compiles a shared-memory collective op (about a minute on first use
        # on a machine) to speed up CPU all-reduces; CPU runs are tests and samples, gloo alone serves them.
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    deepspeed.init_distributed(dist_backend=backend, auto_mpi_discovery=False)
    return Process(dist.get_rank(), dist.get_world_size(), device)


def build_data(cfg: TrainConfig, rank: int, world_size: int) -> tuple[TokenDataset, MixedTaskBatchSampler]:
    from transformers import JanusProcessor

    from pixsift.trainer.common.token_store import TokenStore

    processor = JanusProcessor.from_pretrained(cfg.model.path, local_files_only=True)
    data = cfg.data
    tokens = TokenStore.open(data.tokens)
    check_same_model(tokens.url, tokens.model_info, cfg.model.path)
    dataset = TokenDataset(
        tokens,
        processor,
        data.max_seq_len,
        seed=data.seed,
        prompt_drop=data.cfg_drop,
        source_drop=data.source_vq_drop,
    )
    sampler = MixedTaskBatchSampler(
        dataset.lengths,
        dataset.edit,
        cfg.parallel.micro_batch,
        rank=rank,
        world_size=world_size,
        seed=data.seed,
        accumulation_steps=cfg.parallel.accumulation_steps(world_size),
    )
    return dataset, sampler


def total_steps(cfg: TrainConfig, sampler: MixedTaskBatchSampler) -> int:
    steps = cfg.schedule.epochs * sampler.batches_per_epoch // sampler.accumulation_steps
    return min(steps, cfg.schedule.max_steps) if cfg.schedule.max_steps else steps


def build_engine(model, cfg: TrainConfig, steps: int, world_size: int):
    deepspeed = require("deepspeed", "pixsift train")
    groups = param_groups(model, cfg.optim.weight_decay, cfg.optim.decay_norms)
    if cfg.parallel.offload_optimizer:
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        optimizer = DeepSpeedCPUAdam(groups, lr=cfg.optim.lr, betas=tuple(cfg.optim.betas), eps=cfg.optim.eps)
    else:
        optimizer = adamw(groups, cfg.optim)
    engine, *_ = deepspeed.initialize(
        model=model,
        optimizer=optimizer,
        lr_scheduler=lr_scheduler(optimizer, cfg.schedule, steps),
        config=deepspeed_config(cfg, world_size),
    )
    engine.train()
    model.janus.model.vqmodel.eval()
    return engine


def train(cfg: TrainConfig, resume: bool = False, say=print) -> TrainResult:
    """Train as `cfg` says (resuming from the newest complete checkpoint when `resume`); the result."""
    # ZeRO-3 replaces torch.nn.functional.linear for the whole process with its memory-efficient version
    # and leaves it so; put the original back, so that nothing after training computes differently.
    linear = torch.nn.functional.linear
    try:
        return _train(cfg, resume, say)
    finally:
        torch.nn.functional.linear = linear


def _train(cfg: TrainConfig, resume: bool, say) -> TrainResult:
    from pixsift.trainer.train.loss import ImageGenerationModel
    from pixsift.trainer.train.trainable import load_janus

    started = time.perf_counter()
    require_model_folder(cfg.model.path)
    check_run_folder(cfg, resume)
    proc = init_distributed()
    lead = proc.rank == 0
    say = say if lead else _silent
    dataset, sampler = build_data(cfg, proc.rank, proc.world_size)
    say(dataset.report())
    steps = total_steps(cfg, sampler)
    accumulation = sampler.accumulation_steps
    torch.manual_seed(cfg.data.seed)  # LoRA's initial adapters
    model = ImageGenerationModel(
        load_janus(cfg.model, cfg.load_dtype),
        every_module=cfg.parallel.zero_stage == 3,
        first_code=cfg.loss.first_code,
    )
    flops = TrainingFlops.of(
        model.janus.config, cfg.model.trainable, cfg.model.lora_rank, tuple(cfg.model.lora_targets)
    )
    peak = peak_flops(proc.device, cfg.logging.peak_tflops)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)  # before ZeRO-3 partitions
    if proc.device.type == "cuda":
        model.to(proc.device)  # as DeepSpeed would, before the optimizer is built: AdamW's fused kernel
    engine = build_engine(model, cfg, steps, proc.world_size)

    folder = cfg.checkpoint_dir
    position = checkpoint.load(engine, folder, say) if resume else None
    step = 0 if position is None else position.step
    if position is None:
        sampler.set_epoch(0)
    else:
        sampler.load_state_dict(position.data)
        say(f"resumed from {folder / checkpoint.tag(step)}: step {step}, epoch {sampler.epoch}")
    if lead:
        claim(cfg.out, OUTPUT_KIND)  # before anything is written into it
    log = MetricsLog(cfg.log_path, lead, None if position is None else step)
    if lead:
        (Path(cfg.out) / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    say(_plan_line(cfg, steps, sampler, proc.world_size, trainable))

    result = TrainResult(steps=step, total_steps=steps)
    times = StageTimes(proc.device)  # CUDA events on a GPU
    while step < steps:
        epoch, consumed = sampler.epoch, sampler.batches_consumed
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=dataset.collate,
            num_workers=cfg.data.num_workers,
            pin_memory=proc.device.type == "cuda",
        )
        batches = iter(loader)
        while step < steps and consumed < sampler.batches_per_epoch:
            record = train_step(engine, batches, accumulation, proc, flops, peak, times)
            consumed += accumulation
            step += 1
            record.update(step=step, epoch=epoch)
            result.losses.append(record["loss"])
            log.write(record)
            if step % cfg.logging.every_steps == 0 or step == steps:
                say(step_line(record, steps))
            if step % cfg.checkpoint.every_steps == 0 or step == steps:
                with times.stage("checkpoint"):
                    data = sampler.state_dict(batches_consumed=consumed)
                    checkpoint.save(engine, folder, checkpoint.Position(step, data), cfg.checkpoint.keep_last)
        del batches, loader
        if consumed >= sampler.batches_per_epoch:
            sampler.set_epoch(epoch + 1)
    result.steps = step
    if cfg.checkpoint.export:
        from pixsift.trainer.train.export import export_hf

        with times.stage("export"):
            result.export_dir = export_hf(engine, cfg, cfg.export_dir)
        if result.export_dir:
            say(f"exported a Hugging Face checkpoint to {result.export_dir}")
    result.seconds = time.perf_counter() - started
    say(
        f"train: {result.steps} steps in {format_seconds(result.seconds)}; "
        + stage_line(times.seconds, "rank 0")
    )
    return result


def _plan_line(cfg: TrainConfig, steps: int, sampler, world_size: int, trainable: int) -> str:
    parallel, accumulation = cfg.parallel, sampler.accumulation_steps
    per_epoch = sampler.batches_per_epoch // accumulation
    return (
        f"train ({cfg.recipe or 'settings'}): {steps} steps ({cfg.schedule.epochs} epochs of {per_epoch}), "
        f"global batch {parallel.global_batch} = {parallel.micro_batch} x {world_size} ranks x "
        f"{accumulation} accumulation, ZeRO-{parallel.zero_stage}, {'bf16' if parallel.bf16 else 'fp32'}, "
        f"{trainable:,} trainable parameters"
    )


def check_run_folder(cfg: TrainConfig, resume: bool) -> None:
    """Refuse to start over on an earlier run's checkpoints, or to resume one with settings that change
    its results (model, data, optimizer, schedule, parallelism), or to write into a folder pixsift did
    not make as a training run."""
    check_replaceable(cfg.out, OUTPUT_KIND)
    if not resume:
        if checkpoint.latest(cfg.checkpoint_dir) is not None:
            raise Exists(
                cfg.out,
                "holds the checkpoints of an earlier run",
                "pass --resume to continue it, or use another --out",
            )
        return
    saved = Path(cfg.out) / "train_config.json"
    if saved.is_file():
        before, now = json.loads(saved.read_text()), cfg.to_dict()
        for settings in (before, now):
            for section, key in UNCHECKED_ON_RESUME:
                settings.get(section, {}).pop(key, None)
        check_settings(
            f"training run {cfg.out}",
            {k: before.get(k) for k in RESULT_SECTIONS},
            {k: now[k] for k in RESULT_SECTIONS},
        )


def train_step(
    engine, batches, accumulation: int, proc: Process, flops, peak, times: StageTimes | None = None
) -> dict:
    """One optimizer step over `accumulation` micro-batches; the step's record (all ranks reduced). The
    host waits for the device once, for the reduced record: the losses add up on the device, the counts
    come from the batches before they are moved there."""
    times = times or StageTimes()
    start = time.perf_counter()
    lr = engine.get_lr()[0]
    loss_sum = torch.zeros((), dtype=torch.float64, device=proc.device)
    counts = np.zeros(5)  # tokens, FLOPs, padded tokens, samples, editing samples
    for _ in range(accumulation):
        with times.stage("data", host=True):
            batch = next(batches)
            counts += [
                batch.n_tokens,
                flops.batch(batch),
                batch.input_ids.numel(),
                len(batch.image_start),
                len(batch.source_row),
            ]
            batch = batch.to(proc.device, non_blocking=True)
        with times.stage("forward"):
            loss = engine(batch)
        with times.stage("backward"):
            engine.backward(loss)
        with times.stage("step"):
            engine.step()
        loss_sum += loss.detach()
    with times.stage("reduce metrics"):
        reduced = torch.cat([loss_sum[None], torch.from_numpy(counts).to(proc.device)])
        dist.all_reduce(reduced)
        total_loss, tokens, step_flops, padded, samples, edits = reduced.tolist()
    seconds = time.perf_counter() - start
    return {
        "loss": total_loss / (accumulation * proc.world_size),
        "lr": lr,
        "grad_norm": float(engine.get_global_grad_norm()),
        "tokens": int(tokens),
        "padding": 1 - tokens / padded,  # of the step's padded token positions
        "edit_fraction": edits / samples,
        "tokens_per_s": tokens / seconds,
        "flops": step_flops,
        "mfu": None if peak is None else step_flops / seconds / (peak * proc.world_size),
        "step_seconds": seconds,
        "memory_gib": memory_gib(proc.device),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _silent(*args, **kwargs) -> None:
    pass
