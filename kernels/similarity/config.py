"""The similarity kernels' settings: dtypes, backends, the zero-norm epsilon and the block sizes."""

from __future__ import annotations

import torch

DTYPES = (torch.float16, torch.bfloat16, torch.float32)
BACKENDS = ("auto", "triton", "torch")
EPS = 1e-8
# The Triton kernel keeps each query block's running top-k in registers (BLOCK_Q x WIDTH int64, WIDTH >= k);
# past this k it would spill, and "auto" uses the torch backend on the GPU as well.
TRITON_MAX_K = 512
PAIR_BLOCK_N = 32
REFERENCE_CHUNK = 4096
