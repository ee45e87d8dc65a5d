"""PIL's 8-bit bilinear resize and RGB -> L, bit for bit: the integer torch ops (any device) and the CPU
path (numba's passes, or Pillow's own call), on fresh random and real images of odd sizes."""

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from pixsift.kernels.ssim.resize import luma_8bit, resize_8bit
from pixsift.kernels.ssim.resize_cpu import luma, resize

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="GPU"))]
# (input height, width) -> output side: down, up, both at once, one side unchanged, tiny, squares down and
# up (both passes in numba, the horizontal one over 4 rows at a time and a remainder)
CASES = [((37, 53), 29), ((21, 16), 45), ((64, 23), 40), ((31, 31), 31), ((40, 30), 30), ((9, 8), 7)]
CASES += [((53, 53), 29), ((18, 18), 45), ((1024, 1024), 768)]


def _random(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _pil(pixels: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.BILINEAR))


def _pil_width_then_height(pixels: np.ndarray, size: int) -> np.ndarray:
    """PIL one pass at a time, width first: Pillow's order up to 12 (13 may run the height first)."""
    wide = np.asarray(Image.fromarray(pixels).resize((size, pixels.shape[0]), Image.BILINEAR))
    return _pil(wide, size)


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize(("shape", "size"), CASES)
def test_cpu_resize_equals_pil(shape, size, channels):
    pixels = _random((*shape, 3) if channels == 3 else shape, seed=size)
    np.testing.assert_array_equal(resize(pixels, size), _pil(pixels, size))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("shape", "size"), CASES)
def test_integer_resize_equals_pil(shape, size, device):
    batch = _random((2, *shape, 3), seed=size)  # batch of 2: each image on its own
    images = torch.from_numpy(batch).permute(0, 3, 1, 2).to(device)
    got = resize_8bit(images, size).permute(0, 2, 3, 1).cpu().numpy()
    for image, expected in zip(got, batch, strict=True):
        np.testing.assert_array_equal(image, _pil_width_then_height(expected, size))


@pytest.mark.parametrize("device", DEVICES)
def test_photograph_through_768_336_768_equals_pil(device):
    photo = skimage.data.coffee()  # 400 x 600: the height shrinks less, so every Pillow goes width first
    pil = Image.fromarray(photo).resize((768, 768), Image.BILINEAR)
    pil_back = np.asarray(pil.resize((336, 336), Image.BILINEAR).resize((768, 768), Image.BILINEAR))
    np.testing.assert_array_equal(resize(resize(resize(photo, 768), 336), 768), pil_back)
    image = torch.from_numpy(photo).permute(2, 0, 1)[None].to(device)
    back = resize_8bit(resize_8bit(resize_8bit(image, 768), 336), 768)
    np.testing.assert_array_equal(back[0].permute(1, 2, 0).cpu().numpy(), pil_back)


@pytest.mark.parametrize("device", DEVICES)
def test_luma_equals_pil_convert_l(device):
    pixels = _random((19, 33, 3), seed=3)
    expected = np.asarray(Image.fromarray(pixels).convert("L"))
    np.testing.assert_array_equal(luma(pixels), expected)
    got = luma_8bit(torch.from_numpy(pixels).permute(2, 0, 1)[None].to(device))
    np.testing.assert_array_equal(got[0, 0].cpu().numpy(), expected)
