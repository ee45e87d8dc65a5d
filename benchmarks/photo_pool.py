"""Candidate pools for benchmarks: JPEGs made from real photographs, so they decode like real images.

Each distinct image is a random crop of one of scikit-image's photographs, flipped or not, with its
colour, contrast and brightness changed, resized to `size` x `size` and saved as JPEG (quality 90).
A pool of N candidates is a JSONL manifest whose rows cycle over the distinct files, so a pool of
100K candidates needs only a few hundred files on disk. Captions name the photograph's subject; with
`images_per_caption` each group of that many consecutive candidates shares one caption of its own, as
the N images of a best-of-N pool share the caption they were generated from. An editing pool
(`edits_per_source`) makes every row an edit whose source is another of the files, each source shared by
that many consecutive rows.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

POOL_DIR = Path(tempfile.gettempdir()) / "pixsift-bench-pool"  # pools are reused from run to run
# (width, height) of a mixed pool's images: the shapes of web photographs, landscape and portrait.
MIXED_SIZES = ((512, 384), (640, 480), (800, 600), (1024, 768), (768, 1024), (1024, 1024), (1600, 1200))
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")
SUBJECTS = {
    "astronaut": "an astronaut in a white spacesuit",
    "coffee": "a cup of coffee on a saucer",
    "chelsea": "a tabby cat looking at the camera",
    "rocket": "a rocket on a launch pad",
    "immunohistochemistry": "stained tissue under a microscope",
    "hubble_deep_field": "distant galaxies in deep space",
    "retina": "a photograph of a human retina",
}


def make_pool(
    folder: Path,
    candidates: int,
    distinct: int = 256,
    size: int | None = 1024,
    seed: int = 0,
    images_per_caption: int | None = None,
    edits_per_source: int | None = None,
) -> Path:
    """Write `distinct` JPEGs and a manifest of `candidates` rows into `folder` (reused when present);
    `size` x `size` images, or with `size=None` each of one of MIXED_SIZES in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    shared = f"-per-caption-{images_per_caption}" if images_per_caption else ""
    shared += f"-edits-per-source-{edits_per_source}" if edits_per_source else ""
    mixed = "-mixed" if size is None else ""
    manifest = folder / f"pool-{candidates}-of-{distinct}{shared}{mixed}.jsonl"
    if manifest.exists():
        return manifest
    names = _images(folder, distinct, size, seed)
    with manifest.open("w") as f:
        for i in range(candidates):
            name, subject = names[i % len(names)]
            if images_per_caption:
                group = i // images_per_caption
                subject = f"{SUBJECTS[PHOTOS[group % len(PHOTOS)]]}, take {group}"
            row = {"key": f"c{i:09d}", "image": name, "caption": subject}
            if edits_per_source:  # the source: another file (the next one along), a file beside the image
                source = names[(i // edits_per_source * edits_per_source + 1) % len(names)][0]
                row.update(task="edit", source_key=source, caption=f"make it look like {subject}")
            f.write(json.dumps(row) + "\n")
    return manifest


def score_pool(manifest: Path, **settings):
    """`pixsift score` of the pool with random weights in a temporary store; the job's summary.
    `settings` are ScoreConfig fields."""
    from pixsift.engine.score.config import ScoreConfig
    from pixsift.engine.score.job import score

    with tempfile.TemporaryDirectory() as store:
        cfg = ScoreConfig(inputs=[str(manifest)], store=store, clip_random_init=True, **settings)
        return score(cfg, io.StringIO())


def _images(folder: Path, distinct: int, size: int | None, seed: int) -> list[tuple[str, str]]:
    from skimage import data

    rng = np.random.default_rng(seed)
    photos = {name: Image.fromarray(getattr(data, name)()).convert("RGB") for name in PHOTOS}
    names = []
    for i in range(distinct):
        photo = PHOTOS[i % len(PHOTOS)]
        width, height = (size, size) if size else MIXED_SIZES[i % len(MIXED_SIZES)]
        name = f"img-{width}x{height}-{seed}-{i:05d}.jpg"
        names.append((name, SUBJECTS[photo]))
        if (folder / name).exists():
            continue
        image = photos[photo]
        w, h = image.size
        scale = min(w / width, h / height) * rng.uniform(0.5, 1.0)  # a crop of the target's aspect
        crop_w, crop_h = int(width * scale), int(height * scale)
        left, top = rng.integers(0, w - crop_w + 1), rng.integers(0, h - crop_h + 1)
        image = image.crop((left, top, left + crop_w, top + crop_h))
        if rng.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        for enhance in (ImageEnhance.Color, ImageEnhance.Contrast, ImageEnhance.Brightness):
            image = enhance(image).enhance(rng.uniform(0.7, 1.3))
        image.resize((width, height), Image.Resampling.BICUBIC).save(folder / name, quality=90)
    return names
