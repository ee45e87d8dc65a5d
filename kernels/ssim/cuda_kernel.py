"""SSIM as one native CUDA C kernel, compiled at run time with NVRTC and launched through pycuda.

A thread block owns a TILE_H x TILE_W tile of one output plane. It loads the tile plus its window halo
of x and y into shared memory (input dtype -> float32, gray, padding and centring applied on load),
filters the rows for the five moments into shared memory, filters the columns, turns each pixel into
SSIM (writing the map if asked), and reduces its SSIM sum with warp shuffles into its own slot of a
float64 partial-sum buffer, which torch then sums per image: no atomics, so the result is deterministic.
Input dtype, window size, padding, gray and want_map are compile-time macros; each specialisation is
compiled once per process (and loaded once per device).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from pixsift.kernels import nvrtc
from pixsift.kernels.optional import require
from pixsift.kernels.ssim.config import LUMA, MAX_WIN_SIZE, PADDING_CODES, SsimConfig

TILE_W = 32  # one warp across a tile row
THREADS_Y = 8
_DTYPE_CODES = {torch.uint8: 0, torch.float16: 1, torch.bfloat16: 2, torch.float32: 3}

SOURCE = r"""
// Macros from the host: INPUT_DTYPE (0 uint8, 1 float16, 2 bfloat16, 3 float32), WIN, PADDING
// (0 valid, 1 reflect, 2 zeros), GRAY, WANT_MAP, TILE_W, TILE_H, THREADS_Y, MAX_WIN, LUMA_R/G/B.
#define PAD (PADDING == 0 ? 0 : WIN / 2)
#define IN_H (TILE_H + WIN - 1)
#define IN_W (TILE_W + WIN - 1)
#define THREADS (TILE_W * THREADS_Y)
#define WARPS (THREADS / 32)

// Half types are read as their bits: NVRTC then needs no CUDA headers.
#if INPUT_DTYPE == 0
typedef unsigned char input_t;
__device__ __forceinline__ float to_float(input_t v) { return (float)v; }
#elif INPUT_DTYPE == 1
typedef unsigned short input_t;
__device__ __forceinline__ float to_float(input_t v) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(v));
    return f;
}
#elif INPUT_DTYPE == 2
typedef unsigned short input_t;
__device__ __forceinline__ float to_float(input_t v) { return __uint_as_float(((unsigned int)v) << 16); }
#else
typedef float input_t;
__device__ __forceinline__ float to_float(input_t v) { return v; }
#endif

struct Taps { float v[MAX_WIN]; };

// Image row (column) read for padded position i. Tiles overhanging the output also load positions no
// output uses, which may lie beyond one reflection: the clamp keeps those reads inside the image.
__device__ __forceinline__ int source_index(int i, int n) {
#if PADDING == 1
    i = i < 0 ? -i : i;
    i = i >= n ? 2 * (n - 1) - i : i;
#endif
    return min(max(i, 0), n - 1);
}

// Zero padding is a zero of the input's own scale, before centring (as fused-ssim pads).
__device__ __forceinline__ float load_pixel(const input_t* plane, size_t channel_stride, int row, int col,
                                            int h, int w) {
#if PADDING == 2
    if (row < 0 || row >= h || col < 0 || col >= w) return 0.0f;
#endif
    const size_t at = (size_t)source_index(row, h) * w + source_index(col, w);
#if GRAY
    return LUMA_R * to_float(plane[at]) + LUMA_G * to_float(plane[at + channel_stride])
         + LUMA_B * to_float(plane[at + 2 * channel_stride]);
#else
    return to_float(plane[at]);
#endif
}

__device__ __forceinline__ double warp_sum(double v) {
    #pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    return v;
}

extern "C" __global__ void __launch_bounds__(THREADS) ssim_kernel(
    const input_t* __restrict__ x, const input_t* __restrict__ y, float* __restrict__ ssim_map,
    double* __restrict__ partial_sums, const Taps taps, const int h, const int w, const int out_h,
    const int out_w, const int tiles_x, const int tiles_per_plane, const float center, const float c1,
    const float c2, const float cov_norm)
{
    __shared__ float xs[IN_H][IN_W];
    __shared__ float ys[IN_H][IN_W];
    __shared__ float rows[5][IN_H][TILE_W];
    __shared__ double warp_sums[WARPS];

    const int plane = blockIdx.x / tiles_per_plane;
    const int tile = blockIdx.x % tiles_per_plane;
    const int row0 = tile / tiles_x * TILE_H;
    const int col0 = tile % tiles_x * TILE_W;
    const int tid = threadIdx.y * TILE_W + threadIdx.x;
    const size_t plane_size = (size_t)h * w;
    const size_t plane_offset = (size_t)plane * (GRAY ? 3 : 1) * plane_size;

    for (int i = tid; i < IN_H * IN_W; i += THREADS) {
        const int r = i / IN_W, c = i % IN_W;
        const int row = row0 + r - PAD, col = col0 + c - PAD;
        xs[r][c] = load_pixel(x + plane_offset, plane_size, row, col, h, w) - center;
        ys[r][c] = load_pixel(y + plane_offset, plane_size, row, col, h, w) - center;
    }
    __syncthreads();

    const int c = threadIdx.x;
    for (int r = threadIdx.y; r < IN_H; r += THREADS_Y) {
        float mx = 0.0f, my = 0.0f, xx = 0.0f, yy = 0.0f, xy = 0.0f;
        #pragma unroll
        for (int k = 0; k < WIN; ++k) {
            const float t = taps.v[k], u = xs[r][c + k], v = ys[r][c + k];
            mx += t * u;
            my += t * v;
            xx += t * (u * u);
            yy += t * (v * v);
            xy += t * (u * v);
        }
        rows[0][r][c] = mx;
        rows[1][r][c] = my;
        rows[2][r][c] = xx;
        rows[3][r][c] = yy;
        rows[4][r][c] = xy;
    }
    __syncthreads();

    double block_part = 0.0;
    for (int r = threadIdx.y; r < TILE_H; r += THREADS_Y) {
        float mx = 0.0f, my = 0.0f, xx = 0.0f, yy = 0.0f, xy = 0.0f;
        #pragma unroll
        for (int k = 0; k < WIN; ++k) {
            const float t = taps.v[k];
            mx += t * rows[0][r + k][c];
            my += t * rows[1][r + k][c];
            xx += t * rows[2][r + k][c];
            yy += t * rows[3][r + k][c];
            xy += t * rows[4][r + k][c];
        }
        const float var_x = cov_norm * (xx - mx * mx);
        const float var_y = cov_norm * (yy - my * my);
        const float cov = cov_norm * (xy - mx * my);
        mx += center;
        my += center;
        const float value = ((2.0f * mx * my + c1) * (2.0f * cov + c2))
                          / ((mx * mx + my * my + c1) * (var_x + var_y + c2));
        const int out_row = row0 + r, out_col = col0 + c;
        if (out_row < out_h && out_col < out_w) {
#if WANT_MAP
            ssim_map[((size_t)plane * out_h + out_row) * out_w + out_col] = value;
#endif
            block_part += value;
        }
    }

    block_part = warp_sum(block_part);
    if (threadIdx.x == 0) warp_sums[threadIdx.y] = block_part;
    __syncthreads();
    if (tid < 32) {
        block_part = warp_sum(tid < WARPS ? warp_sums[tid] : 0.0);
        if (tid == 0) partial_sums[blockIdx.x] = block_part;
    }
}
"""


@dataclass(frozen=True)
class Specialization:
    """What the kernel is compiled for."""

    dtype: torch.dtype
    win_size: int
    padding: str
    gray: bool
    want_map: bool

    @classmethod
    def of(cls, x: torch.Tensor, cfg: SsimConfig) -> Specialization:
        return cls(x.dtype, cfg.win_size, cfg.padding, cfg.gray, cfg.want_map)

    @property
    def tile_h(self) -> int:
        # Shorter tiles for large windows keep the halo and row buffers within the 48 KiB of static
        # shared memory (43 KiB at win_size 31; ptxas rejects the kernel beyond).
        return 16 if self.win_size <= 15 else 8

    def defines(self) -> list[str]:
        macros = {
            "INPUT_DTYPE": _DTYPE_CODES[self.dtype],
            "WIN": self.win_size,
            "PADDING": PADDING_CODES[self.padding],
            "GRAY": int(self.gray),
            "WANT_MAP": int(self.want_map),
            "TILE_W": TILE_W,
            "TILE_H": self.tile_h,
            "THREADS_Y": THREADS_Y,
            "MAX_WIN": MAX_WIN_SIZE,
            "LUMA_R": f"{LUMA[0]!r}f",
            "LUMA_G": f"{LUMA[1]!r}f",
            "LUMA_B": f"{LUMA[2]!r}f",
        }
        return [f"-D{name}={value}" for name, value in macros.items()]


def target(capability: tuple[int, int]) -> str:
    """NVRTC --gpu-architecture for a device: its own sm_XX (CUBIN) if NVRTC knows it, else PTX of the
    newest older architecture NVRTC knows, which the driver compiles for the device when loading."""
    arch = 10 * capability[0] + capability[1]
    supported = nvrtc.supported_archs()
    if arch in supported:
        return f"sm_{arch}"
    older = [a for a in supported if a <= arch]
    if not older:
        raise RuntimeError(f"ssim: this NVRTC cannot compile for compute capability {capability}")
    return f"compute_{max(older)}"


@functools.cache
def kernel_binary(spec: Specialization, arch: str) -> bytes:
    """The kernel compiled for `arch` (sm_XX: CUBIN, compute_XX: PTX)."""
    options = [f"--gpu-architecture={arch}", *spec.defines()]
    return nvrtc.compile_source(SOURCE, "ssim.cu", options, cubin=arch.startswith("sm_"))


def ssim_cuda(x: torch.Tensor, y: torch.Tensor, cfg: SsimConfig):
    driver = _driver()
    n, c, h, w = x.shape
    out_c = 1 if cfg.gray else c
    out_h, out_w = cfg.out_size(h, w)
    spec = Specialization.of(x, cfg)
    tiles_x, tiles_y = -(-out_w // TILE_W), -(-out_h // spec.tile_h)
    blocks = n * out_c * tiles_x * tiles_y
    partial_sums = torch.empty(blocks, dtype=torch.float64, device=x.device)
    ssim_map = None
    if cfg.want_map:
        ssim_map = torch.empty((n, out_c, out_h, out_w), dtype=torch.float32, device=x.device)
    taps = np.zeros(MAX_WIN_SIZE, dtype=np.float32)
    taps[: cfg.win_size] = cfg.taps
    args = (
        np.uintp(x.data_ptr()),
        np.uintp(y.data_ptr()),
        np.uintp(0 if ssim_map is None else ssim_map.data_ptr()),
        np.uintp(partial_sums.data_ptr()),
        taps,  # bytes copied into the parameter space: the Taps struct, by value
        *map(np.int32, (h, w, out_h, out_w, tiles_x, tiles_x * tiles_y)),
        *map(np.float32, (cfg.center, cfg.c1, cfg.c2, cfg.cov_norm)),
    )
    device = x.device.index if x.device.index is not None else torch.cuda.current_device()
    _primary_context(device).push()
    try:
        _launch_on_torch_stream(_kernel(spec, device), args, (blocks, 1), (TILE_W, THREADS_Y, 1), device)
    finally:
        driver.Context.pop()
    means = partial_sums.view(n, -1).sum(dim=1) / (out_c * out_h * out_w)
    return means.float(), ssim_map


def _driver():
    require("pycuda", "ssim(backend='cuda')")
    import pycuda.driver

    return pycuda.driver


@functools.cache
def _primary_context(device: int):
    """The device's primary context, the one the CUDA runtime (and so torch) uses; retained once."""
    driver = _driver()
    driver.init()
    return driver.Device(device).retain_primary_context()


@functools.cache
def _kernel(spec: Specialization, device: int):
    """The kernel loaded into the device's context, which must be current."""
    binary = kernel_binary(spec, target(torch.cuda.get_device_capability(device)))
    return _driver().module_from_buffer(binary).get_function("ssim_kernel")


@functools.cache
def _stream(device: int):
    """pycuda launches only on streams it created, so each device gets one, ordered against torch's."""
    return _driver().Stream()


def _launch_on_torch_stream(kernel, args, grid, block, device: int) -> None:
    """Launch on our stream, after the work already queued on torch's current stream and before any work
    queued there later: as if launched on torch's stream."""
    stream = _stream(device)
    ours = torch.cuda.ExternalStream(stream.handle, device=device)
    theirs = torch.cuda.current_stream(device)
    ours.wait_stream(theirs)
    kernel(*args, grid=grid, block=block, stream=stream)
    theirs.wait_stream(ours)
