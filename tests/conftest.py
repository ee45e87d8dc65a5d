import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from tests.fixtures import TINY_CLIP_CONFIG

# Without a GPU the Triton kernels run in Triton's CPU interpreter; the variable must be set
# before triton is first imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# datasets caches what load_dataset reads under a name made from the folder's name, not its content: an
# export read by an earlier run at a path pytest gives again would come back stale. Each run reads afresh.
_DATASETS_CACHE = tempfile.mkdtemp(prefix="pixsift-test-datasets-")
os.environ["HF_DATASETS_CACHE"] = _DATASETS_CACHE


def pytest_unconfigure(config):
    shutil.rmtree(_DATASETS_CACHE, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory):
    """The tiny open_clip config as a JSON file; registered by the embedder as 'pixsift-tiny-vit'."""
    path = tmp_path_factory.mktemp("configs") / "pixsift-tiny-vit.json"
    path.write_text(TINY_CLIP_CONFIG.read_text())
    return path


# Tiny random-weight models, built once per session from configs (nothing is downloaded).
@pytest.fixture(scope="session")
def tiny_janus(tmp_path_factory) -> Path:
    """A tiny random Janus-Pro checkpoint folder (tests/fixtures/tiny_janus.py)."""
    from tests.fixtures.tiny_janus import save_random_janus

    return save_random_janus(tmp_path_factory.mktemp("janus") / "tiny")


@pytest.fixture(scope="session")
def other_janus(tmp_path_factory) -> Path:
    """The tiny Janus-Pro with other random weights (its VQ model gives other codes)."""
    from tests.fixtures.tiny_janus import save_random_janus

    return save_random_janus(tmp_path_factory.mktemp("janus") / "other", seed=1)


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory) -> Path:
    """A tiny random StableDiffusionPipeline folder (tests/fixtures/tiny_diffusers.py)."""
    from tests.fixtures.tiny_diffusers import save_tiny_sd

    return save_tiny_sd(tmp_path_factory.mktemp("pipelines") / "tiny-sd")


@pytest.fixture(scope="session")
def other_sd(tiny_sd, tmp_path_factory) -> Path:
    """A second tiny text-to-image pipeline: tiny_sd with other denoiser weights."""
    import torch
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_sd)
    with torch.no_grad():
        for p in pipe.unet.parameters():
            p.add_(0.05)
    folder = tmp_path_factory.mktemp("pipelines") / "other-sd"
    pipe.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_ip2p(tmp_path_factory) -> Path:
    """A tiny random InstructPix2Pix pipeline folder."""
    from tests.fixtures.tiny_diffusers import save_tiny_instruct_pix2pix

    return save_tiny_instruct_pix2pix(tmp_path_factory.mktemp("pipelines") / "tiny-ip2p")


@pytest.fixture(scope="session")
def tiny_qwen25vl(tmp_path_factory) -> Path:
    """A tiny random Qwen2.5-VL folder in the published layout (tests/fixtures/tiny_vlm.py)."""
    from tests.fixtures.tiny_vlm import save_tiny_qwen25vl

    return save_tiny_qwen25vl(tmp_path_factory.mktemp("vlm") / "tiny-qwen25vl")


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> Path:
    """A tiny random causal LM in Qwen2.5-Instruct's published layout (tests/fixtures/tiny_lm.py)."""
    from tests.fixtures.tiny_lm import save_tiny_qwen25

    return save_tiny_qwen25(tmp_path_factory.mktemp("lm") / "tiny-qwen25")


@pytest.fixture(scope="session")
def tiny_llava_onevision(tmp_path_factory) -> Path:
    """A tiny random LLaVA-OneVision folder in the published layout (tests/fixtures/tiny_vlm.py)."""
    from tests.fixtures.tiny_vlm import save_tiny_llava_onevision

    return save_tiny_llava_onevision(tmp_path_factory.mktemp("vlm") / "tiny-llava-onevision")


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on 127.0.0.1 for the session (tests/helpers/s3_server.py)."""
    from tests.helpers.s3_server import s3_server

    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def bucket(s3_endpoint) -> str:
    """An empty bucket of its own for the test: its s3:// URL."""
    from tests.helpers.s3_server import new_bucket

    return new_bucket()
