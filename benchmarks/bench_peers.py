"""`pixsift score` beside the script a SynthVLM user writes, on the same pool, model and machine.

    python -m benchmarks.bench_peers                       # 256 JPEGs of 1024^2, ViT-B-32, batch 32
    python -m benchmarks.bench_peers --candidates 64 --size 256   # a quick look

The peer is SynthVLM's scoring as its scripts do it: open_clip's own transform and model, PIL decoding,
SynthVLM's calc_ssim (the RGB image resized to 768, to 336 and back to 768 with PIL's bilinear, then
grayscale, then scikit-image's default SSIM) and a DataLoader with worker processes feeding the model;
`peer-clip` is the same without the SSIM. The pool holds real photographs (benchmarks.photo_pool), each
caption shared by 4 images as in a best-of-N pool. Each contender runs in a fresh child process, one
after the other, with random weights (the cost is the same as trained ones); each reports images/s over
its whole job (model load excluded) and the table gives pixsift's ratio to each peer. For pixsift the
table also gives the model stage's rate: FLOPs counted by torch's FlopCounterMode over the job's
image and text forwards, divided by its `embed` seconds, and that rate as a share of the measured fp32
matmul rate. Without a GPU every figure is a CPU figure.

Tried for the image tower on the 2-core CPU (ViT-B-32, batch 32, interleaved runs, 2026-12): channels-
last weights and inputs, TorchScript trace + freeze (oneDNN's fusions) and torch.compile (54 s to
compile) each came within the run-to-run noise of eager (about 13-14 images/s, +-15%), so the score
stage runs the model eagerly; the tower's share of the matmul rate is in the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks import harness
from benchmarks.photo_pool import POOL_DIR, make_pool, score_pool
from tests.fixtures.synthvlm import calc_ssim

CONTENDERS = ("pixsift", "peer", "peer-clip")


def peer(manifest: Path, model_name: str, batch_size: int, workers: int, device: str, ssim: bool) -> dict:
    """SynthVLM's scoring, as its scripts write it."""
    import open_clip
    from PIL import Image

    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=None, device=device)
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)

    class Candidates(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            image = Image.open(manifest.parent / rows[i]["image"]).convert("RGB")
            fidelity = calc_ssim(image) if ssim else 0.0
            return preprocess(image), tokenizer([rows[i]["caption"]])[0], fidelity

    loader = torch.utils.data.DataLoader(Candidates(), batch_size=batch_size, num_workers=workers)
    started = time.perf_counter()
    scores = []
    with torch.no_grad():
        for pixels, tokens, fidelity in loader:
            image = model.encode_image(pixels.to(device))
            text = model.encode_text(tokens.to(device))
            cosine = torch.nn.functional.cosine_similarity(image, text)
            scores.append(cosine.clamp(min=0).cpu() + 0.5 * fidelity)
    seconds = time.perf_counter() - started
    return {"images": sum(len(s) for s in scores), "seconds": seconds}


def pixsift(manifest: Path, model_name: str, batch_size: int, workers: int, device: str, ssim: bool) -> dict:
    summary = score_pool(manifest, clip_model=model_name, device=device, batch_size=batch_size)
    # The job's own clock starts after the model is loaded, as the peer's does.
    return {"images": summary.rows, "seconds": summary.wall_seconds, "stages": summary.stage_seconds}


def model_flops(manifest: Path, model_name: str, batch_size: int) -> float:
    """FLOPs of pixsift's model stage on the pool, counted by torch's FlopCounterMode: the image tower
    once per image, the text tower on each batch's distinct captions at the batch's longest caption."""
    from torch.utils.flop_counter import FlopCounterMode

    from pixsift.engine.score.embed import ClipEmbedder

    embedder = ClipEmbedder(model_name, random_init=True)
    captions = [json.loads(line)["caption"] for line in manifest.read_text().splitlines()]
    # nn.MultiheadAttention's inference fast path is one fused op the counter does not know: count the
    # attention through the ops it is made of.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with FlopCounterMode(display=False) as image:
            embedder.encode_images(torch.zeros(1, 3, *embedder.preprocess.size))
        with FlopCounterMode(display=False) as text:
            for start in range(0, len(captions), batch_size):
                embedder.encode_tokens(embedder.tokenize(captions[start : start + batch_size])[0])
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return image.get_total_flops() * len(captions) + text.get_total_flops()


def main(argv: list[str] | None = None) -> list[dict]:
    parser = harness.parser(__doc__)
    parser.add_argument("--candidates", type=int, default=256)
    parser.add_argument("--size", type=int, default=1024, help="image side in pixels")
    parser.add_argument("--images-per-caption", type=int, default=4, help="as in a best-of-N pool")
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--loader-workers", type=int, default=2, help="the peers' DataLoader workers")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one contender, print JSON
    args = parser.parse_args(argv)
    manifest = make_pool(
        POOL_DIR / str(args.size),
        args.candidates,
        distinct=min(args.candidates, 256),
        size=args.size,
        images_per_caption=args.images_per_caption,
    )
    if args.child:
        run = pixsift if args.child == "pixsift" else peer
        ssim = args.child != "peer-clip"
        print(json.dumps(run(manifest, args.model, args.batch_size, args.loader_workers, args.device, ssim)))
        return []
    device = torch.device(args.device)
    env = harness.environment(device, ("open_clip_torch", "scikit-image", "pillow"))
    hardware = harness.measure_hardware(device)
    rows = []
    for name in args.contenders:
        child = [sys.executable, "-m", "benchmarks.bench_peers", *(argv or sys.argv[1:]), "--child", name]
        done = subprocess.run(child, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"bench_peers: {name} failed:\n{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        row = {
            "benchmark": "peers",
            "contender": name,
            "model": args.model,
            "candidates": result["images"],
            "size": args.size,
            "images_per_caption": args.images_per_caption,
            "batch_size": args.batch_size,
            "images_per_s": result["images"] / result["seconds"],
        }
        if "stages" in result:
            flops = model_flops(manifest, args.model, args.batch_size)
            rate = flops / result["stages"]["embed"]
            row |= {"stages": result["stages"], "model_GFLOPs": rate / 1e9}
            row["model_pct_of_matmul"] = 100 * rate / hardware.fp32_ops_per_s
        rows.append(row)
    ours = next((r["images_per_s"] for r in rows if r["contender"] == "pixsift"), None)
    for row in rows:
        row["pixsift_ratio"] = ours / row["images_per_s"] if ours else None
    harness.print_table(
        f"score beside the peers ({env['device']}, {args.model}, {args.candidates} x {args.size}^2 JPEGs, "
        f"{args.images_per_caption} per caption)",
        rows,
        ["contender", "images_per_s", "pixsift_ratio", "model_GFLOPs", "model_pct_of_matmul"],
    )
    print(f"fp32 matmul rate: {hardware.fp32_ops_per_s / 1e9:.0f} GFLOP/s")
    print("\n" + harness.append_results("bench_peers", rows, env, hardware, args.results))
    return rows


if __name__ == "__main__":
    main()
