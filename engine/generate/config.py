"""Settings of `pixsift generate`: what to generate, with which pipeline and run parameters, and how."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pixsift.engine.core.config import SettingError, setting
from pixsift.engine.executors.config import ExecutorConfig
from pixsift.engine.io.ownership import claim_with_settings

TASKS = ("t2i", "edit")
IMAGE_FORMATS = ("png", "jpeg")
DEFAULT_PIPELINE = "stabilityai/stable-diffusion-xl-base-1.0"
SETTINGS_FILE = "generate.json"
OUTPUT_KIND = "generate folder"  # engine.io.ownership


def aspect_ratio(text: str) -> tuple[int, int]:
    """ "W:H" -> (W, H)."""
    w, sep, h = text.partition(":")
    if not (sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        raise SettingError("aspect_ratios", f"{text!r} is not W:H (two whole numbers, e.g. 4:3)")
    return int(w), int(h)


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
    pipeline: list[str] | str = setting(
        affects_values=True,
        factory=lambda: [DEFAULT_PIPELINE],
        metavar="[NAME=]DIR",
        help="a local folder or a hub id already in the local cache; repeat as NAME=DIR for several "
        "generators in one run (NAME: the image_generator column; default the folder's name)",
    )
    pipeline_shares: dict[str, float] = setting(
        affects_values=True,
        factory=dict,
        flag="--pipeline-share",
        metavar="NAME=SHARE",
        help="the share of prompts NAME generates (default: equal shares); each prompt's generator is drawn "
        "by its id and --seed",
    )
    pipeline_categories: dict[str, str] = setting(
        affects_values=True,
        factory=dict,
        flag="--pipeline-for",
        metavar="CATEGORY=NAME",
        help="every prompt of CATEGORY goes to generator NAME (the rest by --pipeline-share)",
    )
    aspect_ratios: list[str] = setting(
        affects_values=True,
        factory=list,
        flag="--aspect-ratio",
        metavar="W:H",
        help="t2i: draw each prompt's aspect ratio from these (e.g. 1:1 4:3 3:4 16:9 9:16), at the area of "
        "--resolution squared, sides multiples of 16",
    )
    enhanced_share: float = setting(
        0.0,
        min=0.0,
        max=1.0,
        affects_values=True,
        help="the share of prompts with an enhanced_prompt (a `pixsift prompts` pool) generated from it "
        "rather than from the prompt, drawn by id and --seed",
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
        if isinstance(self.pipeline, str):  # a pipeline file's `pipeline = "DIR"`
            self.pipeline = [self.pipeline]
        if self.aspect_ratios:
            if self.resolution is None or self.task != "t2i":
                raise SettingError(
                    "aspect_ratios", "needs --resolution (the side of the square of equal area), t2i"
                )
            for ratio in self.aspect_ratios:
                aspect_ratio(ratio)
        elif self.resolution is not None:  # a square: width and height where they are not given
            self.width = self.width or self.resolution
            self.height = self.height or self.resolution
        generators = self.generators()
        for flag, names in (
            ("pipeline_shares", self.pipeline_shares),
            ("pipeline_categories", self.pipeline_categories.values()),
        ):
            if unknown := sorted(set(names) - generators.keys()):
                raise SettingError(flag, f"{', '.join(unknown)}: no --pipeline of that name")
        if any(share < 0 for share in self.pipeline_shares.values()):
            raise SettingError("pipeline_shares", "shares must be >= 0")
        if len(generators) > len(self.pipeline_shares) and sum(self.pipeline_shares.values()) >= 1:
            unshared = sorted(generators.keys() - self.pipeline_shares.keys())
            raise SettingError("pipeline_shares", f"the shares given leave nothing for {', '.join(unshared)}")
        if self.pipeline_shares and len(generators) == len(self.pipeline_shares):
            if sum(self.pipeline_shares.values()) <= 0:
                raise SettingError("pipeline_shares", "at least one share must be above 0")

    def generators(self) -> dict[str, str]:
        """name -> pipeline folder or hub id, in the order given."""
        found: dict[str, str] = {}
        for item in self.pipeline:
            name, sep, where = item.partition("=")
            if not sep:
                name, where = Path(item.rstrip("/")).name, item
            if not name or not where:
                raise SettingError("pipeline", f"{item!r}: give DIR or NAME=DIR")
            if name in found:
                raise SettingError("pipeline", f"two generators are named {name!r}: name them NAME=DIR")
            found[name] = where
        return found

    def value_settings(self) -> dict:
        settings = super().value_settings()
        settings["inputs"] = str(Path(self.inputs).resolve())
        if len(settings["pipeline"]) == 1:  # as one pipeline was recorded before there could be several
            settings["pipeline"] = settings["pipeline"][0]
        return settings

    def claim_output(self) -> None:
        """Create the output folder with the settings, or check that an existing one was made with these."""
        claim_with_settings(self.out, OUTPUT_KIND, self.value_settings(), SETTINGS_FILE, "--out")
