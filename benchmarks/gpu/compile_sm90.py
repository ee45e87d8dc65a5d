"""Every Triton kernel's launch configurations compiled for sm_90 (Hopper) with Triton's own compiler and
its bundled ptxas, without a GPU: registers, spills and shared memory per configuration.

    python -m benchmarks.gpu.compile_sm90                # the table
    python -m benchmarks.gpu.compile_sm90 --check        # exit 1 if a default configuration spills

The configurations are the ones the launchers pick (kernels.similarity.triton_kernel's topk_blocks and
PAIR_BLOCK_N, kernels.ssim.triton_kernel's block width and ring size) for the inputs pixsift sees: CLIP
embeddings of 768 dimensions in fp16, bf16 and fp32, top-k up to 256, SSIM on uint8, fp16, bf16 and fp32
images with the gaussian 11 and uniform 7 windows. `default` marks those a spill would slow in production (the
README's promises: no spills for 16-bit inputs up to k=256); the others are reported. Register counts
depend on the Triton version (triton 3.6 spreads the SSIM rings across lanes: about 231 registers where
3.8 gives 128), which is why the GPU suite prints this table on the GPU machine's own Triton too.

TRITON_INTERPRET must be unset: the interpreter replaces @triton.jit functions with Python ones.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import torch

TARGET_ARCH = 90
KERNELS = ("cosine_pairs", "topk_cosine", "ssim")
EMBED_DIM = 768
_TYPES = {torch.float16: "*fp16", torch.bfloat16: "*bf16", torch.float32: "*fp32", torch.uint8: "*u8"}


@dataclass(frozen=True)
class Build:
    kernel: str
    label: str
    default: bool
    fn: object
    signature: dict
    constexprs: dict
    num_warps: int


def builds() -> list[Build]:
    import triton

    from pixsift.kernels.similarity import triton_kernel as similarity
    from pixsift.kernels.ssim import triton_kernel

    found = []
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        block_d = max(16, min(128, triton.next_power_of_2(EMBED_DIM)))
        signature = {
            "a_ptr": _TYPES[dtype], "b_ptr": _TYPES[dtype], "out_ptr": "*fp32", "n_rows": "i32", "dim": "i32",
            "scale": "fp32", "eps": "fp32",
        }  # fmt: skip
        constexprs = {"CLAMP": True, "BLOCK_N": similarity.PAIR_BLOCK_N, "BLOCK_D": block_d}
        label = f"{_name(dtype)} dim {EMBED_DIM}"
        found.append(
            Build("cosine_pairs", label, True, similarity._pair_scores_kernel, signature, constexprs, 8)
        )
    topk_cases = [(torch.float16, k, exclude) for k in (1, 10, 32, 100, 256) for exclude in (False, True)]
    topk_cases += [(torch.bfloat16, 10, True), (torch.bfloat16, 256, True), (torch.float32, 10, True)]
    for dtype, k, exclude_self in topk_cases:
        block_q, block_k, block_d, width = similarity.topk_blocks(k, EMBED_DIM, dtype, exclude_self)
        signature = {
            "q_ptr": _TYPES[dtype], "k_ptr": _TYPES[dtype], "q_inv_ptr": "*fp32", "k_inv_ptr": "*fp32",
            "values_ptr": "*fp32", "indices_ptr": "*i64", "n_queries": "i32", "n_keys": "i32", "dim": "i32",
            "k": "i32", "query_offset": "i64",
        }  # fmt: skip
        constexprs = {
            "EXCLUDE_SELF": exclude_self, "BLOCK_Q": block_q, "BLOCK_K": block_k, "BLOCK_D": block_d,
            "WIDTH": width,
        }  # fmt: skip
        label = f"{_name(dtype)} k={k} exclude_self={exclude_self} tiles {block_q}x{block_k}"
        default = dtype != torch.float32  # the promise: 16-bit inputs up to k=256
        found.append(Build("topk_cosine", label, default, similarity._topk_kernel, signature, constexprs, 8))
    block_w = triton_kernel.TRITON_BLOCK_W
    ssim_cases = [(dtype, 11, 0, False, False) for dtype in (torch.uint8, torch.float16, torch.bfloat16)]
    ssim_cases += [(dtype, 11, 0, True, False) for dtype in (torch.uint8, torch.float32)]
    ssim_cases += [(torch.float32, 7, 1, False, True), (torch.float32, 11, 2, False, False)]
    for dtype, win, padding, gray, want_map in ssim_cases:
        signature = {
            "x_ptr": _TYPES[dtype], "y_ptr": _TYPES[dtype], "taps_ptr": "*fp32", "map_ptr": "*fp32",
            "partial_ptr": "*fp32", "H": "i32", "W": "i32", "H_OUT": "i32", "W_OUT": "i32",
            "rows_per_program": "i32", "center": "fp32", "c1": "fp32", "c2": "fp32", "cov_norm": "fp32",
        }  # fmt: skip
        constexprs = {
            "WIN": win, "RING": triton.next_power_of_2(win), "PAD": 0 if padding == 0 else win // 2,
            "PADDING": padding, "GRAY": gray, "WANT_MAP": want_map, "BLOCK_W": block_w,
        }  # fmt: skip
        label = f"{_name(dtype)} win {win} padding={padding} gray={gray} map={want_map}"
        found.append(
            Build("ssim", label, True, triton_kernel._ssim_kernel, signature, constexprs, block_w // 32)
        )
    return found


def compile_one(build: Build) -> dict:
    """Compile `build` for sm_90 and read ptxas's report of its registers and spills."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import get_ptxas
    from triton.compiler import ASTSource

    signature = {**build.signature, **dict.fromkeys(build.constexprs, "constexpr")}
    source = ASTSource(fn=build.fn, signature=signature, constexprs=build.constexprs)
    compiled = triton.compile(
        source, target=GPUTarget("cuda", TARGET_ARCH, 32), options={"num_warps": build.num_warps}
    )
    ptxas = get_ptxas(TARGET_ARCH).path
    with tempfile.TemporaryDirectory() as folder:
        ptx = os.path.join(folder, "kernel.ptx")
        with open(ptx, "w") as f:
            f.write(compiled.asm["ptx"])
        report = subprocess.run(
            [ptxas, "-v", f"--gpu-name=sm_{TARGET_ARCH}a", ptx, "-o", os.path.join(folder, "kernel.o")],
            capture_output=True,
            text=True,
            check=True,
        ).stderr
    registers = int(re.search(r"Used (\d+) registers", report)[1])
    stores, loads = (
        int(v) for v in re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", report).groups()
    )
    return {
        "kernel": build.kernel,
        "config": build.label,
        "default": build.default,
        "num_warps": build.num_warps,
        "registers": registers,
        "spill_bytes": stores + loads,
        "shared_bytes": compiled.metadata.shared,
        "triton": triton.__version__,
    }


def _compile_index(index: int) -> dict:
    return compile_one(builds()[index])


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a default configuration spills")
    parser.add_argument("--json", action="store_true", help="one JSON object per configuration")
    parser.add_argument(
        "--kernels",
        nargs="+",
        choices=KERNELS,
        default=list(KERNELS),
        help="only these kernels' configurations",
    )
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        raise SystemExit("compile_sm90: unset TRITON_INTERPRET (the interpreter replaces the kernels)")
    # In worker processes, a configuration each (compiling is single-threaded and takes seconds).
    chosen = [i for i, build in enumerate(builds()) if build.kernel in args.kernels]
    with ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("spawn")) as pool:
        rows = list(pool.map(_compile_index, chosen))
    for row in rows:
        if args.json:
            print(json.dumps(row))
        else:
            flag = "default" if row["default"] else "       "
            print(
                f"{row['kernel']:<13} {flag} {row['config']:<52} warps {row['num_warps']}  "
                f"regs {row['registers']:>3}  spills {row['spill_bytes']:>5} B  "
                f"shared {row['shared_bytes']:>6} B"
            )
    spilling = [r for r in rows if r["default"] and r["spill_bytes"]]
    for row in spilling:
        print(
            f"compile_sm90: {row['kernel']} {row['config']} spills {row['spill_bytes']} bytes",
            file=sys.stderr,
        )
    return 1 if args.check and spilling else 0


if __name__ == "__main__":
    sys.exit(main())
