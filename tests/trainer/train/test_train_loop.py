"""The training loop on the CPU with the tiny random Janus in fp32: DeepSpeed ZeRO-2/3 against a plain
PyTorch loop, resume after a kill, frozen weights through ZeRO-3 checkpoints, the exported Hugging Face
checkpoint, LoRA, the recipes, FLOPs and the schedule."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.settings import SettingsMismatch
from pixsift.trainer.train.config import load_config
from pixsift.trainer.train.flops import TrainingFlops, peak_flops
from pixsift.trainer.train.optim import WarmupCosine, adamw, lr_scheduler, param_groups
from tests.fixtures.tiny_janus import janus_config
from tests.helpers.cli import user_error
from tests.helpers.processes import kill_when
from tests.helpers.token_stores import make_token_store

pytest.importorskip("deepspeed")
pytest.importorskip("peft")

warnings.filterwarnings("ignore", message=".*reduce_scatter_tensor.*", category=FutureWarning)


class Planted:
    """Pickled, it runs code when loaded: what an attacker would put in a checkpoint folder."""

    def __reduce__(self):
        return (exec, ("raise SystemExit('a planted pickle ran')",))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_janus):
    """A run folder with the tiny model (as `model`) and a token store of 12 samples made for it."""
    root = tmp_path_factory.mktemp("train")
    (root / "model").symlink_to(tiny_janus, target_is_directory=True)
    make_token_store(root / "tokens", tiny_janus, n_t2i=8, n_edit=4)
    return root


def tiny_config(root, out: str, *overrides: str):
    """The tiny recipe: 12 samples, global batch 4 = micro 2 x 2 accumulation, 2 epochs of 3 steps,
    checkpoints every 2 steps, the newest 2 kept."""
    cfg = load_config("tiny", list(overrides))
    cfg.data.tokens, cfg.model.path, cfg.out = str(root / "tokens"), str(root / "model"), str(root / out)
    return cfg


def plain_pytorch_losses(cfg) -> list[float]:
    """The same training without DeepSpeed: same init, batches, AdamW, schedule and clipping."""
    from pixsift.trainer.train.job import build_data, total_steps
    from pixsift.trainer.train.loss import ImageGenerationModel
    from pixsift.trainer.train.trainable import load_janus

    dataset, sampler = build_data(cfg, rank=0, world_size=1)
    steps, accumulation = total_steps(cfg, sampler), sampler.accumulation_steps
    torch.manual_seed(cfg.data.seed)
    model = ImageGenerationModel(load_janus(cfg.model, "float32"), first_code=cfg.loss.first_code).train()
    optimizer = adamw(param_groups(model, cfg.optim.weight_decay, cfg.optim.decay_norms), cfg.optim)
    scheduler = lr_scheduler(optimizer, cfg.schedule, steps)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:  # ZeRO steps every trainable weight, a weight unused by the step's batches too
        p.grad = torch.zeros_like(p)
    losses = []
    for epoch in range(cfg.schedule.epochs):
        sampler.set_epoch(epoch)
        batches = [dataset.collate([dataset[key] for key in keys]) for keys in sampler]
        for start in range(0, len(batches), accumulation):
            total = 0.0
            for batch in batches[start : start + accumulation]:
                loss = model(batch)
                (loss / accumulation).backward()
                total += loss.item()
            torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=False)
            losses.append(total / accumulation)
    return losses[:steps]


def test_zero2_matches_plain_pytorch_and_resume_continues_the_curve(tiny):
    from pixsift.trainer.train.job import train

    cfg = tiny_config(tiny, "zero2", "parallel.zero_stage=2")
    result = train(cfg)
    assert result.steps == result.total_steps == 6
    assert result.losses == pytest.approx(plain_pytorch_losses(cfg), rel=1e-5)
    log = read_log(cfg.log_path)
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert [r["epoch"] for r in log] == [0, 0, 0, 1, 1, 1]
    assert [r["loss"] for r in log] == result.losses
    assert all(r["tokens_per_s"] > 0 and r["grad_norm"] > 0 and r["mfu"] is None for r in log)
    assert log[0]["lr"] == pytest.approx(cfg.optim.lr) and log[-1]["lr"] == pytest.approx(0.15 * cfg.optim.lr)
    folder = cfg.checkpoint_dir
    assert sorted(p.name for p in folder.glob("step-*")) == ["step-00000004", "step-00000006"]  # keep_last 2

    # Killed inside the step-6 save, after DeepSpeed's files and before the marker that completes it:
    # the step-4 checkpoint (mid-epoch 1) is the newest complete one, and the resume says so.
    (folder / "step-00000006" / "pixsift-complete.json").unlink()
    said = []
    resumed = train(cfg, resume=True, say=said.append)
    assert any("step-00000006" in line and "incomplete" in line for line in said)
    assert resumed.losses == pytest.approx(result.losses[4:], rel=1e-6)
    assert [r["loss"] for r in read_log(cfg.log_path)] == pytest.approx(result.losses, rel=1e-6)

    # A planted pickle in the newest checkpoint is refused before anything of it runs.
    torch.save({"module": Planted()}, folder / "step-00000006" / "mp_rank_00_model_states.pt")
    checkpoint_files = json.loads((folder / "step-00000006" / "pixsift-complete.json").read_text())["files"]
    checkpoint_files["mp_rank_00_model_states.pt"] = (
        (folder / "step-00000006" / "mp_rank_00_model_states.pt").stat().st_size
    )
    (folder / "step-00000006" / "pixsift-complete.json").write_text(
        json.dumps({"step": 6, "files": checkpoint_files})
    )
    with pytest.raises(BadInput, match="refusing to load a checkpoint file"):
        train(cfg, resume=True)

    with pytest.raises(FileExistsError, match="pass --resume"):
        train(cfg)
    changed = tiny_config(tiny, "zero2", "parallel.zero_stage=2", "optim.lr=2e-3", "data.num_workers=1")
    with pytest.raises(SettingsMismatch, match=r"optim.lr: 0.001 before, 0.002 now") as refused:
        train(changed, resume=True)
    assert "num_workers" not in str(refused.value)


def test_a_run_killed_with_sigkill_resumes_on_the_uninterrupted_curve(tiny):
    from pixsift.trainer.train.job import train

    settings = ["schedule.epochs=16", "checkpoint.every_steps=3", "checkpoint.export=false"]
    uninterrupted = train(tiny_config(tiny, "uninterrupted", *settings)).losses
    out = tiny / "killed"
    command = [
        sys.executable,
        "-m",
        "pixsift.engine.cli",
        "train",
        "--recipe",
        "tiny",
        "--tokens",
        str(tiny / "tokens"),
    ]
    command += ["--model", str(tiny / "model"), "--out", str(out), "--resume"]
    command += [f"--set={item}" for item in settings]
    # A process of its own, not a rank of this process's group (which set these variables).
    env = {
        k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")
    }
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    latest = out / "checkpoints" / "latest"
    kill_when(job, lambda: latest.is_file() and latest.read_text() >= "step-00000009", 120)
    steps_before_kill = len(read_log(out / "train_log.jsonl"))
    assert 9 <= steps_before_kill < len(uninterrupted)

    assert subprocess.run(command, capture_output=True, timeout=240, env=env).returncode == 0
    log = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == list(range(1, len(uninterrupted) + 1))
    assert [r["loss"] for r in log] == pytest.approx(uninterrupted, rel=1e-6)


def test_zero3_matches_plain_pytorch_keeps_frozen_weights_and_exports_a_generating_model(tiny, other_janus):
    from transformers import JanusForConditionalGeneration, JanusProcessor

    from pixsift.trainer.train.job import train

    cfg = tiny_config(tiny, "zero3", "parallel.zero_stage=3", "model.trainable='lm'")
    result = train(cfg)
    assert result.losses == pytest.approx(plain_pytorch_losses(cfg), rel=1e-5)

    base = load_file(tiny / "model" / "model.safetensors")
    exported = load_file(cfg.export_dir / "model.safetensors")
    assert exported.keys() == base.keys()
    frozen = ("model.vision_model.", "model.aligner.", "model.vqmodel.", "lm_head.")
    for name, weight in exported.items():
        if name.startswith(frozen):
            assert torch.equal(weight, base[name]), name
    assert not torch.equal(
        exported["model.generation_head.vision_head.weight"], base["model.generation_head.vision_head.weight"]
    )

    # The frozen weights come back from the ZeRO-3 checkpoint itself: resume it into a model whose every
    # weight but the VQ model's differs (another random init; the token store's codes are the VQ model's,
    # so training refuses any other); the run is complete, so it only exports.
    other = tiny / "other-but-vq"
    shutil.copytree(tiny / "model", other)
    weights = load_file(other_janus / "model.safetensors")
    weights.update({k: v for k, v in base.items() if k.startswith("model.vqmodel.")})
    save_file(weights, other / "model.safetensors")
    cfg.model.path = str(other)
    again = train(cfg, resume=True)
    assert again.losses == [] and again.steps == 6
    for name, weight in load_file(cfg.export_dir / "model.safetensors").items():
        assert torch.equal(weight, exported[name]), name

    janus = JanusForConditionalGeneration.from_pretrained(cfg.export_dir, local_files_only=True)
    processor = JanusProcessor.from_pretrained(cfg.export_dir, local_files_only=True)
    inputs = processor(
        text=["<|User|>: a red cat\n\n<|Assistant|>:"], generation_mode="image", return_tensors="pt"
    )
    torch.manual_seed(0)
    codes = janus.generate(**inputs, generation_mode="image", guidance_scale=5.0, do_sample=True)
    vision = janus.config.vision_config
    assert codes.shape == (1, vision.num_image_tokens)
    assert 0 <= codes.min() and codes.max() < janus.config.vq_config.num_embeddings
    pixels = janus.decode_image_tokens(codes)
    assert pixels.shape == (1, vision.image_size, vision.image_size, 3) and torch.isfinite(pixels).all()


def test_lora_trains_only_adapters_and_exports_merged_weights(tiny):
    from pixsift.engine.cli import main
    from pixsift.trainer.train.trainable import load_janus

    cfg = tiny_config(tiny, "lora", "model.trainable='lora'", "model.lora_targets=['q_proj','v_proj']")
    janus = load_janus(cfg.model, "float32")
    trainable = [n for n, p in janus.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n and "language_model.layers." in n for n in trainable)

    argv = [
        "train",
        "--recipe",
        "tiny",
        "--tokens",
        cfg.data.tokens,
        "--model",
        cfg.model.path,
        "--out",
        cfg.out,
    ]
    argv += [
        "--set",
        "parallel.zero_stage=1",
        "--set",
        "model.trainable=lora",
        "--set",
        "schedule.max_steps=2",
    ]
    assert main([*argv, "--set", "model.lora_targets=['q_proj','v_proj']"]) == 0
    base = load_file(tiny / "model" / "model.safetensors")
    exported = load_file(cfg.export_dir / "model.safetensors")
    assert exported.keys() == base.keys()  # merged: no adapter weights left
    changed = {n for n, w in exported.items() if not torch.equal(w, base[n])}
    assert changed == {
        f"model.language_model.layers.{i}.self_attn.{p}.weight"
        for i in range(2)
        for p in ("q_proj", "v_proj")
    }


def test_an_out_folder_pixsift_did_not_make_is_refused_untouched(tiny, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "train_config.json").write_text("my own")
    args = ["train", "--recipe", "tiny", "--out", str(mine), "--tokens", str(tiny / "tokens")]
    line = user_error(capsys, [*args, "--model", str(tiny / "model")])
    assert line.startswith(f"pixsift train: {mine}: is not empty and was not made by pixsift"), line
    assert [p.name for p in mine.iterdir()] == ["train_config.json"]


def test_a_missing_model_or_token_store_is_named(tiny, tmp_path, capsys):
    args = ["train", "--recipe", "tiny", "--out", str(tmp_path / "run")]
    line = user_error(capsys, [*args, "--tokens", str(tiny / "tokens"), "--model", str(tmp_path / "nowhere")])
    assert re.fullmatch(r"pixsift train: model '.*nowhere': is not a local Janus-Pro .*", line)
    line = user_error(capsys, [*args, "--tokens", str(tmp_path / "nothing"), "--model", str(tiny / "model")])
    assert re.fullmatch(r"pixsift train: .*nothing: not a pixsift token store .*", line)
    line = user_error(
        capsys,
        [*args, "--tokens", str(tiny / "tokens"), "--model", str(tiny / "model"), "--set", "optim.lr=abc"],
    )
    assert line == "pixsift train: --set optim.lr: must be a finite number, got 'abc'"


def test_a_token_store_of_another_model_is_refused_naming_both(tiny, other_janus, tmp_path, capsys):
    args = ["train", "--recipe", "tiny", "--out", str(tmp_path / "run"), "--tokens", str(tiny / "tokens")]
    line = user_error(capsys, [*args, "--model", str(other_janus)])
    tokenized_with = (tiny / "model").resolve()
    assert re.fullmatch(
        rf"pixsift train: token store .*tokens: was tokenized with the model {tokenized_with} \(fingerprint "
        rf"\w+\), not the one training starts from, {other_janus} \(fingerprint \w+\): their VQ codes or "
        rf"tokens differ; tokenize the selection again with --model {other_janus}",
        line,
    ), line
    assert not (tmp_path / "run").exists()


def test_a_resumed_log_keeps_one_curve_and_drops_a_half_written_last_line(tmp_path):
    from pixsift.trainer.train.metrics import MetricsLog

    path = tmp_path / "train_log.jsonl"
    path.write_text("".join(f'{{"step": {s}, "loss": {s / 10}}}\n' for s in (1, 2, 3)) + '{"step": 4, "lo')
    log = MetricsLog(path, enabled=True, resume_step=2)
    log.write({"step": 3, "loss": 0.5})
    assert read_log(path) == [{"step": 1, "loss": 0.1}, {"step": 2, "loss": 0.2}, {"step": 3, "loss": 0.5}]
    path.write_text('{"step": 1}\n{"ste\n{"step": 2}\n')
    with pytest.raises(json.JSONDecodeError):  # damage before the last line is not a killed write
        MetricsLog(path, enabled=True, resume_step=2)


def test_janus4o_recipe_has_the_published_settings():
    cfg = load_config("janus4o")
    assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.grad_clip) == (5e-6, 0.1, 1.0)
    assert (cfg.schedule.epochs, cfg.schedule.warmup_ratio, cfg.schedule.min_lr_ratio) == (3, 0.05, 0.15)
    assert (cfg.parallel.global_batch, cfg.parallel.zero_stage, cfg.parallel.bf16) == (64, 1, True)
    assert (cfg.data.cfg_drop, cfg.data.source_vq_drop, cfg.model.trainable) == (0.1, 0.5, "full")
    assert cfg.parallel.accumulation_steps(8) == 1 and cfg.parallel.accumulation_steps(2) == 4
    tiny = load_config("tiny", ["optim.lr=2e-4", "parallel.zero_stage=3", "model.attn_implementation=eager"])
    assert (tiny.optim.lr, tiny.parallel.zero_stage, tiny.model.attn_implementation) == (2e-4, 3, "eager")
    assert (tiny.optim.weight_decay, tiny.schedule.warmup_ratio, tiny.data.cfg_drop) == (
        0.1,
        0.05,
        0.1,
    )  # base
    for bad in (["optim.learning_rate=1"], ["parallel.zero_stage=4"], ["lr=1"], ["model.trainable=half"]):
        with pytest.raises(BadInput):
            load_config("janus4o", bad)
    with pytest.raises(BadInput, match=r"^--set optim.lr: must be a finite number, got 'abc'$"):
        load_config("janus4o", ["optim.lr=abc"])
    with pytest.raises(BadInput, match=r"^--set checkpoint.every_steps: must be at least 1, got 0$"):
        load_config("janus4o", ["checkpoint.every_steps=0"])


def test_schedule_warms_up_then_decays_to_the_floor_and_norms_get_no_decay():
    lr = WarmupCosine(total_steps=100, warmup_steps=5, floor=0.15)
    assert [lr(s) for s in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lr(5) == pytest.approx(1.0) and lr(99) == pytest.approx(0.15)
    assert lr(52) == pytest.approx(0.15 + 0.85 * 0.5 * (1 + math.cos(math.pi * 47 / 94)))
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    decayed, plain = param_groups(model, 0.1)
    assert decayed["weight_decay"] == 0.1 and [p.shape for p in decayed["params"]] == [(4, 4)]
    assert plain["weight_decay"] == 0.0 and len(plain["params"]) == 3  # bias, norm weight and bias
    decayed, plain = param_groups(model, 0.1, decay_norms=True)  # Janus-4o: everything but biases
    assert [p.shape for p in decayed["params"]] == [(4, 4), (4,)] and len(plain["params"]) == 2
    janus4o, plus = load_config("janus4o"), load_config("janus4o-plus")
    assert (janus4o.optim.decay_norms, janus4o.loss.first_code) == (True, False)
    assert (plus.optim.decay_norms, plus.loss.first_code) == (False, True)
    assert plus.optim.lr == janus4o.optim.lr and plus.parallel == janus4o.parallel


def test_flops_count_trained_frozen_and_lora_parts():
    config = janus_config("1b", vocab_size=102400, image_token_id=100581)
    full, lm, lora = (TrainingFlops.of(config, t, 16, ("q_proj", "v_proj")) for t in ("full", "lm", "lora"))
    assert full.lm_weights == 24 * (4 * 2048**2 + 3 * 2048 * 5632)  # Janus-Pro-1B: MHA, SwiGLU
    assert lora.lora_weights == 24 * 2 * 16 * (2048 + 2048)
    t2i = 6 * full.lm_weights * 600 + 12 * 600**2 * 2048 * 24 + 6 * full.head_weights * 576
    assert full.sample(600) == pytest.approx(t2i + 6 * full.gen_aligner_weights * 575)
    assert lm.sample(600) == full.sample(600)  # SigLIP only runs for edits
    assert lm.sample(1800, edit=True) < full.sample(1800, edit=True)
    assert lora.sample(600) < lm.sample(600)
    assert peak_flops(torch.device("cpu")) is None and peak_flops(torch.device("cpu"), 989) == 989e12


def test_two_ranks_under_the_deepspeed_launcher(tiny):
    """`deepspeed --num_gpus 2 --module pixsift.engine.cli train` on the CPU: two gloo ranks, ZeRO-3."""
    out = tiny / "two-ranks"
    command = [sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "2"]
    command += [
        "--master_port",
        str(_free_port()),
        "--module",
        "pixsift.engine.cli",
        "train",
        "--recipe",
        "tiny",
    ]
    command += ["--tokens", str(tiny / "tokens"), "--model", str(tiny / "model"), "--out", str(out)]
    run = subprocess.run(
        [*command, "--set", "parallel.zero_stage=3"], capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "2 x 2 ranks x 1 accumulation" in run.stdout
    log = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6] and all(math.isfinite(r["loss"]) for r in log)
    newest = out / "checkpoints" / "step-00000006"
    assert {p.name for p in newest.glob("rng_rank*.pt")} == {"rng_rank0.pt", "rng_rank1.pt"}
    assert (out / "hf" / "model.safetensors").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_log(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]
