"""The GPU suite's first step: what must hold before any figure is worth reading.

    python -m benchmarks.gpu.gpu_probe            # on the GPU: the sizes below
    python -m benchmarks.gpu.gpu_probe --smoke    # the same checks at tiny sizes (any machine)

- int64 offsets: each kernel on an input of more than 2^31 elements, its results past that offset
  compared with the same rows (or image region) computed alone: SSIM on a 46,400^2 uint8 plane (its
  map at the far corner), cosine_pairs on 2.8M x 768 fp16 pairs (the last rows), topk_cosine of the
  last 64 of 2.8M keys against all of them (each finds itself first).
- determinism: every kernel twice on the same input, compared bit for bit.
- host syncs: the calls' synchronizations, counted with `torch.cuda.set_sync_debug_mode("warn")`.
- ceilings: JPEG decode, PIL on every core against nvJPEG (`torchvision.io.decode_jpeg` on the GPU);
  the ViT-L-14 image tower's images/s at batch 256 in bf16 (random weights: the cost is the same).

`--smoke` shrinks every size so that the checks run in seconds on a CPU (no offset past 2^31 there: the
row says so); it is what the test suite runs, so the probe cannot rot between GPU sessions.
"""

from __future__ import annotations

import io
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from benchmarks import harness
from benchmarks.photo_pool import POOL_DIR, make_pool
from pixsift.kernels.similarity import cosine_pairs, topk_cosine
from pixsift.kernels.ssim import ssim

PAST_INT32 = 2**31 + 2**20


def offsets(device: torch.device, smoke: bool) -> list[dict]:
    """Results past element 2^31 against the same values computed on a small input."""
    rows = []
    side = 64 if smoke else 46_400  # 46,400^2 = 2.15e9 elements
    x = torch.zeros(1, 1, side, side, dtype=torch.uint8, device=device)
    patch = torch.randint(0, 256, (1, 1, 48, 48), dtype=torch.uint8, device=device)
    x[..., -48:, -48:] = patch
    y = x.clone()
    y[..., -48:, -48:] = (patch.int() + 7).clamp(0, 255).to(torch.uint8)
    big = ssim(x, y, reduction="none")  # valid windows: the map's last 38 x 38 lie inside the patch
    small = ssim(x[..., -48:, -48:].contiguous(), y[..., -48:, -48:].contiguous(), reduction="none")
    rows.append(_check("ssim", x.numel(), torch.allclose(big[..., -38:, -38:], small, rtol=0, atol=1e-6)))
    n = 16 if smoke else PAST_INT32 // 768 + 1
    a = torch.randn(n, 768, dtype=torch.float16, device=device)
    b = torch.randn(n, 768, dtype=torch.float16, device=device)
    tail = slice(n - 1000 if n > 1000 else 0, n)
    same = torch.allclose(cosine_pairs(a, b)[tail], cosine_pairs(a[tail], b[tail]), rtol=0, atol=1e-6)
    rows.append(_check("cosine_pairs", a.numel(), same))
    queries = a[-64:] if n >= 64 else a
    _, index = topk_cosine(queries, a, 1)
    expected = torch.arange(n - len(queries), n, device=device)
    rows.append(_check("topk_cosine", a.numel(), torch.equal(index[:, 0], expected)))
    return rows


def _check(kernel: str, elements: int, ok: bool) -> dict:
    past = elements > 2**31
    return {"probe": "int64_offsets", "kernel": kernel, "elements": elements, "past_int32": past, "ok": ok}


def determinism_and_syncs(device: torch.device, smoke: bool) -> list[dict]:
    side, n = (64, 256) if smoke else (1024, 200_000)
    x = torch.randint(0, 256, (4, 3, side, side), dtype=torch.uint8, device=device)
    y = (x.int() + torch.randint(-8, 9, x.shape, device=device)).clamp(0, 255).to(torch.uint8)
    a = torch.randn(n, 768, dtype=torch.float16, device=device)
    b = torch.randn(n, 768, dtype=torch.float16, device=device)
    calls = {
        "ssim": lambda: ssim(x, y),
        "cosine_pairs": lambda: cosine_pairs(a, b),
        "topk_cosine": lambda: topk_cosine(a[:4096], a, 10, exclude_self=True)[1],
    }
    rows = []
    for kernel, call in calls.items():
        first = call()
        syncs = _syncs(call, device)
        exact = bool(torch.equal(first, call()))
        rows.append({"probe": "determinism", "kernel": kernel, "bit_exact": exact, "host_syncs": syncs})
    return rows


def _syncs(call, device: torch.device) -> int | None:
    """The host synchronizations of one call (None without CUDA)."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            call()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def decode_ceiling(device: torch.device, smoke: bool) -> list[dict]:
    count, size = (16, 256) if smoke else (1024, 1024)
    manifest = make_pool(POOL_DIR / f"probe-{size}", count, distinct=count, size=size)
    blobs = [p.read_bytes() for p in sorted(manifest.parent.glob(f"img-{size}x{size}-*.jpg"))[:count]]
    rows = []
    with ThreadPoolExecutor() as pool:
        started = time.perf_counter()
        list(pool.map(lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB")), blobs))
        rows.append(_rate("decode", "pil-threads", len(blobs), time.perf_counter() - started))
    if device.type == "cuda":
        from torchvision.io import decode_jpeg

        data = [torch.frombuffer(b, dtype=torch.uint8) for b in blobs]
        decode_jpeg(data[:8], device=device)  # warm-up: nvJPEG's handles
        torch.cuda.synchronize()
        started = time.perf_counter()
        for start in range(0, len(data), 64):
            decode_jpeg(data[start : start + 64], device=device)
        torch.cuda.synchronize()
        rows.append(_rate("decode", "nvjpeg", len(blobs), time.perf_counter() - started))
    return rows


def embedding_ceiling(device: torch.device, smoke: bool) -> list[dict]:
    import open_clip

    name, batch, steps = ("ViT-B-32", 4, 2) if smoke else ("ViT-L-14", 256, 10)
    model = open_clip.create_model(name, pretrained=None).visual.to(device).eval()
    images = torch.randn(batch, 3, 224, 224, device=device)
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda")
    with torch.no_grad(), autocast:
        model(images)
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(steps):
            model(images)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return [
        _rate("embed", f"{name} image tower, batch {batch}", batch * steps, time.perf_counter() - started)
    ]


def _rate(probe: str, what: str, items: int, seconds: float) -> dict:
    return {"probe": probe, "what": what, "items": items, "seconds": seconds, "items_per_s": items / seconds}


def main(argv: list[str] | None = None) -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the checks, not the figures")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)
    rows = [
        *offsets(device, args.smoke or device.type != "cuda"),
        *determinism_and_syncs(device, args.smoke),
        *decode_ceiling(device, args.smoke),
        *embedding_ceiling(device, args.smoke),
    ]
    for row in rows:
        print(row)
    env = harness.environment(device, ("open_clip_torch", "torchvision"))
    print(harness.append_results("gpu_probe", rows, env, harness.measure_hardware(device), args.results))
    failed = [r for r in rows if r.get("ok") is False or r.get("bit_exact") is False]
    if failed:
        raise SystemExit(f"gpu_probe: {len(failed)} checks failed: {failed}")


if __name__ == "__main__":
    main()
