"""SSIM throughput: pixsift's backends against the SSIM implementations users compare with.

    python -m benchmarks.bench_ssim                 # the default sweep for the device at hand
    python -m benchmarks.bench_ssim --sizes 1024 --batches 32 --channels 3
    python -m benchmarks.bench_ssim --roundtrip     # SynthVLM's round trip of 1024^2 RGB photographs

Inputs are real photographs (scikit-image's samples) resized to each size, against a noisy,
slightly shifted copy. Two conventions, each against its peers on equal terms:
  gaussian: 11x11 gaussian (sigma 1.5), population covariance, valid padding; pytorch-msssim,
            torchmetrics, kornia (valid) and scikit-image (gaussian_weights=True) compute the same.
  uniform:  scikit-image's defaults, 7x7 uniform window and sample covariance.
Peers take float32 images in [0, 255]; pixsift reads float32 and, in separate rows, uint8.
The floor is the larger of (bytes read / measured copy bandwidth) and (windowed-moment operations
/ measured fp32 rate); "% floor" is floor time over measured time. Without a GPU all timings are
CPU timings, and the triton and cuda providers are skipped (the Triton interpreter is no benchmark).

--roundtrip times kernels.roundtrip_ssim (768 -> 336 -> 768, then L, then scikit-image's SSIM) per RGB
image against SynthVLM's calc_ssim as its script runs it (PIL's resizes and convert, scikit-image's
structural_similarity): pixsift on one thread per image (`serial`, as the score stage's threads call it)
and on a batch with every core, the peer one image at a time.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks import harness
from pixsift.kernels.optional import available
from pixsift.kernels.ssim import ssim

CONVENTIONS = {
    "gaussian": dict(window="gaussian", win_size=11, covariance="population"),
    "uniform": dict(window="uniform", win_size=7, covariance="sample"),
}
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")


def photo_batch(
    batch: int, size: int, channels: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 pairs (photo, noisy copy shifted by one pixel) of shape batch x channels x size x size."""
    from skimage import data

    gen = torch.Generator().manual_seed(0)
    images = []
    for i in range(batch):
        img = torch.from_numpy(np.ascontiguousarray(getattr(data, PHOTOS[i % len(PHOTOS)])()))
        img = img.permute(2, 0, 1)[None].float()
        img = F.interpolate(img, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        images.append(img if channels == 3 else img.mean(1, keepdim=True))
    x = torch.cat(images)
    y = torch.roll(x, shifts=1, dims=-1) + 8 * torch.randn(x.shape, generator=gen)
    to_u8 = lambda t: t.round().clamp(0, 255).to(torch.uint8).to(device)
    return to_u8(x), to_u8(y)


def providers(convention: str, device: torch.device) -> dict[str, Callable]:
    """name -> make(x_uint8, y_uint8) -> zero-argument callable computing per-image SSIM."""
    opts = CONVENTIONS[convention]
    ours = {}
    names = ("triton", "cuda", "torch") if device.type == "cuda" else ("numba", "torch")
    if "cuda" in names and not available("pycuda"):
        print("bench_ssim: the cuda provider is skipped: no pycuda (pip install 'pixsift[gpu]' installs it)")
        names = tuple(n for n in names if n != "cuda")
    for backend in names:
        for dtype in (torch.float32, torch.uint8):
            ours[f"pixsift-{backend}-{str(dtype)[6:]}"] = _ours(backend, dtype, opts)
    peers = {}
    if convention == "gaussian":
        if available("pytorch_msssim"):
            peers["pytorch-msssim"] = _peer_pytorch_msssim
        if available("torchmetrics"):
            peers["torchmetrics"] = _peer_torchmetrics
        if available("kornia"):
            peers["kornia"] = _peer_kornia
    if device.type == "cpu" and available("skimage"):
        peers["scikit-image"] = lambda x, y: _peer_skimage(x, y, convention)
    return {**ours, **peers}


def _ours(backend: str, dtype: torch.dtype, opts: dict):
    def make(x, y):
        x, y = x.to(dtype), y.to(dtype)
        return lambda: ssim(x, y, 255.0, padding="valid", backend=backend, **opts)

    return make


def _peer_pytorch_msssim(x, y):
    from pytorch_msssim import ssim as msssim_ssim

    x, y = x.float(), y.float()
    return lambda: msssim_ssim(x, y, data_range=255.0, size_average=False)


def _peer_torchmetrics(x, y):
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    x, y = x.float(), y.float()
    return lambda: tm_ssim(x, y, data_range=255.0, reduction="none")


def _peer_kornia(x, y):
    from kornia.metrics import ssim as kornia_ssim

    x, y = x.float(), y.float()
    return lambda: kornia_ssim(x, y, 11, max_val=255.0, padding="valid").mean(dim=(1, 2, 3))


def _peer_skimage(x, y, convention: str):
    from skimage.metrics import structural_similarity

    x, y = x.numpy(), y.numpy()
    kwargs = dict(data_range=255.0, channel_axis=0 if x.shape[1] == 3 else None)
    if convention == "gaussian":
        kwargs.update(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    squeeze = (lambda a: a) if x.shape[1] == 3 else (lambda a: a[0])
    return lambda: [
        structural_similarity(squeeze(a), squeeze(b), **kwargs) for a, b in zip(x, y, strict=True)
    ]


def moment_ops(n: int, c: int, h: int, w: int, win: int) -> float:
    """Operations per call: 3 products, 5 moments x 2 separable passes x win multiply-adds, ~20 for SSIM."""
    return n * c * (h - win + 1) * (w - win + 1) * (3 + 5 * 2 * 2 * win + 20)


def run(args: argparse.Namespace) -> list[dict]:
    device = torch.device(args.device)
    hw = harness.measure_hardware(device)
    env = harness.environment(device, ("numba", "pytorch-msssim", "torchmetrics", "kornia", "scikit-image"))
    print(f"{env['device']}  {hw.as_dict()}  git {env['git_sha']}")
    rows = []
    for convention in args.conventions:
        win = CONVENTIONS[convention]["win_size"]
        make = providers(convention, device)
        for size in args.sizes:
            for batch in args.batches:
                for channels in args.channels:
                    x, y = photo_batch(batch, size, channels, device)
                    for name in args.providers or make:
                        if name not in make:
                            continue
                        fn = make[name](x, y)
                        ms = harness.time_ms(fn, device, budget_s=args.budget)
                        itemsize = 1 if name.endswith("uint8") else 4
                        nbytes = 2 * x.numel() * itemsize
                        floor = hw.floor_ms(nbytes, moment_ops(batch, channels, size, size, win))
                        rows.append(
                            dict(
                                benchmark="ssim",
                                convention=convention,
                                provider=name,
                                size=size,
                                batch=batch,
                                channels=channels,
                                ms=ms,
                                images_per_s=batch / (ms * 1e-3),
                                GBps=nbytes / (ms * 1e-3) / 1e9,
                                pct_floor=100 * floor / ms,
                            )
                        )
                    _add_speedups(rows, convention, size, batch, channels)
    columns = (
        "convention",
        "provider",
        "size",
        "batch",
        "channels",
        "ms",
        "images_per_s",
        "GBps",
        "pct_floor",
    )
    harness.print_table("SSIM (per-image mean)", rows, (*columns, "x_vs_peer"))
    print("\n" + harness.append_results("bench_ssim", rows, env, hw, args.results))
    return rows


def _add_speedups(rows: list[dict], convention: str, size: int, batch: int, channels: int) -> None:
    """Speed-up of each pixsift provider over the fastest peer measured on the same case."""
    case = [
        r
        for r in rows
        if (r["convention"], r["size"], r["batch"], r["channels"]) == (convention, size, batch, channels)
    ]
    peers = [r["ms"] for r in case if not r["provider"].startswith("pixsift")]
    for r in case:
        if r["provider"].startswith("pixsift") and peers:
            r["x_vs_peer"] = min(peers) / r["ms"]


def run_roundtrip(args: argparse.Namespace) -> list[dict]:
    from PIL import Image

    from pixsift.kernels.ssim import roundtrip_ssim
    from tests.fixtures.synthvlm import calc_ssim

    device = torch.device(args.device)
    hw = harness.measure_hardware(device)
    env = harness.environment(device, ("numba", "pillow", "scikit-image"))
    size, batch = args.sizes[-1], max(args.batches)
    images = photo_batch(batch, size, 3, device)[0].contiguous(
        memory_format=torch.channels_last
    )  # as decoded
    pil = [Image.fromarray(image.permute(1, 2, 0).cpu().numpy()) for image in images]

    def synthvlm():
        for image in pil:
            calc_ssim(image)

    contenders = {
        "pixsift (one thread per image)": lambda: [roundtrip_ssim(i[None], serial=True) for i in images],
        "pixsift (batch, every core)": lambda: roundtrip_ssim(images),
        "SynthVLM calc_ssim (PIL + skimage)": synthvlm,
    }
    rows = []
    for name, fn in contenders.items():
        ms = harness.time_ms(fn, device, budget_s=args.budget) / batch
        rows.append(dict(benchmark="roundtrip", provider=name, size=size, batch=batch, ms_per_image=ms))
    peer = rows[-1]["ms_per_image"]
    for row in rows:
        row["x_vs_peer"] = peer / row["ms_per_image"]
    harness.print_table(
        f"round-trip SSIM of {size}^2 RGB photographs", rows, ("provider", "ms_per_image", "x_vs_peer")
    )
    print("\n" + harness.append_results("bench_ssim", rows, env, hw, args.results))
    return rows


def main(argv: list[str] | None = None) -> None:
    gpu = torch.cuda.is_available()
    parser = harness.parser(__doc__)
    parser.add_argument("--conventions", nargs="+", choices=list(CONVENTIONS), default=list(CONVENTIONS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32, 64] if gpu else [1, 4])
    parser.add_argument("--channels", nargs="+", type=int, choices=[1, 3], default=[3, 1])
    parser.add_argument("--providers", nargs="+", help="subset of provider names (default: all available)")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of CPU timing per case")
    parser.add_argument("--roundtrip", action="store_true", help="SynthVLM's round trip instead (see above)")
    args = parser.parse_args(argv)
    (run_roundtrip if args.roundtrip else run)(args)


if __name__ == "__main__":
    main()
