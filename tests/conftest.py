import os
from pathlib import Path

import pytest
import torch

# Without a GPU the Triton kernels run in Triton's CPU interpreter; the variable must be set
# before triton is first imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


# A few-MB open_clip model config: tests build it with random weights, nothing is downloaded.
TINY_CLIP_CONFIG = Path(__file__).resolve().parent.parent / "benchmarks" / "configs" / "tiny-clip.json"


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory):
    """The tiny open_clip config as a JSON file; registered by the embedder as 'pixsift-tiny-vit'."""
    path = tmp_path_factory.mktemp("configs") / "pixsift-tiny-vit.json"
    path.write_text(TINY_CLIP_CONFIG.read_text())
    return path
