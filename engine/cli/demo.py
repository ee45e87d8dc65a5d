"""`pixsift demo DIR`: the kernels on a folder of captioned photographs (the bundled sample data).

For each photograph: SynthVLM's round-trip fidelity SSIM; SSIM against degraded copies (JPEG at
quality 10, gaussian blur, noise), checked against the float64 reference; and retrieval of each
degraded copy's source among the originals by cosine similarity of small thumbnails, with
`topk_cosine` and `cosine_pairs`.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageFilter

from pixsift.engine.core.commands import add_command, config_from
from pixsift.engine.core.config import Config, setting
from pixsift.engine.core.device import DEVICES, resolve_device
from pixsift.engine.core.errors import NotFound
from pixsift.kernels.similarity import cosine_pairs, topk_cosine
from pixsift.kernels.ssim import roundtrip_ssim, ssim
from pixsift.kernels.ssim.config import make_config
from pixsift.kernels.ssim.reference import ssim_reference

# ssim()'s defaults for uint8 images, for the float64 reference.
DEFAULT_CONFIG = make_config(
    torch.zeros(1, 3, 1, 1, dtype=torch.uint8),
    data_range=None,
    window="gaussian",
    win_size=11,
    sigma=1.5,
    padding="valid",
    covariance="population",
    gray=False,
    reduction="mean",
)
DEGRADATIONS = {
    "jpeg q10": lambda img: Image.open(_jpeg_bytes(img, 10)).convert("RGB"),
    "blur r2": lambda img: img.filter(ImageFilter.GaussianBlur(2)),
    "noise s12": lambda img: Image.fromarray(
        np.clip(
            np.asarray(img, np.float32) + np.random.default_rng(0).normal(0, 12, np.asarray(img).shape),
            0,
            255,
        ).astype(np.uint8)
    ),
}


@dataclass(kw_only=True)
class DemoConfig(Config):
    samples: str = setting(positional=True, help="folder with captions.jsonl (key, image, caption per line)")
    device: str = setting("auto", choices=DEVICES, help="auto (the GPU when there is one), cpu or cuda")


def add(p) -> None:
    add_command(
        p,
        _run,
        config=DemoConfig,
    )


def _run(args) -> int:
    cfg = config_from(args, DemoConfig)
    device = torch.device(resolve_device(cfg.device))
    samples = Path(cfg.samples)
    start = time.perf_counter()
    records = load_samples(samples)
    print(f"{len(records)} photographs from {samples} on {device}\n")
    originals = {r["key"]: _tensor(r["image"], device) for r in records}

    print(f"{'key':<22}{'size':>10}  {'roundtrip':>9}  " + "  ".join(f"{d:>9}" for d in DEGRADATIONS))
    worst = 0.0
    copies = []
    for r in records:
        x = originals[r["key"]]
        fidelity = roundtrip_ssim(x).item()
        scores = []
        for degrade in DEGRADATIONS.values():
            y = _tensor(degrade(r["image"]), device)
            copies.append((r["key"], y))
            scores.append(ssim(x, y).item())
            reference, _ = ssim_reference(
                x.cpu(),
                y.cpu(),
                DEFAULT_CONFIG,
            )
            worst = max(worst, abs(scores[-1] - reference.item()))
        size = f"{x.shape[-1]}x{x.shape[-2]}"
        print(f"{r['key']:<22}{size:>10}  {fidelity:9.4f}  " + "  ".join(f"{s:9.4f}" for s in scores))
    print(f"\nSSIM vs the float64 reference: max |difference| {worst:.2e}")

    keys = list(originals)
    key_emb = torch.cat([_thumbnail(originals[k]) for k in keys])
    copy_emb = torch.cat([_thumbnail(y) for _, y in copies])
    _, idx = topk_cosine(copy_emb, key_emb, k=1)
    found = sum(keys[i] == source for i, (source, _) in zip(idx[:, 0].tolist(), copies, strict=False))
    own = cosine_pairs(copy_emb, torch.cat([_thumbnail(originals[s]) for s, _ in copies]))
    print(
        f"retrieval of each degraded copy's source by thumbnail cosine: {found}/{len(copies)} found, "
        f"cosine to own source min {own.min().item():.4f} mean {own.mean().item():.4f}"
    )
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def load_samples(folder: Path) -> list[dict]:
    """The rows of folder/captions.jsonl whose image opens; the others are named and skipped."""
    manifest = folder / "captions.jsonl"
    if not manifest.is_file():
        raise NotFound(str(manifest), "not found (expected one JSON object per line: key, image, caption)")
    records = []
    for n, line in enumerate(manifest.read_text().splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            try:
                row["image"] = Image.open(folder / row["image"]).convert("RGB")
            except (OSError, KeyError) as exc:
                print(f"skipped {manifest}:{n}: cannot read its image: {exc}")
                continue
            records.append(row)
    return records


def _tensor(img: Image.Image, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].to(device)


def _thumbnail(x: torch.Tensor, size: int = 16) -> torch.Tensor:
    """A 256-d embedding: the mean-centred luma thumbnail."""
    t = F.interpolate(x.float().mean(1, keepdim=True), size=(size, size), mode="area").flatten(1)
    return t - t.mean(dim=1, keepdim=True)


def _jpeg_bytes(img: Image.Image, quality: int) -> io.BytesIO:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return buf
