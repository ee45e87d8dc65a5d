"""Settings of `pixsift generate`: what to generate, with which pipeline and run parameters, and how."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pixsift.engine.core.config import setting
from pixsift.engine.executors.config import ExecutorConfig
from pixsift.engine.io.ownership import claim_with_settings

TASKS = ("t2i", "edit")
IMAGE_FORMATS = ("png", "jpeg")
DEFAULT_PIPELINE = "stabilityai/stable-diffusion-xl-base-1.0"
SETTINGS_FILE = "generate.json"
OUTPUT_KIND = "generate folder"  # engine.io.ownership


@dataclass(kw_only=True)
class GenerateConfig(ExecutorConfig):
    task: str = setting(
        choices=TASKS,
        affects_values=True,
        help="t2i: captions -> images; edit: (source, instruction) -> images",
    )
    inputs: str = setting(
        affects_values=True, help="the caption pool (t2i) or the editing pairs (edit): .jsonl or .parquet"
    )
    out: str = setting(help="folder of shard-NNNNNN.tar, plan.jsonl, rejects.jsonl and generate.json")
    pipeline: str = setting(
        DEFAULT_PIPELINE, affects_values=True, help="a local folder or a hub id already in the local cache"
    )
    images_per_caption: int = setting(
        1, min=1, max=1024, affects_values=True, help="images per caption (or pair)"
    )
    steps: int | None = setting(
        None, min=1, affects_values=True, help="inference steps (default: the pipeline's)"
    )
    guidance: float | None = setting(None, affects_values=True, help="classifier-free guidance scale")
    image_guidance: float | None = setting(
        None, affects_values=True, help="InstructPix2Pix image guidance scale"
    )
    width: int | None = setting(
        None,
        min=8,
        max=16384,
        affects_values=True,
        help="image width (default: the pipeline's; edit: the source's)",
    )
    height: int | None = setting(None, min=8, max=16384, affects_values=True, help="image height (likewise)")
    resolution: int | None = setting(
        None, min=8, max=16384, help="square side: sets width and height where they are not given"
    )
    scheduler: str | None = setting(
        None, affects_values=True, help="a diffusers scheduler class name, e.g. EulerDiscreteScheduler"
    )
    negative_prompt: str | None = setting(
        None, affects_values=True, help="the negative prompt of every image"
    )
    seed: int = setting(0, affects_values=True, help="base seed; each image's seed derives from it")
    image_format: str = setting(
        "png",
        choices=IMAGE_FORMATS,
        affects_values=True,
        flag="--format",
        help="how images are stored in the shards",
    )
    captions_per_shard: int = setting(
        256, min=1, max=1 << 16, affects_values=True, help="prompts per work unit and shard"
    )
    limit: int | None = setting(
        None, min=1, affects_values=True, help="only the first N rows of the inputs (a trial run)"
    )
    batch_size: int = setting(8, min=1, max=4096, help="images per pipeline call")
    batch_invariant: bool = setting(
        False,
        affects_values=True,
        help="one image per pipeline call inside a batch: an image then never depends on its batch, bit for "
        "bit (otherwise it may differ by one 8-bit level on the CPU)",
    )
    compile: bool = setting(False, help="torch.compile the denoiser")
    vae_slicing: bool = setting(False, help="decode the batch's latents one image at a time")
    vae_tiling: bool = setting(False, help="decode latents in tiles (large images)")
    cpu_offload: bool = setting(False, help="model CPU offload: one component on the GPU at a time")

    def check(self) -> None:
        if self.resolution is not None:  # a square: width and height where they are not given
            self.width = self.width or self.resolution
            self.height = self.height or self.resolution

    def value_settings(self) -> dict:
        settings = super().value_settings()
        settings["inputs"] = str(Path(self.inputs).resolve())
        return settings

    def claim_output(self) -> None:
        """Create the output folder with the settings, or check that an existing one was made with these."""
        claim_with_settings(self.out, OUTPUT_KIND, self.value_settings(), SETTINGS_FILE, "--out")
