"""SynthVLM's fidelity score as its `calc_ssim.py` computes it: the peer pixsift's round trip is tested
against (tests/kernels/test_ssim.py, tests/engine/score/test_score.py) and measured beside
(bench_ssim --roundtrip, bench_peers)."""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity


def calc_ssim(image: Image.Image, size: int = 768, via: int = 336) -> float:
    """The image as RGB resized to size x size, to via x via and back (PIL bilinear), both converted to
    "L", compared with scikit-image's default SSIM."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")  # the script opens images as RGB once
    reference = rgb.resize((size, size), Image.BILINEAR)
    roundtrip = reference.resize((via, via), Image.BILINEAR).resize((size, size), Image.BILINEAR)
    return structural_similarity(np.asarray(reference.convert("L")), np.asarray(roundtrip.convert("L")))
