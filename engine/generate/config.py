"""Settings of `pixsift generate`: what to generate, with which pipeline and run parameters, and how."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.executors.config import ExecutorConfig

TASKS = ("t2i", "edit")
IMAGE_FORMATS = ("png", "jpeg")
DEFAULT_PIPELINE = "stabilityai/stable-diffusion-xl-base-1.0"
SETTINGS_FILE = "generate.json"


@dataclass
class GenerateConfig(ExecutorConfig):
    task: str  # t2i: captions -> images; edit: (source image, instruction) pairs -> edited images
    inputs: str  # the caption pool (t2i) or the pairs (edit): JSONL or Parquet
    out: str  # folder of shard-NNNNNN.tar, plan.jsonl, rejects.jsonl and generate.json
    pipeline: str = DEFAULT_PIPELINE  # a local folder or a hub id already in the local cache
    images_per_caption: int = 1
    steps: int | None = None  # None: the pipeline's default
    guidance: float | None = None
    image_guidance: float | None = None  # edit: InstructPix2Pix's image guidance scale
    width: int | None = None  # None: the pipeline's default (edit: the source image's size)
    height: int | None = None
    scheduler: str | None = None  # a diffusers scheduler class name, configured from the pipeline's own
    negative_prompt: str | None = None
    seed: int = 0  # the base seed every image's seed is derived from
    image_format: str = "png"
    captions_per_shard: int = 256
    batch_size: int = 8
    compile: bool = False  # torch.compile the denoiser
    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False  # model CPU offload: one component on the GPU at a time

    # Settings that change the images; a folder made with others is not resumed.
    VALUE_KEYS = (
        "task",
        "inputs",
        "pipeline",
        "images_per_caption",
        "steps",
        "guidance",
        "image_guidance",
        "width",
        "height",
        "scheduler",
        "negative_prompt",
        "seed",
        "image_format",
        "captions_per_shard",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.task not in TASKS:
            raise ValueError(f"generate: task {self.task!r} is not one of {', '.join(TASKS)}")
        if self.image_format not in IMAGE_FORMATS:
            raise ValueError(f"generate: image format {self.image_format!r} is not one of png, jpeg")
        for name in ("images_per_caption", "captions_per_shard", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"generate: {name} must be at least 1, got {getattr(self, name)}")

    def value_settings(self) -> dict:
        values = asdict(self)
        settings = {k: values[k] for k in self.VALUE_KEYS}
        settings["inputs"] = str(Path(self.inputs).resolve())
        return settings

    def claim_output(self) -> None:
        """Create the output folder with the settings, or check that an existing one was made with these."""
        out = Path(self.out)
        out.mkdir(parents=True, exist_ok=True)
        path = out / SETTINGS_FILE
        settings = self.value_settings()
        if path.exists():
            before = json.loads(path.read_text())
            if changed := sorted(
                k for k in settings.keys() | before.keys() if settings.get(k) != before.get(k)
            ):
                diffs = "; ".join(f"{k}: {before.get(k)!r} -> {settings.get(k)!r}" for k in changed)
                raise ValueError(f"{out} was generated with other settings ({diffs}); use another --out")
            return
        path.write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
