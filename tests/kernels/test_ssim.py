"""SSIM: every backend against the float64 reference, against the libraries users trust, and its errors.

Triton runs in its CPU interpreter here (tests/conftest.py), which is slow per program and per row,
so the cases that include it use images of a few dozen pixels.
"""

import importlib
import zlib

import kornia
import numpy as np
import pytest
import pytorch_msssim
import skimage.data
import torch
from PIL import Image
from skimage.metrics import structural_similarity
from torchmetrics.functional.image import structural_similarity_index_measure

from pixsift.kernels.ssim import roundtrip_ssim, ssim
from pixsift.kernels.ssim.config import LUMA, make_config
from pixsift.kernels.ssim.reference import ssim_reference
from tests.fixtures.synthvlm import calc_ssim

BACKENDS = [
    "torch",
    "triton",
    "numba",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")),
]
# kernels/__init__.py re-exports the function `ssim` under the module's own name.
triton_module = importlib.import_module("pixsift.kernels.ssim.triton_kernel")
# Relative and absolute: map values near 0 have no meaningful relative error.
TOLERANCE = {torch.uint8: 1e-5, torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 1e-2}
# Our float32 against the libraries, run in float64: the largest differences measured were 3.9e-6 in
# the mean (512 x 512 photographs and Triton's crops) and 6.6e-5 in single map values, where float32
# E[x^2] - mu^2 of flat patches at 8-bit scale keeps about 1e-3 absolute of a variance next to c2 = 58.5.
PEER_TOLERANCE = 1e-5
PEER_MAP_TOLERANCE = 2e-4


@pytest.fixture
def seed(request) -> int:
    """Different for every test and parameter set, the same on every run."""
    return zlib.crc32(request.node.nodeid.encode())


def _device(backend: str) -> str:
    return "cuda" if backend == "cuda" or (backend == "triton" and torch.cuda.is_available()) else "cpu"


def _pair(shape, dtype, seed, noise=0.15):
    """x uniform over the data range and y = x + noise, clamped: correlated, so SSIM is well away from 0."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64)
    y = (x + noise * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    if dtype == torch.uint8:
        return (x * 255).round().to(dtype), (y * 255).round().to(dtype), None
    return x.to(dtype), y.to(dtype), 1.0


def _assert_matches_reference(x, y, data_range, options, backend):
    device = _device(backend)
    out = ssim(x.to(device), y.to(device), data_range, backend=backend, **options)
    want_map = options.get("reduction") == "none"
    cfg = make_config(
        x,
        data_range,
        options.get("window", "gaussian"),
        options.get("win_size", 11),
        options.get("sigma", 1.5),
        options.get("padding", "valid"),
        options.get("covariance", "population"),
        options.get("gray", False),
        options.get("reduction", "mean"),
    )
    means, ssim_map = ssim_reference(x, y, cfg, dtype=torch.float64)
    tol = TOLERANCE[x.dtype]
    torch.testing.assert_close(out.cpu(), ssim_map if want_map else means, rtol=tol, atol=tol)
    if want_map:  # the mean, computed by the backend alongside the map, must agree too
        out_means = ssim(
            x.to(device), y.to(device), data_range, backend=backend, **{**options, "reduction": "mean"}
        )
        torch.testing.assert_close(out_means.cpu(), means, rtol=tol, atol=tol)


OPTION_CASES = [
    ((1, 1, 23, 37), torch.uint8, {"reduction": "none"}),
    (
        (2, 3, 31, 16),
        torch.float32,
        dict(window="uniform", win_size=7, padding="reflect", covariance="sample"),
    ),
    ((3, 1, 24, 29), torch.float16, dict(win_size=3, sigma=0.8, padding="zeros", reduction="none")),
    (
        (1, 3, 29, 33),
        torch.bfloat16,
        dict(win_size=9, sigma=2.0, padding="reflect", gray=True, reduction="none"),
    ),
    (
        (2, 3, 17, 40),
        torch.uint8,
        dict(window="uniform", win_size=5, padding="zeros", covariance="sample", gray=True),
    ),
    ((1, 1, 40, 35), torch.float32, dict(win_size=31, sigma=5.0, reduction="none")),
    ((2, 1, 33, 41), torch.float32, dict(win_size=17, sigma=3.0, padding="reflect", covariance="sample")),
    ((1, 2, 19, 21), torch.float32, dict(window="uniform", win_size=13, padding="zeros", reduction="none")),
    # numba's exact integer path: uint8, uniform window, no padding (int32 window sums, then int64)
    ((2, 3, 30, 23), torch.uint8, dict(window="uniform", win_size=7, covariance="sample", reduction="none")),
    ((1, 2, 40, 33), torch.uint8, dict(window="uniform", win_size=15)),
]


def _case_id(case) -> str:
    shape, dtype, options = case
    return "-".join(
        ["x".join(map(str, shape)), str(dtype).removeprefix("torch.")]
        + [f"{k}={v}" for k, v in options.items()]
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("shape", "dtype", "options"), OPTION_CASES, ids=map(_case_id, OPTION_CASES))
def test_options_match_reference(backend, shape, dtype, options, seed):
    x, y, data_range = _pair(shape, dtype, seed)
    _assert_matches_reference(x, y, data_range, options, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", TOLERANCE, ids=str)
def test_dtypes_match_reference(backend, dtype, seed):
    x, y, data_range = _pair((2, 1, 23, 37), dtype, seed)
    _assert_matches_reference(x, y, data_range, {"win_size": 7, "reduction": "none"}, backend)


@pytest.mark.parametrize("data_range", [255.0, 4096.0])
@pytest.mark.parametrize("backend", BACKENDS)
def test_float_data_ranges(backend, data_range, seed):
    x, y, _ = _pair((2, 1, 27, 30), torch.float32, seed)
    _assert_matches_reference(x * data_range, y * data_range, data_range, {"win_size": 7}, backend)


@pytest.mark.parametrize("padding", ["valid", "reflect", "zeros"])
def test_triton_tiles_and_partial_edges(padding, monkeypatch, seed):
    """Several row chunks and column strips per plane, the last ones partial, as on large GPU images."""
    monkeypatch.setattr(triton_module, "TRITON_ROWS_PER_PROGRAM", 8)
    monkeypatch.setattr(triton_module, "TRITON_BLOCK_W", 32)
    x, y, _ = _pair((2, 1, 21, 40), torch.uint8, seed)
    _assert_matches_reference(x, y, None, {"win_size": 7, "padding": padding, "reduction": "none"}, "triton")


# ---- agreement with the libraries users trust, each on its own convention ----


def _photo_pair(name: str, backend: str, seed: int):
    """A photograph from skimage.data (HxW or HxWx3 uint8) and a noisy copy; a small crop for the
    Triton interpreter, full size otherwise. name="noise" gives uniform noise."""
    g = np.random.default_rng(seed)
    small = backend == "triton" and not torch.cuda.is_available()
    if name == "noise":
        x = g.integers(0, 256, (40, 52) if small else (300, 451), dtype=np.uint8)
    else:
        x = getattr(skimage.data, name)()
        if small:
            x = x[200:248, 220:276]
    y = np.clip(x + g.normal(0, 20, x.shape), 0, 255).round().astype(np.uint8)
    return x, y


def _nchw(a: np.ndarray, device: str) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(a))
    t = t[None, None] if t.ndim == 2 else t.permute(2, 0, 1)[None]
    return t.contiguous().to(device)


def _skimage_uniform(x, y):
    ours = dict(window="uniform", win_size=7, covariance="sample")
    return ours, structural_similarity(x, y, data_range=255, channel_axis=-1 if x.ndim == 3 else None)


def _skimage_gaussian(x, y):
    theirs = structural_similarity(
        x,
        y,
        data_range=255,
        channel_axis=-1 if x.ndim == 3 else None,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    return {}, theirs


def _pytorch_msssim(x, y):
    theirs = pytorch_msssim.ssim(
        _nchw(x, "cpu").double(), _nchw(y, "cpu").double(), data_range=255, size_average=False
    )
    return {}, theirs.item()


def _torchmetrics(x, y):
    theirs = structural_similarity_index_measure(
        _nchw(x, "cpu").double(), _nchw(y, "cpu").double(), data_range=255.0, reduction="none"
    )
    return {"padding": "reflect"}, theirs.item()


def _kornia(x, y):
    theirs = kornia.metrics.ssim(
        _nchw(x, "cpu").double(), _nchw(y, "cpu").double(), 11, max_val=255.0, eps=0.0
    )
    return {"padding": "reflect"}, theirs.mean().item()


PEERS = [_skimage_uniform, _skimage_gaussian, _pytorch_msssim, _torchmetrics, _kornia]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("image", ["camera", "astronaut", "noise"])
@pytest.mark.parametrize("peer", PEERS, ids=lambda peer: peer.__name__.lstrip("_"))
def test_agrees_with_peer_library(peer, image, backend, seed):
    x, y = _photo_pair(image, backend, seed)
    options, theirs = peer(x, y)
    device = _device(backend)
    ours = ssim(_nchw(x, device), _nchw(y, device), backend=backend, **options).item()
    assert abs(ours - theirs) < PEER_TOLERANCE


@pytest.mark.parametrize("backend", BACKENDS)
def test_map_agrees_with_kornia(backend, seed):
    x, y = _photo_pair("astronaut", backend, seed)
    device = _device(backend)
    ours = ssim(
        _nchw(x, device), _nchw(y, device), padding="reflect", reduction="none", backend=backend
    ).cpu()
    theirs = kornia.metrics.ssim(
        _nchw(x, "cpu").double(), _nchw(y, "cpu").double(), 11, max_val=255.0, eps=0.0
    )
    torch.testing.assert_close(ours.double(), theirs, rtol=0, atol=PEER_MAP_TOLERANCE)


# ---- roundtrip_ssim against SynthVLM's calc_ssim ----


def _pil_float_roundtrip_ssim(rgb: np.ndarray, size: int, via: int) -> float:
    """The same procedure in PIL's float mode, channel by channel, then the luma weights."""

    def resized(plane: np.ndarray, *sizes: int) -> np.ndarray:
        image = Image.fromarray(plane.astype(np.float32), mode="F")
        for side in sizes:
            image = image.resize((side, side), Image.BILINEAR)
        return np.asarray(image, dtype=np.float64)

    planes = [rgb[..., c] for c in range(3)]
    reference = sum(w * resized(p, size) for w, p in zip(LUMA, planes, strict=True))
    roundtrip = sum(w * resized(p, size, via, size) for w, p in zip(LUMA, planes, strict=True))
    return structural_similarity(reference, roundtrip, win_size=7, data_range=1.0)


def _roundtrip_sizes(backend: str) -> tuple[int, int]:
    return (40, 17) if backend == "triton" and not torch.cuda.is_available() else (768, 336)


def _photo(name: str, crop: tuple[int, int] | None = None) -> np.ndarray:
    photo = getattr(skimage.data, name)()
    return photo[: crop[0], : crop[1]] if crop else photo


# uint8 follows PIL bit for bit, so what is left is the rounding of the SSIM itself: numba's (the CPU
# default) is exact integer sums and a float64 formula, at most 3e-8 away (the float32 result); the
# float32 backends were up to 1.2e-6 away (torch, astronaut). Float images: PIL's float mode, 2e-6.
ROUNDTRIP_TOLERANCE = {"numba": 1e-6, "torch": 5e-6, "triton": 5e-6, "cuda": 5e-6}
ROUNDTRIP_FLOAT_TOLERANCE = 1e-5
PHOTOS = [("astronaut", None), ("camera", (500, 311)), ("coffee", None), ("chelsea", (299, 451))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "crop"), PHOTOS, ids=[p[0] for p in PHOTOS])
def test_roundtrip_equals_synthvlm_calc_ssim(name, crop, backend):
    photo = _photo(name, crop)  # square and not, RGB and gray
    size, via = _roundtrip_sizes(backend)
    theirs = calc_ssim(Image.fromarray(photo), size, via)
    ours = roundtrip_ssim(_nchw(photo, _device(backend)), size, via, backend=backend).item()
    assert abs(ours - theirs) < ROUNDTRIP_TOLERANCE[backend]


def test_roundtrip_of_a_batch_equals_each_image_and_serial_equals_threaded():
    photos = [_photo("astronaut")[s : s + 300, s : s + 280] for s in (0, 40, 90)]
    batch = torch.stack([_nchw(p, "cpu")[0] for p in photos])
    alone = torch.cat([roundtrip_ssim(_nchw(p, "cpu"), 64, 29) for p in photos])
    assert torch.equal(roundtrip_ssim(batch, 64, 29), alone)
    assert torch.equal(roundtrip_ssim(batch, 64, 29, serial=True), alone)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_roundtrip_float_matches_pil_float_mode(name, backend):
    photo = getattr(skimage.data, name)() / 255.0
    size, via = _roundtrip_sizes(backend)
    theirs = _pil_float_roundtrip_ssim(photo, size, via)
    images = _nchw(photo.astype(np.float32), _device(backend))
    ours = roundtrip_ssim(images, size, via, data_range=1.0, backend=backend).item()
    assert abs(ours - theirs) < ROUNDTRIP_FLOAT_TOLERANCE


# ---- errors ----


def _images(shape=(1, 1, 16, 16), dtype=torch.float32):
    return torch.rand(shape).to(dtype)


@pytest.mark.parametrize(
    ("x", "y", "kwargs", "error", "match"),
    [
        (
            _images(),
            _images((1, 1, 16, 17)),
            {},
            ValueError,
            r"same shape, got \(1, 1, 16, 16\) and \(1, 1, 16, 17\)",
        ),
        (
            _images((1, 1, 10, 30)),
            _images((1, 1, 10, 30)),
            {},
            ValueError,
            r"10x30 are smaller than the 11x11",
        ),
        (
            _images(dtype=torch.int32),
            _images(dtype=torch.int32),
            {},
            TypeError,
            "x has unsupported dtype torch.int32",
        ),
        (_images(), _images(dtype=torch.float64), {}, TypeError, "y has unsupported dtype torch.float64"),
        (_images((0, 1, 16, 16)), _images((0, 1, 16, 16)), {}, ValueError, "x is an empty batch"),
        (_images((1, 16, 16)), _images((1, 16, 16)), {}, ValueError, "x must have 4 dimensions"),
        (_images(), _images(dtype=torch.float16), {}, TypeError, "x has dtype torch.float32 but y has dtype"),
        (_images(), _images(), {"data_range": None}, ValueError, "data_range is required for torch.float32"),
        (
            _images(),
            _images(),
            {"data_range": 0.0},
            ValueError,
            "data_range must be a positive finite number",
        ),
        (_images(), _images(), {"gray": True}, ValueError, "gray=True needs 3-channel"),
        (
            _images(),
            _images(),
            {"window": "box"},
            ValueError,
            "window must be one of 'gaussian', 'uniform'; got 'box'",
        ),
        (_images(), _images(), {"padding": "same"}, ValueError, "padding must be one of .*got 'same'"),
        (_images(), _images(), {"covariance": "unbiased"}, ValueError, "covariance must be one of"),
        (_images(), _images(), {"reduction": "sum"}, ValueError, "reduction must be one of"),
        (_images(), _images(), {"backend": "opencl"}, ValueError, "backend must be one of"),
        (
            _images(),
            _images(),
            {"win_size": 8},
            ValueError,
            "win_size must be an odd integer from 3 to 31, got 8",
        ),
        (_images(), _images(), {"win_size": 33}, ValueError, "win_size must be an odd integer"),
        (_images(), _images(), {"sigma": 0.0}, ValueError, "sigma must be a positive number"),
        (_images(), _images(), {"backend": "cuda"}, ValueError, "backend='cuda' needs CUDA tensors"),
    ],
)
def test_clear_errors(x, y, kwargs, error, match):
    kwargs = {"data_range": 1.0, **kwargs}
    with pytest.raises(error, match=match):
        ssim(x, y, kwargs.pop("data_range"), **kwargs)


# inf - inf in the interpreter's numpy arithmetic warns; the NaN it makes is the point.
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("culprit", ["x", "y"])
def test_nonfinite_input_is_named_with_its_index(culprit, bad, backend):
    images = {"x": _images((3, 1, 16, 16)), "y": _images((3, 1, 16, 16))}
    images[culprit][1, 0, 5, 7] = bad
    device = _device(backend)
    x, y = images["x"].to(device), images["y"].to(device)
    with pytest.raises(ValueError, match=rf"NaN or inf \({culprit} at index \[1\]\)"):
        ssim(x, y, 1.0, win_size=7, backend=backend)


@pytest.mark.parametrize(
    ("images", "kwargs", "match"),
    [
        (_images((1, 2, 16, 16)), {"data_range": 1.0}, "1 or 3 channels"),
        (_images((1, 3, 16, 16)), {}, "data_range is required for torch.float32"),
        (_images((1, 1, 16, 16)), {"data_range": 1.0, "via": 5}, "via must be an integer of at least 7"),
        (_images((1, 1, 16, 16), torch.int32), {}, "images has unsupported dtype"),
        (
            torch.zeros(1, 1, 16, 16, dtype=torch.uint8),
            {"data_range": 1.0},
            "uint8 images have data_range 255",
        ),
    ],
)
def test_roundtrip_clear_errors(images, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        roundtrip_ssim(images, **kwargs)


@pytest.mark.parametrize("backend", ["torch", "triton"])  # numba's float64 moments do not overflow here
def test_finite_inputs_that_overflow_float32_are_reported(backend):
    # Below 1e20 whatever the draw: a value within 0.05% of 1e20 would print as "1e+20".
    x = _images((2, 1, 16, 16)) * 9e19
    with pytest.raises(
        ValueError, match="not finite although the inputs are: values up to .*e\\+19 overflow float32"
    ):
        ssim(x, x.flip(-1), 1e20, win_size=7, backend=backend)


def test_triton_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match="backend='triton' needs CUDA tensors .* or TRITON_INTERPRET=1"):
        ssim(_images(), _images(), 1.0, backend="triton")
