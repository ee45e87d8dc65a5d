"""A diffusers pipeline loaded for generation: offline, bf16 on the GPU, with the run parameters, memory
options, optional torch.compile of the denoiser, and a StageTimes range around each model call.

Any pipeline class goes through the same code: the call's keyword arguments are the run parameters the
class accepts, and a parameter set by the user that the class does not accept is an error naming both.
For editing, a pipeline whose call takes no source image (SDXL, FLUX text-to-image) is switched to its
image-to-image class with AutoPipelineForImage2Image.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from pathlib import Path

import diffusers
import torch
import transformers
from diffusers import AutoPipelineForImage2Image, DiffusionPipeline
from PIL import Image

from pixsift.engine.core.errors import BadInput, NotFound
from pixsift.engine.core.progress import StageTimes
from pixsift.engine.generate.config import GenerateConfig

TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")
DENOISERS = ("unet", "transformer")


def pipeline_folder(pipeline: str) -> Path:
    """The local folder of a pipeline: the path itself, or a hub id's snapshot in the local cache."""
    if Path(pipeline).is_dir():
        return Path(pipeline)
    try:
        return Path(DiffusionPipeline.download(pipeline, local_files_only=True))
    except Exception as e:  # noqa: BLE001 -- hub errors come in many classes; all mean "not available"
        raise NotFound(
            f"pipeline {pipeline!r}", f"not a local folder nor a model in the local Hugging Face cache ({e})"
        ) from e


def load_tokenizers(pipeline: str) -> dict:
    """The pipeline's tokenizers by component name, loaded without its models (for checking captions)."""
    folder = pipeline_folder(pipeline)
    try:
        index = DiffusionPipeline.load_config(folder)
    except (OSError, ValueError) as e:
        raise BadInput(f"pipeline {pipeline!r}", f"not a diffusers pipeline folder ({e})") from None
    tokenizers = {}
    for name, spec in index.items():
        if name.startswith("tokenizer") and isinstance(spec, list) and spec[1] is not None:
            tokenizers[name] = getattr(transformers, spec[1]).from_pretrained(folder / name)
    return tokenizers


class Generator:
    """Batches of prompts (and source images) to PIL images, one torch.Generator per image."""

    def __init__(
        self, cfg: GenerateConfig, device: torch.device, times: StageTimes, pipe=None, name: str | None = None
    ):
        """Load generator `name` of `cfg.generators()` (default: the first), or take `pipe`, a pipeline built
        in memory (benchmarks)."""
        generators = cfg.generators()
        self.name = name or next(iter(generators))
        self.where = generators[self.name]
        self.cfg = cfg
        self.device = device
        self.times = times
        if pipe is None:
            dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
            pipe = DiffusionPipeline.from_pretrained(
                str(pipeline_folder(self.where)), dtype=dtype, local_files_only=True
            )
        if cfg.task == "edit" and "image" not in _call_parameters(pipe):
            pipe = AutoPipelineForImage2Image.from_pipe(pipe)
        if cfg.scheduler:
            pipe.scheduler = _scheduler(pipe, cfg.scheduler)
        if cfg.vae_slicing:
            pipe.vae.enable_slicing()
        if cfg.vae_tiling:
            pipe.vae.enable_tiling()
        if cfg.cpu_offload and device.type == "cuda":
            pipe.enable_model_cpu_offload(device=device)
        else:
            pipe.to(device)
        if cfg.compile:
            name = _denoiser_name(pipe)
            setattr(pipe, name, torch.compile(getattr(pipe, name)))
        pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        self._fixed = self._run_parameters()
        self._time_components()

    def __call__(
        self,
        captions: list[str],
        seeds: list[int],
        images: list[Image.Image] | None = None,
        size: tuple[int, int] | None = None,
    ):
        """One image per caption and seed (t2i: of `size`, width and height, when given). The seed fixes
        the initial noise on every device and in every batch, but a batched matrix product may round
        differently from a single one (CPU GEMM blocking follows the batch size): an image can differ by
        one 8-bit level with its batch, unless `batch_invariant`, which runs the pipeline one image at a
        time."""
        if self.cfg.batch_invariant and len(captions) > 1:
            one = [
                (captions[i : i + 1], seeds[i : i + 1], images and images[i : i + 1])
                for i in range(len(captions))
            ]
            return [picture for caption, seed, image in one for picture in self(caption, seed, image, size)]
        generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        kwargs = dict(self._fixed, prompt=captions, generator=generators, output_type="pil")
        if self.cfg.negative_prompt is not None:
            kwargs["negative_prompt"] = [self.cfg.negative_prompt] * len(captions)
        if images is not None:
            kwargs["image"] = images
        if size is not None:
            kwargs["width"], kwargs["height"] = size
        with torch.inference_mode():
            return self.pipe(**kwargs).images

    def _run_parameters(self) -> dict:
        cfg = self.cfg
        wanted = {
            "num_inference_steps": cfg.steps,
            "guidance_scale": cfg.guidance,
            "image_guidance_scale": cfg.image_guidance,
            "negative_prompt": cfg.negative_prompt,
        }
        if cfg.task == "t2i":
            wanted.update(width=cfg.width, height=cfg.height)
        accepted = _call_parameters(self.pipe)
        given = {k: v for k, v in wanted.items() if v is not None}
        if unknown := sorted(given.keys() - accepted):
            pipeline = f"pipeline {self.where} ({type(self.pipe).__name__})"
            raise BadInput(pipeline, f"does not take {', '.join(unknown)}")
        given.pop("negative_prompt", None)  # repeated per prompt at each call
        return given

    def _time_components(self) -> None:
        for name in TEXT_ENCODERS:
            if (module := getattr(self.pipe, name, None)) is not None:
                self._time_forward(module, "encode_prompt")
        self._time_forward(getattr(self.pipe, _denoiser_name(self.pipe)), "denoise")
        vae = self.pipe.vae
        vae.decode = self._timed(vae.decode, "decode")
        vae.encode = self._timed(vae.encode, "encode_image")

    def _time_forward(self, module: torch.nn.Module, stage: str) -> None:
        # Hooks on the outer module run outside a torch.compile'd forward, so they add no graph breaks.
        ranges: list[contextlib.ExitStack] = []

        def start(*_):
            stack = contextlib.ExitStack()
            stack.enter_context(self.times.stage(stage))
            ranges.append(stack)

        def stop(*_):
            self._synchronize()
            ranges.pop().close()

        module.register_forward_pre_hook(start)
        module.register_forward_hook(stop)

    def _timed(self, fn, stage: str):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            with self.times.stage(stage):
                out = fn(*args, **kwargs)
                self._synchronize()
            return out

        return timed

    def _synchronize(self) -> None:
        # Kernels run asynchronously: without a sync the time would land in whichever stage waits next.
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def _call_parameters(pipe) -> set[str]:
    return set(inspect.signature(type(pipe).__call__).parameters)


def _denoiser_name(pipe) -> str:
    for name in DENOISERS:
        if getattr(pipe, name, None) is not None:
            return name
    raise ValueError(f"{type(pipe).__name__} has no unet or transformer to denoise with")


def _scheduler(pipe, name: str):
    cls = getattr(diffusers, name, None)
    if not (isinstance(cls, type) and issubclass(cls, diffusers.SchedulerMixin)):
        compatible = ", ".join(sorted(c.__name__ for c in pipe.scheduler.compatibles))
        raise BadInput(
            "--scheduler", f"{name!r} is not a diffusers scheduler class; compatible: {compatible}"
        )
    return cls.from_config(pipe.scheduler.config)
