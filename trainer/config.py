"""Settings of `pixsift train`: one small dataclass per component, gathered in `TrainConfig`, read from a
recipe (TOML, one table per component) and `--set section.key=value` overrides.

A recipe may name another as `base = "janus4o"`: its tables are read first and the recipe's keys replace
theirs. Shipped recipes live in trainer/recipes/; `--recipe` takes a shipped name or a TOML file.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

TRAINABLE = ("full", "lm", "lora")
ATTENTION = ("sdpa", "flash_attention_2", "eager")
DTYPES = ("auto", "float32", "bfloat16")
ZERO_STAGES = (1, 2, 3)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class ConfigError(ValueError):
    pass


@dataclass
class ModelConfig:
    path: str = ""  # a local folder with a JanusForConditionalGeneration checkpoint and its processor
    # full: everything but the VQ model; lm: the language model, generation head, aligner and embeddings;
    # lora: LoRA adapters on `lora_targets` of the language model, the rest frozen
    trainable: str = "full"
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    gradient_checkpointing: bool = True
    attn_implementation: str = "sdpa"
    dtype: str = "auto"  # the dtype the weights load in; auto: bfloat16 when training in bf16, else float32

    def check(self) -> None:
        _one_of("model.trainable", self.trainable, TRAINABLE)
        _one_of("model.attn_implementation", self.attn_implementation, ATTENTION)
        _one_of("model.dtype", self.dtype, DTYPES)
        if self.trainable == "lora" and (self.lora_rank < 1 or not self.lora_targets):
            raise ConfigError("model: LoRA needs lora_rank >= 1 and at least one of lora_targets")


@dataclass
class DataConfig:
    tokens: str = ""  # the token store written by `pixsift tokenize`
    max_seq_len: int = 4096  # longer samples are dropped, counted and reported (never truncated)
    cfg_drop: float = 0.1  # text-to-image prompts blanked to padding (BOS kept) for classifier-free guidance
    source_vq_drop: float = 0.5  # editing: the source's VQ-code copy dropped with this probability
    seed: int = 42  # sampler order and the per-sample draws above
    num_workers: int = 2  # DataLoader worker processes

    def check(self) -> None:
        for name in ("cfg_drop", "source_vq_drop"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"data.{name} must be in [0, 1], got {getattr(self, name)}")


@dataclass
class OptimConfig:
    lr: float = 5e-6
    weight_decay: float = 0.1  # not on biases and norm weights
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # not stated by Janus-4o: HF defaults
    eps: float = 1e-8
    grad_clip: float = 1.0  # max global gradient norm; 0 turns clipping off


@dataclass
class ScheduleConfig:
    epochs: int = 3
    warmup_ratio: float = 0.05  # of the total optimizer steps, linear from 0 to the peak lr
    min_lr_ratio: float = 0.15  # cosine decay from the peak to this fraction of it
    max_steps: int = 0  # stop (and end the schedule) after this many optimizer steps; 0: all epochs

    def check(self) -> None:
        if self.epochs < 1 or not 0.0 <= self.warmup_ratio < 1.0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError("schedule: epochs >= 1, warmup_ratio in [0, 1) and min_lr_ratio in [0, 1]")


@dataclass
class ParallelConfig:
    zero_stage: int = 1  # DeepSpeed ZeRO stage: trainer/configs/zero{1,2,3}.json
    global_batch: int = 64  # samples per optimizer step over all ranks
    micro_batch: int = 8  # samples per forward pass on one rank; accumulation makes up the rest
    bf16: bool = True  # bf16 weights and activations, fp32 master weights in the optimizer
    offload_optimizer: bool = False  # ZeRO-Offload: optimizer states and step on the CPU (DeepSpeedCPUAdam)

    def check(self) -> None:
        _one_of("parallel.zero_stage", self.zero_stage, ZERO_STAGES)
        if self.micro_batch < 1 or self.global_batch < self.micro_batch:
            raise ConfigError("parallel: need 1 <= micro_batch <= global_batch")

    def accumulation_steps(self, world_size: int) -> int:
        per_step = self.micro_batch * world_size
        if self.global_batch % per_step:
            raise ConfigError(
                f"parallel.global_batch {self.global_batch} is not a multiple of micro_batch "
                f"{self.micro_batch} x {world_size} ranks"
            )
        return self.global_batch // per_step


@dataclass
class CheckpointConfig:
    dir: str = ""  # "": <out>/checkpoints
    every_steps: int = 500  # also one at the end
    keep_last: int = 2  # older step checkpoints are deleted; 0 keeps all
    export: bool = True  # write a Hugging Face checkpoint to <out>/hf at the end


@dataclass
class LoggingConfig:
    jsonl: str = ""  # "": <out>/train_log.jsonl
    every_steps: int = 1  # console lines; the JSONL file gets every step
    peak_tflops: float = 0.0  # bf16 dense peak per device for MFU; 0: from the GPU name (n/a on the CPU)


SECTIONS = {
    "model": ModelConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "schedule": ScheduleConfig,
    "parallel": ParallelConfig,
    "checkpoint": CheckpointConfig,
    "logging": LoggingConfig,
}


@dataclass
class TrainConfig:
    out: str = ""  # the run folder: checkpoints, log, exported model
    recipe: str = ""  # where the settings came from (for the log)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

    def __post_init__(self) -> None:
        for name in SECTIONS:
            if hasattr(section := getattr(self, name), "check"):
                section.check()

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.checkpoint.dir or Path(self.out) / "checkpoints")

    @property
    def log_path(self) -> Path:
        return Path(self.logging.jsonl or Path(self.out) / "train_log.jsonl")

    @property
    def export_dir(self) -> Path:
        return Path(self.out) / "hf"

    @property
    def load_dtype(self) -> str:
        if self.model.dtype != "auto":
            return self.model.dtype
        return "bfloat16" if self.parallel.bf16 else "float32"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str = "settings") -> TrainConfig:
        if unknown := table.keys() - SECTIONS.keys() - {"out", "recipe"}:
            raise ConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        sections = {}
        for name, section_cls in SECTIONS.items():
            values = table.get(name, {})
            known = {f.name for f in fields(section_cls)}
            if unknown := values.keys() - known:
                raise ConfigError(
                    f"{where} [{name}]: unknown keys {', '.join(sorted(unknown))}; "
                    f"known: {', '.join(sorted(known))}"
                )
            sections[name] = section_cls(**values)
        return cls(out=str(table.get("out", "")), recipe=str(table.get("recipe", "")), **sections)


def load_config(recipe: str, overrides: list[str] = ()) -> TrainConfig:
    """The settings of `recipe` (a shipped name or a TOML file), then `overrides` ("section.key=value",
    the value in TOML syntax or a bare string)."""
    table = recipe_table(recipe)
    table["recipe"] = recipe
    for item in overrides:
        _set(table, item)
    return TrainConfig.from_table(table, f"recipe {recipe}")


def recipe_table(recipe: str, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The recipe's tables merged over those of its `base` chain."""
    if recipe in seen:
        raise ConfigError(f"recipe {recipe}: base recipes form a cycle ({' -> '.join((*seen, recipe))})")
    path = _recipe_path(recipe)
    try:
        table = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"recipe {path}: {e}") from e
    base = table.pop("base", None)
    table.pop("description", None)
    if base is None:
        return table
    merged = recipe_table(base, (*seen, recipe))
    for name, values in table.items():
        if isinstance(values, dict):
            merged.setdefault(name, {}).update(values)
        else:
            merged[name] = values
    return merged


def recipe_names() -> list[str]:
    folder = resources.files("trainer") / "recipes"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def _recipe_path(recipe: str) -> Path:
    shipped = resources.files("trainer") / "recipes" / f"{recipe}.toml"
    if shipped.is_file():
        return Path(str(shipped))
    if Path(recipe).is_file():
        return Path(recipe)
    raise ConfigError(
        f"no recipe {recipe!r}: not a TOML file, and the shipped ones are {', '.join(recipe_names())}"
    )


def _set(table: dict[str, Any], item: str) -> None:
    key, sep, raw = item.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or section not in SECTIONS or not name:
        raise ConfigError(
            f"--set takes section.key=value with section one of {', '.join(SECTIONS)}, got {item!r}"
        )
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    table.setdefault(section, {})[name] = value


def _one_of(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")
