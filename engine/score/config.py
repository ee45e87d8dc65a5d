"""Settings of `pixsift score`: what to score, with which models, and how."""

from __future__ import annotations

import os
from dataclasses import dataclass

from pixsift.engine.core.config import SettingError, setting
from pixsift.engine.decode.decoders import KINDS as DECODERS
from pixsift.engine.decode.probe import MAX_ASPECT, MAX_PIXELS, MAX_SIDE, ImageLimits
from pixsift.engine.executors.config import ExecutorConfig
from pixsift.engine.io.sources import MAX_BYTES
from pixsift.engine.store.schema import PAIR_PREFIX

MAX_FIDELITY = 8192  # round-trip SSIM sizes: larger ones only exhaust memory


DEFAULT_PRETRAINED = "openai"  # with the default ViT-L-14: the CLIP of CLIPScore and SynthVLM


def one_weights_source(pretrained: str | None, random_init: bool) -> bool:
    """Whether exactly one of trained weights (an open_clip tag or a checkpoint file) and random ones is
    asked for (ScoreConfig and ClipEmbedder each name them as their callers spell them)."""
    return (pretrained is None) == random_init


@dataclass(kw_only=True)
class ScoreConfig(ExecutorConfig):
    inputs: list[str] = setting(
        flag="--input",
        help="tar shards (brace patterns, URLs), image folders with a captions file, Hugging Face "
        "imagefolders, img2dataset output folders, or Parquet/JSONL/CSV manifests; a store scored before "
        "plans only the files it has not seen",
    )
    store: str = setting(help="run store path or fsspec URL")
    clip_model: str = setting("ViT-L-14", help="open_clip model name")
    clip_pretrained: str | None = setting(
        None,
        affects_values=True,
        help=f"open_clip pretrained tag (from the local hub cache) or checkpoint file (default: "
        f"{DEFAULT_PRETRAINED}, unless --clip-random-init)",
    )
    clip_config: str | None = setting(
        None, affects_values=True, help="JSON open_clip model config (registered under its file name)"
    )
    clip_random_init: bool = setting(False, affects_values=True, help="random weights (benchmarks)")
    scorers: dict[str, str] = setting(
        factory=dict,
        affects_values=True,
        flag="--scorer",
        metavar="NAME=FILE",
        help="an extra scorer, stored as column NAME (repeatable): an MLP head on the CLIP embeddings "
        "(.safetensors, .pth), an HPSv2 checkpoint, a PickScore folder, an aesthetic v2.5 folder",
    )
    scorer_kinds: dict[str, str] = setting(
        factory=dict,
        affects_values=True,
        flag="--scorer-kind",
        metavar="NAME=KIND",
        help="the kind of scorer NAME (engine/score/scorers: aesthetic_v25, hpsv2, image_reward, mlp, "
        "pickscore)",
    )
    edit_dino: str | None = setting(
        None,
        affects_values=True,
        metavar="MODEL_DIR",
        help="a local DINOv2 folder (transformers Dinov2Model, e.g. facebook/dinov2-base): edit rows get "
        "edit_dino, the cosine of their and their source's CLS embeddings",
    )
    fidelity_size: int = setting(
        768, min=7, max=MAX_FIDELITY, affects_values=True, help="round-trip SSIM: the reference size"
    )
    fidelity_via: int = setting(
        336,
        min=7,
        max=MAX_FIDELITY,
        affects_values=True,
        help="round-trip SSIM: the size it goes through (at most --fidelity-size)",
    )
    max_pixels: int = setting(
        MAX_PIXELS,
        min=1,
        affects_values=True,
        help="width x height above which an image is refused from its header",
    )
    max_side: int = setting(MAX_SIDE, min=1, affects_values=True, help="longest image side accepted")
    max_aspect: float = setting(
        MAX_ASPECT, min=1.0, affects_values=True, help="largest long side / short side accepted"
    )
    max_bytes: int = setting(
        MAX_BYTES, min=1, affects_values=True, help="files and tar members larger than this are not read"
    )
    allow_changed_inputs: bool = setting(
        False,
        help="go on when an input file the store was planned from changed (its rows are scored again as "
        "new rows) or is gone (its rows are marked failed)",
    )
    allow_outside_paths: bool = setting(
        False, affects_values=True, help="let a manifest name images outside its own folder"
    )
    image_col: str | None = setting(
        None, affects_values=True, help="the manifests' image column (default: image, in any case)"
    )
    caption_col: str | None = setting(
        None,
        affects_values=True,
        help="the manifests' caption column (default: caption, text or prompt, in any case)",
    )
    text_prefix: str = setting(
        "",
        affects_values=True,
        help='put before every caption; "A photo depicts " is Hessel et al.\'s CLIPScore prompt',
    )
    limit: int | None = setting(
        None, min=1, affects_values=True, help="score only the first N candidates of the inputs (a trial run)"
    )
    max_scan_failures: float = setting(
        0.5,
        min=0.0,
        max=1.0,
        help="refuse the inputs, before any scoring, when more than this fraction of their candidates "
        "cannot be read (1: never)",
    )
    decoder: str = setting("auto", choices=DECODERS, help="image decoder")
    batch_size: int = setting(256, min=1, max=1 << 16, help="images per model batch")
    shard_rows: int | None = setting(
        None,
        min=1,
        max=1 << 20,
        help="rows per work unit and Zarr shard (default: 4096 on GPUs, 512 on the CPU, where a unit takes "
        "far longer; a store keeps the size it was made with)",
    )
    decode_threads: int = setting(
        0,
        min=0,
        max=1024,
        help="CPU threads per worker that decode and prepare images (0: this machine's cores)",
    )
    prefetch_batches: int = setting(2, min=1, max=64, help="batches read and decoded ahead of the model")

    def check(self) -> None:
        if unknown := sorted(self.scorer_kinds.keys() - self.scorers.keys()):
            raise SettingError("scorer_kinds", f"{', '.join(unknown)}: no --scorer of that name")
        if taken := sorted(name for name in self.scorers if name.startswith(PAIR_PREFIX)):
            raise SettingError(
                "scorers", f"{', '.join(taken)}: names starting {PAIR_PREFIX} are the edit columns'"
            )
        if self.edit_dino and not os.path.isfile(os.path.join(self.edit_dino, "config.json")):
            raise SettingError(
                "edit_dino",
                f"{self.edit_dino} is not a local DINOv2 folder (config.json, weights and "
                "preprocessor_config.json); models load from local folders: hf download "
                "facebook/dinov2-base --local-dir DIR",
            )
        if self.fidelity_via > self.fidelity_size:
            raise SettingError(
                "fidelity_via",
                f"must be at most --fidelity-size ({self.fidelity_size}): the round trip goes through a "
                f"smaller size, got {self.fidelity_via}",
            )
        if self.clip_pretrained is None and not self.clip_random_init:
            self.clip_pretrained = DEFAULT_PRETRAINED
        if not one_weights_source(self.clip_pretrained, self.clip_random_init):
            raise SettingError(
                "clip_pretrained",
                "give either --clip-pretrained (an open_clip tag or a checkpoint file) or "
                "--clip-random-init, not both",
            )

    def value_settings(self, embedder_info: dict | None = None) -> dict:
        """What the store's values depend on: these settings and the embedder (not the inputs: the store
        records the files it planned, engine.store.input_record)."""
        # Imported here: the kernels load torch, which building score's and search's flags needs none of.
        from pixsift.kernels.ssim.roundtrip import PROCEDURE

        settings = super().value_settings()
        settings["embedder"] = {k: v for k, v in (embedder_info or {}).items() if k != "autocast"}
        settings["ssim_roundtrip"] = PROCEDURE
        return settings

    def cpu_threads(self) -> int:
        """The threads each worker decodes and prepares images with: decode_threads, else the CPUs a Ray
        actor reserves, else this machine's cores shared among the workers that run on it."""
        if self.decode_threads:
            return self.decode_threads
        if self.executor == "ray":
            return max(1, round(self.ray_cpus_per_worker))
        return max(1, (os.cpu_count() or 1) // self.local_workers())

    @property
    def columns(self) -> dict[str, str]:
        """The manifests' own column names for the image and the caption, where given."""
        named = {"image": self.image_col, "caption": self.caption_col}
        return {name: column for name, column in named.items() if column}

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(self.max_pixels, self.max_side, self.max_aspect)
