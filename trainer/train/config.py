"""Settings of `pixsift train`: one small dataclass per component, gathered in `TrainConfig`, read from a
recipe (TOML, one table per component) and `--set section.key=value` overrides.

A recipe may name another as `base = "janus4o"`: its tables are read first and the recipe's keys replace
theirs (engine.core.recipes). Shipped recipes live in trainer/train/recipes/; `--recipe` takes a shipped
name or a TOML file. Every value is checked (type, range, choice) before anything runs, naming where it came
from: the recipe's table and key, or the `--set` flag.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pixsift.engine.core.config import Config, SettingError, parse_override, setting
from pixsift.engine.core.errors import BadInput
from pixsift.engine.core.recipes import load_recipe

RECIPES = Path(__file__).with_name("recipes")  # the shipped recipes
TRAINABLE = ("full", "lm", "lora")
ATTENTION = ("sdpa", "flash_attention_2", "eager")
DTYPES = ("auto", "float32", "bfloat16")
ZERO_STAGES = (1, 2, 3)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(kw_only=True)
class ModelConfig(Config):
    path: str = setting(
        "", help="a local folder with a JanusForConditionalGeneration checkpoint and its processor"
    )
    trainable: str = setting(
        "full",
        choices=TRAINABLE,
        help="full: everything but the VQ model; lm: the language model, generation head, aligner and "
        "embeddings; lora: LoRA adapters on lora_targets of the language model, the rest frozen",
    )
    lora_rank: int = setting(16, min=1, help="LoRA rank")
    lora_alpha: int = setting(32, min=1, help="LoRA alpha")
    lora_dropout: float = setting(0.0, min=0.0, max=1.0, help="LoRA dropout")
    lora_targets: list[str] = setting(factory=lambda: list(LORA_TARGETS), help="LoRA target modules")
    gradient_checkpointing: bool = setting(True, help="recompute activations in the backward pass")
    attn_implementation: str = setting("sdpa", choices=ATTENTION, help="attention kernel")
    dtype: str = setting(
        "auto", choices=DTYPES, help="the dtype the weights load in; auto: bfloat16 when training in bf16"
    )

    def check(self) -> None:
        if self.trainable == "lora" and not self.lora_targets:
            raise SettingError("lora_targets", "LoRA needs at least one target module")


@dataclass(kw_only=True)
class DataConfig(Config):
    tokens: str = setting("", help="the token store written by `pixsift tokenize`")
    max_seq_len: int = setting(
        4096, min=1, help="longer samples are dropped, counted and reported, never cut"
    )
    cfg_drop: float = setting(
        0.1, min=0.0, max=1.0, help="text-to-image prompts blanked to padding (BOS kept) for CFG"
    )
    source_vq_drop: float = setting(
        0.5, min=0.0, max=1.0, help="editing: the source's VQ-code copy dropped with this probability"
    )
    seed: int = setting(42, help="sampler order and the per-sample draws")
    num_workers: int = setting(2, min=0, help="DataLoader worker processes")


@dataclass(kw_only=True)
class OptimConfig(Config):
    lr: float = setting(5e-6, min=0.0, help="peak learning rate")
    weight_decay: float = setting(0.1, min=0.0, help="AdamW weight decay, never on biases")
    decay_norms: bool = setting(
        False,
        help="decay norm weights too (Janus-4o's no-decay names match only biases); false: vectors undecayed",
    )
    betas: list[float] = setting(factory=lambda: [0.9, 0.999], help="AdamW betas (Janus-4o gives none: HF's)")
    eps: float = setting(1e-8, min=0.0, help="AdamW epsilon")
    grad_clip: float = setting(1.0, min=0.0, help="max global gradient norm; 0 turns clipping off")

    def check(self) -> None:
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise SettingError("betas", f"must be two numbers in [0, 1), got {self.betas!r}")


@dataclass(kw_only=True)
class LossConfig(Config):
    first_code: bool = setting(
        True,
        help="score the prediction of the first image code from <begin_of_image> (Janus-4o's shifted labels "
        "never do: false reproduces it)",
    )


@dataclass(kw_only=True)
class ScheduleConfig(Config):
    epochs: int = setting(3, min=1, help="passes over the token store")
    warmup_ratio: float = setting(
        0.05, min=0.0, help="of the total optimizer steps, linear from 0 to the peak"
    )
    min_lr_ratio: float = setting(0.15, min=0.0, max=1.0, help="cosine decay from the peak to this fraction")
    max_steps: int = setting(
        0, min=0, help="stop (and end the schedule) after this many steps; 0: all epochs"
    )

    def check(self) -> None:
        if self.warmup_ratio >= 1.0:
            raise SettingError("warmup_ratio", f"must be below 1, got {self.warmup_ratio}")


@dataclass(kw_only=True)
class ParallelConfig(Config):
    zero_stage: int = setting(
        1,
        choices=ZERO_STAGES,
        help="DeepSpeed ZeRO stage (trainer/train/configs/: zero2.json for 1 and 2, zero3.json)",
    )
    global_batch: int = setting(64, min=1, help="samples per optimizer step over all ranks")
    micro_batch: int = setting(8, min=1, help="samples per forward pass on one rank")
    bf16: bool = setting(True, help="bf16 weights and activations, fp32 master weights in the optimizer")
    offload_optimizer: bool = setting(False, help="ZeRO-Offload: optimizer states and step on the CPU")

    def check(self) -> None:
        if self.global_batch < self.micro_batch:
            raise SettingError("micro_batch", f"must be at most global_batch {self.global_batch}")

    def accumulation_steps(self, world_size: int) -> int:
        per_step = self.micro_batch * world_size
        if self.global_batch % per_step:
            ranks = f"micro_batch {self.micro_batch} x {world_size} ranks"
            problem = f"{self.global_batch} is not a multiple of {ranks}"
            raise SettingError("global_batch", problem, "parallel.global_batch")
        return self.global_batch // per_step


@dataclass(kw_only=True)
class CheckpointConfig(Config):
    dir: str = setting("", help='where checkpoints go; "": <out>/checkpoints')
    every_steps: int = setting(500, min=1, help="a checkpoint every this many steps, and one at the end")
    keep_last: int = setting(2, min=0, help="older step checkpoints are deleted; 0 keeps all")
    export: bool = setting(True, help="write a Hugging Face checkpoint to <out>/hf at the end")


@dataclass(kw_only=True)
class LoggingConfig(Config):
    jsonl: str = setting("", help='the step log; "": <out>/train_log.jsonl')
    every_steps: int = setting(1, min=1, help="console lines; the JSONL file gets every step")
    peak_tflops: float = setting(
        0.0, min=0.0, help="bf16 dense peak per device for MFU; 0: from the GPU name (n/a on the CPU)"
    )


# The sections a run's results depend on (the rest say where files go and how often).
RESULT_SECTIONS = ("model", "data", "optim", "loss", "schedule", "parallel")
OUTPUT_KIND = "training run"  # engine.io.ownership
# The paths a run is given besides its recipe: key -> (section, key) in the settings ("": top level).
PATH_KEYS = {"tokens": ("data", "tokens"), "model": ("model", "path"), "out": ("", "out")}
SECTIONS: dict[str, type[Config]] = {
    "model": ModelConfig,
    "data": DataConfig,
    "optim": OptimConfig,
    "loss": LossConfig,
    "schedule": ScheduleConfig,
    "parallel": ParallelConfig,
    "checkpoint": CheckpointConfig,
    "logging": LoggingConfig,
}


@dataclass
class TrainConfig:
    out: str = ""  # the run folder: checkpoints, log, exported model
    recipe: str = ""  # where the settings came from (for the log)
    resume: bool = False  # continue from the newest checkpoint in `out`
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)

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
    def from_table(
        cls, table: dict[str, Any], where: str = "settings", origin: dict[str, str] | None = None
    ) -> TrainConfig:
        """The settings in `table` (one table per section); errors name `where`, or `origin[section.key]`
        for a value that came from elsewhere (a --set flag)."""
        if unknown := sorted(table.keys() - SECTIONS.keys() - {"out", "recipe", "resume", "description"}):
            raise BadInput(where, f"unknown keys {', '.join(unknown)}; sections: {', '.join(SECTIONS)}")
        sections = {}
        for name, section_cls in SECTIONS.items():
            values = table.get(name, {})
            if not isinstance(values, dict):
                raise BadInput(f"{where} [{name}]", "must be a table of settings")
            here = {key: (origin or {}).get(f"{name}.{key}", f"{where} [{name}] {key}") for key in values}
            sections[name] = section_cls.from_table(values, f"{where} [{name}]", here)
        run = {"out": str(table.get("out", "")), "recipe": str(table.get("recipe", ""))}
        return cls(**run, resume=bool(table.get("resume", False)), **sections)


@dataclass(kw_only=True)
class TrainRun(Config):
    """What `pixsift train` is given (its flags): a recipe, the paths a recipe leaves out, overrides."""

    recipe: str = setting("janus4o", help="a shipped recipe name (trainer/train/recipes/) or a TOML file")
    tokens: str = setting(help="the token store")
    model: str = setting(help="local Janus-Pro checkpoint folder (transformers format)")
    out: str = setting(help="run folder: log, checkpoints, exported model")
    overrides: list[str] = setting(
        factory=list,
        flag="--set",
        metavar="SECTION.KEY=VALUE",
        help="override a recipe setting, e.g. parallel.zero_stage=3 or optim.lr=1e-5 (repeatable)",
    )
    resume: bool = setting(False, help="continue from the newest checkpoint in <out>")

    def train_config(self) -> TrainConfig:
        paths = {"tokens": self.tokens, "model": self.model, "out": self.out}
        return load_config(self.recipe, self.overrides, paths=paths, resume=self.resume)


def load_config(
    recipe: str,
    overrides: list[str] = (),
    sections: dict[str, Any] | None = None,
    where: str = "",
    paths: dict[str, str] | None = None,
    resume: bool = False,
) -> TrainConfig:
    """The settings of `recipe` (a shipped name or a TOML file), then `sections` (tables of settings by
    section, as a pipeline file gives them; `where` names them in errors), then `overrides`
    ("section.key=value", the value in TOML syntax or a bare string); `paths` gives the token store,
    the model folder and the run folder (`tokens`, `model`, `out`), which a recipe leaves out."""
    table = load_recipe(RECIPES, recipe, "training recipe")
    table["recipe"] = recipe
    table["resume"] = resume
    for key, (section, name) in PATH_KEYS.items():
        if (paths or {}).get(key):
            (table.setdefault(section, {}) if section else table)[name] = paths[key]
    origin = {}
    for section, values in (sections or {}).items():
        if section not in SECTIONS or not isinstance(values, dict):
            raise BadInput(f"{where} {section}", f"not a table of settings; sections: {', '.join(SECTIONS)}")
        table.setdefault(section, {}).update(values)
        origin.update({f"{section}.{key}": f"{where} [{section}] {key}" for key in values})
    for item in overrides:
        section, name, value = _override(item)
        table.setdefault(section, {})[name] = value
        origin[f"{section}.{name}"] = f"--set {section}.{name}"
    return TrainConfig.from_table(table, f"recipe {recipe}", origin)


def _override(item: str) -> tuple[str, str, Any]:
    usage = f"takes section.key=value with section one of {', '.join(SECTIONS)}"
    try:
        path, value = parse_override(item)
    except BadInput:
        raise BadInput(f"--set {item}", usage) from None
    if len(path) != 2 or path[0] not in SECTIONS:
        raise BadInput(f"--set {item}", usage)
    return path[0], path[1], value
