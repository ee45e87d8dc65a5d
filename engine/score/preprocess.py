"""Preprocessing for the CLIP model, the same for every decoder: variable-size uint8 RGB images in.

clip_batch (a batch, on the device) and clip_pixels (one image, on a CPU thread) reproduce open_clip's
own (PIL-based) eval transform for a model: resize with PIL's antialiased filter (horizontal pass, then
vertical, each stored as uint8 as PIL does), center crop or pad, scale to [0, 1], normalize. On the CPU
a shrinking pass is torch's uint8 kernel (fixed point, as PIL's, about 10x faster than float); on a
GPU, and for a growing pass, it is float, rounded to uint8 after each pass. Against open_clip's
transform on the same pixels (tests/engine/score/test_preprocess_embed.py), when both sides shrink or
both grow, as in the "shortest" mode nearly every model uses: at most 1 uint8 level, in up to 0.4% of
values (bicubic) or 1.1% (bilinear). When one side grows and the other shrinks (possible with "squash"
and "longest") Pillow's one-call resize also differs from its own two passes run one after the other,
by up to about 10 levels in under 0.1% of values (400x600 -> 300x700, bicubic).

same_size_batches groups images of one size into uint8 batches for ops that need N x C x H x W, such
as kernels.roundtrip_ssim (engine.score.kernel_scores).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import nvtx
import torch
import torch.nn.functional as F

CHUNK_ELEMENTS = 1 << 26  # per same-size batch: 256 MiB once in float32
RESIZE_MODES = ("shortest", "longest", "squash")


@dataclass(frozen=True)
class ClipPreprocess:
    """open_clip's eval transform for one model (open_clip.transform.image_transform)."""

    size: tuple[int, int]  # (height, width) of the model input
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"  # or "bilinear"
    resize_mode: str = "shortest"  # "shortest": resize the short side, center crop; "longest": resize
    # the long side, pad with fill_color; "squash": resize to size, ignoring the aspect ratio
    fill_color: int = 0

    @classmethod
    def from_open_clip(cls, cfg: dict) -> ClipPreprocess:
        """From an open_clip preprocess config: open_clip.get_model_preprocess_cfg(model)."""
        size = cfg.get("size", 224)
        size = (size, size) if isinstance(size, int) else tuple(size[-2:])
        mean, std = cfg.get("mean"), cfg.get("std")
        if mean is None or std is None:
            from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

            mean, std = mean or OPENAI_DATASET_MEAN, std or OPENAI_DATASET_STD
        mean = tuple(mean) if isinstance(mean, (list, tuple)) else (mean,) * 3
        std = tuple(std) if isinstance(std, (list, tuple)) else (std,) * 3
        # open_clip resizes with bicubic unless told "bilinear" ("random" is a training option).
        interpolation = "bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic"
        resize_mode = cfg.get("resize_mode") or "shortest"
        if resize_mode not in RESIZE_MODES:
            raise ValueError(
                f"ClipPreprocess: resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}"
            )
        return cls(size, mean, std, interpolation, resize_mode, int(cfg.get("fill_color", 0)))


@nvtx.annotate("preprocess:clip")
def clip_batch(images: list[torch.Tensor], spec: ClipPreprocess) -> torch.Tensor:
    """float32 N x 3 x H x W model input from uint8 3 x h x w images (all on one device)."""
    pixels = torch.empty((len(images), 3, *spec.size), dtype=torch.float32, device=images[0].device)
    for indices, batch in same_size_batches(images):
        pixels[indices] = _clip_pixels(_for_resize(batch), spec).float()
    return _normalized(pixels, spec)


def clip_pixels(image: torch.Tensor, spec: ClipPreprocess) -> torch.Tensor:
    """float32 3 x H x W model input of one uint8 3 x h x w CPU image; equal to its row of clip_batch."""
    return _normalized(_clip_pixels(_for_resize(image[None]), spec).float(), spec)[0]


def _for_resize(batch: torch.Tensor) -> torch.Tensor:
    # torch resizes uint8 with antialiasing on the CPU only, fastest with the channels last.
    if batch.device.type == "cpu":
        return batch.contiguous(memory_format=torch.channels_last)
    return batch.float()


def _normalized(pixels: torch.Tensor, spec: ClipPreprocess) -> torch.Tensor:
    mean, std = _constants(spec, pixels.device)
    return (pixels / 255 - mean) / std


@functools.lru_cache(maxsize=16)
def _constants(spec: ClipPreprocess, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's mean and std as 1 x 3 x 1 x 1 tensors on `device`, copied there once."""
    return tuple(torch.tensor(v, device=device).view(1, 3, 1, 1) for v in (spec.mean, spec.std))


def same_size_batches(
    images: list[torch.Tensor], max_elements: int = CHUNK_ELEMENTS
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """(indices, uint8 len(indices) x 3 x H x W batch) covering `images`, each batch of one size and
    at most max_elements values (or a single image)."""
    if not images:
        raise ValueError("preprocess: no images (an empty list)")
    by_size = defaultdict(list)
    for i, image in enumerate(images):
        if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(
                f"preprocess: image {i} must be a uint8 3 x H x W RGB tensor, "
                f"got {image.dtype} of shape {tuple(image.shape)}"
            )
        by_size[tuple(image.shape[1:])].append(i)
    for (h, w), indices in by_size.items():
        per_batch = max(1, max_elements // (3 * h * w))
        for start in range(0, len(indices), per_batch):
            batch = indices[start : start + per_batch]
            yield batch, torch.stack([images[i] for i in batch])


def _clip_pixels(x: torch.Tensor, spec: ClipPreprocess) -> torch.Tensor:
    """open_clip's resize and crop of same-size images (uint8 on the CPU, float elsewhere): values in
    [0, 255], rounded as PIL's uint8."""
    h, w = x.shape[-2:]
    target_h, target_w = spec.size
    if spec.resize_mode == "squash":
        return _pil_resize(x, (target_h, target_w), spec.interpolation)
    if spec.resize_mode == "longest":
        x = _pil_resize(x, _keep_ratio_size(h, w, spec.size, longest=True), spec.interpolation)
        return _center_crop_or_pad(x, spec.size, spec.fill_color)
    if target_h == target_w:
        x = _pil_resize(x, _short_side_size(h, w, target_h), spec.interpolation)
    else:
        # open_clip's ResizeKeepRatio here is built without the model's interpolation: always bicubic.
        x = _pil_resize(x, _keep_ratio_size(h, w, spec.size, longest=False), "bicubic")
    return _center_crop_or_pad(x, spec.size, 0)


def _short_side_size(h: int, w: int, size: int) -> tuple[int, int]:
    # torchvision's Resize(int): the short side to `size`, the long side truncated.
    if w <= h:
        return int(size * h / w), size
    return size, int(size * w / h)


def _keep_ratio_size(h: int, w: int, target: tuple[int, int], longest: bool) -> tuple[int, int]:
    # open_clip's ResizeKeepRatio.get_params.
    ratios = (h / target[0], w / target[1])
    ratio = max(ratios) if longest else min(ratios)
    return round(h / ratio), round(w / ratio)


def _pil_resize(x: torch.Tensor, size: tuple[int, int], interpolation: str) -> torch.Tensor:
    # Width first, then height, storing uint8 after each pass and skipping a pass whose size does not
    # change, as Pillow's Resample.c; one 2-D pass instead differs from PIL by up to 5 levels.
    if x.shape[-1] != size[1]:
        x = _resize_rounded(x, (x.shape[-2], size[1]), interpolation)
    if x.shape[-2] != size[0]:
        x = _resize_rounded(x, size, interpolation)
    return x


def _resize_rounded(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    def resized(x):
        return F.interpolate(x, size=size, mode=mode, antialias=True, align_corners=False)

    if x.dtype != torch.uint8:
        return resized(x).round_().clamp_(0, 255)
    # torch's uint8 kernel rounds its weights coarser than PIL: within 1 level when shrinking, but up to
    # 2 when growing (bicubic), where the float pass stays within 1.
    if size[0] <= x.shape[-2] and size[1] <= x.shape[-1]:
        return resized(x)
    return resized(x.float()).round_().clamp_(0, 255).to(torch.uint8)


def _center_crop_or_pad(x: torch.Tensor, size: tuple[int, int], fill: int) -> torch.Tensor:
    # torchvision's center_crop and open_clip's center_crop_or_pad (the same arithmetic).
    h, w = x.shape[-2:]
    crop_h, crop_w = size
    if crop_h > h or crop_w > w:
        pad_w, pad_h = max(crop_w - w, 0), max(crop_h - h, 0)
        x = F.pad(x, (pad_w // 2, (pad_w + 1) // 2, pad_h // 2, (pad_h + 1) // 2), value=float(fill))
        h, w = x.shape[-2:]
    top, left = int(round((h - crop_h) / 2.0)), int(round((w - crop_w) / 2.0))
    return x[..., top : top + crop_h, left : left + crop_w]
