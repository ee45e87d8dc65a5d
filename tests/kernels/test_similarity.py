"""Cosine similarity ops: every backend against float64 computed here, against open_clip's own cosine, and
their errors.

Without a GPU the triton backend runs in Triton's interpreter, so shapes stay small and tiles few.
"""

import json
import math

import open_clip
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from PIL import Image

from pixsift.kernels.similarity import clip_score, cosine_pairs, topk_cosine

BACKENDS = ["torch", "triton"]
DTYPES = [torch.float16, torch.bfloat16, torch.float32]
TOLERANCE = {torch.float32: 1e-5, torch.float16: 1e-2, torch.bfloat16: 1e-2}


def _device(backend: str) -> str:
    return "cuda" if backend == "triton" and torch.cuda.is_available() else "cpu"


def _embeddings(n: int, d: int, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g).to(dtype)


def _cosine64(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-pair cosine in float64 with torch's per-norm eps clamp."""
    a, b = a.double(), b.double()
    return (a * b).sum(1) / (a.norm(dim=1).clamp_min(1e-8) * b.norm(dim=1).clamp_min(1e-8))


def _cosine_matrix64(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    q, k = queries.double(), keys.double()
    return (q @ k.T) / (q.norm(dim=1).clamp_min(1e-8)[:, None] * k.norm(dim=1).clamp_min(1e-8)[None, :])


def _assert_close(actual: torch.Tensor, expected: torch.Tensor, tol: float) -> None:
    assert actual.dtype == torch.float32
    torch.testing.assert_close(actual.cpu().double(), expected, rtol=tol, atol=tol / 10)


def _pairs(n: int, d: int, dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Row pairs whose cosines span [-1, 1]: b is a noisy copy of a, negated for every other row."""
    a = _embeddings(n, d, seed=seed)
    sign = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0)[:, None]
    b = sign * a + _embeddings(n, d, seed=seed + 1)
    return a.to(dtype), b.to(dtype)


# cosine_pairs and clip_score -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n, d", [(1, 77), (37, 1), (37, 77), (5, 768)])
def test_cosine_pairs_matches_float64(backend, dtype, n, d):
    a, b = _pairs(n, d, dtype)
    device = _device(backend)
    out = cosine_pairs(a.to(device), b.to(device), backend=backend)
    assert out.shape == (n,)
    _assert_close(out, _cosine64(a, b), TOLERANCE[dtype])


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_and_tiny_norms_follow_torch(backend):
    # torch clamps each norm at eps, not their product: 1e-9 against a unit vector gives 0.1, not 1e-9 / 1e-8
    a = torch.tensor([[0.0, 0.0, 0.0], [1e-9, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [3e-9, 4e-9, 0.0]])
    b = torch.tensor(
        [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1e-10, 0.0, 0.0], [0.0, 0.0, 0.0], [3e-9, 4e-9, 0.0]]
    )
    device = _device(backend)
    out = cosine_pairs(a.to(device), b.to(device), backend=backend)
    _assert_close(out, F.cosine_similarity(a.double(), b.double()), 1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
@pytest.mark.parametrize("w", [1.0, 2.5, 100.0])  # raw clipped cosine, Hessel et al., torchmetrics
def test_clip_score_is_weighted_clipped_cosine(backend, dtype, w):
    a, b = _pairs(37, 77, dtype)
    device = _device(backend)
    out = clip_score(a.to(device), b.to(device), w, backend=backend)
    expected = w * _cosine64(a, b).clamp_min(0)
    assert (expected == 0).sum() > 10  # the clamp is exercised
    _assert_close(out, expected, TOLERANCE[dtype])


# Against open_clip: a tiny random-weight model, built offline -------------------------------------------

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
IMAGES = ["astronaut", "coffee", "chelsea", "rocket"]
CAPTIONS = ["an astronaut in a suit", "a cup of coffee", "a cat", "a rocket on the launch pad"]


@pytest.fixture(scope="module")
def clip_features(tmp_path_factory):
    """(image features, text features) from open_clip's own preprocess, tokenizer and encoders."""
    config_dir = tmp_path_factory.mktemp("open_clip_configs")
    (config_dir / "pixsift-tiny-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config_dir)
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("pixsift-tiny-clip", pretrained=None)
    tokenizer = open_clip.get_tokenizer("pixsift-tiny-clip")
    images = torch.stack([preprocess(Image.fromarray(getattr(skimage.data, name)())) for name in IMAGES])
    with torch.no_grad():
        return model.eval().encode_image(images), model.encode_text(tokenizer(CAPTIONS))


def _open_clip_cosine(image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """The cosine open_clip's README computes: normalize each feature, then dot."""
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    text_features = text_features / text_features.norm(dim=-1, keepdim=True)
    return image_features @ text_features.T


@pytest.mark.parametrize("backend", BACKENDS)
def test_pairs_match_open_clip_cosine(clip_features, backend):
    image_features, text_features = clip_features
    expected = _open_clip_cosine(image_features, text_features).diagonal().double()
    device = _device(backend)
    image_features, text_features = image_features.to(device), text_features.to(device)
    _assert_close(cosine_pairs(image_features, text_features, backend=backend), expected, 1e-5)
    torchmetrics_score = 100 * expected.clamp_min(0)  # torchmetrics' CLIPScore from the same embeddings
    _assert_close(clip_score(image_features, text_features, 100, backend=backend), torchmetrics_score, 1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_topk_ranks_like_open_clip_logits(clip_features, backend):
    image_features, text_features = clip_features
    logits = _open_clip_cosine(image_features, text_features).T  # text -> image retrieval
    device = _device(backend)
    values, indices = topk_cosine(
        text_features.to(device), image_features.to(device), len(IMAGES), backend=backend
    )
    assert torch.equal(indices.cpu(), logits.argsort(dim=1, descending=True))
    torch.testing.assert_close(values.cpu(), logits.sort(dim=1, descending=True).values, rtol=1e-5, atol=1e-6)


# topk_cosine ----------------------------------------------------------------------------------------


def _assert_topk(values, indices, scores: torch.Tensor, k: int, tol: float) -> None:
    """Check a top-k result against float64 `scores` (N x M, excluded pairs at -inf): the values, and
    that each index carries its value and is among the top k up to ties within `tol`."""
    assert values.dtype == torch.float32 and indices.dtype == torch.int64
    assert values.shape == indices.shape == (scores.shape[0], k)
    values, indices = values.cpu().double(), indices.cpu()
    expected = scores.topk(k, dim=1).values
    torch.testing.assert_close(values, expected, rtol=0, atol=tol)
    assert (values[:, 1:] <= values[:, :-1]).all()
    chosen = scores.gather(1, indices)
    torch.testing.assert_close(chosen, values, rtol=0, atol=tol)
    assert (chosen >= expected[:, -1:] - tol).all()
    assert all(len(set(row)) == k for row in indices.tolist())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "n, m, d, k",
    [
        (1, 1000, 77, 8),  # one query: each key tile's merge is decided by its row alone
        (37, 300, 768, 5),  # key tiles past the first, D in several chunks
        (150, 129, 16, 129),  # k = M, several query blocks, the last partial
        (37, 40, 1, 3),  # D = 1: every cosine is +-1, ties everywhere
    ],
)
def test_topk_matches_brute_force(backend, dtype, n, m, d, k):
    queries, keys = _embeddings(n, d, dtype, seed=1), _embeddings(m, d, dtype, seed=2)
    device = _device(backend)
    values, indices = topk_cosine(queries.to(device), keys.to(device), k, backend=backend)
    _assert_topk(values, indices, _cosine_matrix64(queries, keys), k, TOLERANCE[dtype])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("query_offset, n", [(0, 200), (50, 40)])
def test_topk_exclude_self(backend, query_offset, n):
    keys = _embeddings(200, 32, seed=3)
    queries = keys[query_offset : query_offset + n]
    device = _device(backend)
    values, indices = topk_cosine(
        queries.to(device), keys.to(device), 4, exclude_self=True, query_offset=query_offset, backend=backend
    )
    scores = _cosine_matrix64(queries, keys)
    scores[torch.arange(n), torch.arange(n) + query_offset] = -math.inf
    _assert_topk(values, indices, scores, 4, 1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_topk_finds_planted_duplicates(backend):
    keys = _embeddings(300, 64, torch.float16, seed=4)
    keys[250] = keys[3]
    keys[299] = 2 * keys[140]  # same direction: cosine 1 as well
    device = _device(backend)
    values, indices = topk_cosine(keys.to(device), keys.to(device), 1, exclude_self=True, backend=backend)
    for first, second in [(3, 250), (140, 299)]:
        assert indices[first, 0] == second and indices[second, 0] == first
        assert values[first, 0] == pytest.approx(1.0, abs=1e-3)
    others = torch.ones(300, dtype=torch.bool)
    others[[3, 250, 140, 299]] = False
    assert (values[others.to(device), 0] < 0.9).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_topk_ties_list_lower_index_first(backend):
    # one-hot keys repeating every 16 rows: exact ties in any arithmetic, across key tiles
    keys = torch.eye(16)[torch.arange(300) % 16]
    queries = torch.eye(16)[:5]
    device = _device(backend)
    values, indices = topk_cosine(queries.to(device), keys.to(device), 10, backend=backend)
    assert torch.equal(values.cpu(), torch.ones(5, 10))
    assert torch.equal(indices.cpu(), torch.arange(5)[:, None] + 16 * torch.arange(10))


# Errors ---------------------------------------------------------------------------------------------

A = _embeddings(4, 8)
NAN_B = A.clone()
NAN_B[2, 5] = math.nan
INF_KEYS = _embeddings(10, 8)
INF_KEYS[7, 0] = -math.inf


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: cosine_pairs(A, _embeddings(5, 8)), ValueError, r"a and b must have the same shape"),
        (lambda: cosine_pairs(A, _embeddings(4, 9)), ValueError, r"a and b must have the same shape"),
        (lambda: topk_cosine(A, _embeddings(10, 9), 1), ValueError, r"same embedding size"),
        (lambda: cosine_pairs(A[0], A[1]), ValueError, r"a must have 2 dimensions"),
        (lambda: topk_cosine(A, A[None], 1), ValueError, r"keys must have 2 dimensions"),
        (lambda: cosine_pairs(A.double(), A.double()), TypeError, r"a has unsupported dtype torch.float64"),
        (lambda: topk_cosine(A.int(), A.int(), 1), TypeError, r"queries has unsupported dtype torch.int32"),
        (lambda: cosine_pairs(A.half(), A), TypeError, r"a has dtype torch.float16 but b has dtype"),
        (lambda: cosine_pairs(A[:0], A[:0]), ValueError, r"a is an empty batch"),
        (lambda: topk_cosine(A, A[:0], 1), ValueError, r"keys is an empty batch"),
        (lambda: topk_cosine(A, A, 0), ValueError, r"k must be an integer from 1 to 4 .*got 0"),
        (lambda: topk_cosine(A, A, 5), ValueError, r"k must be an integer from 1 to 4 "),
        (
            lambda: topk_cosine(A, A, 4, exclude_self=True),
            ValueError,
            r"from 1 to 3 \(the number of other keys",
        ),
        (lambda: topk_cosine(A, A, 2.0), ValueError, r"k must be an integer"),
        (lambda: topk_cosine(A, A, 1, query_offset=1), ValueError, r"query_offset .* needs exclude_self"),
        (lambda: topk_cosine(A, A, 1, exclude_self=True, query_offset=1), ValueError, r"only 4 keys"),
        (lambda: topk_cosine(A, _embeddings(600, 8), 513, backend="triton"), ValueError, r"k up to 512"),
        (lambda: clip_score(A, A, 0), ValueError, r"w must be a positive finite number"),
        (lambda: clip_score(A, A, math.inf), ValueError, r"w must be a positive finite number"),
        (lambda: cosine_pairs(A, A, backend="cuda"), ValueError, r"backend must be one of"),
    ],
)
def test_errors_name_the_problem(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda a, b, backend: cosine_pairs(a, b, backend=backend),
            r"input contains NaN or inf \(b at index \[2\]\)",
        ),
        (
            lambda a, b, backend: clip_score(a, b, backend=backend),
            r"input contains NaN or inf \(b at index \[2\]\)",
        ),
        (
            lambda a, b, backend: topk_cosine(b, INF_KEYS.to(a.device), 2, backend=backend),
            r"queries at index \[2\]; keys at index \[7\]",
        ),
    ],
)
def test_nonfinite_inputs_are_named(backend, call, match):
    device = _device(backend)
    with pytest.raises(ValueError, match=match):
        call(A.to(device), NAN_B.to(device), backend)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy's, from Triton's interpreter
@pytest.mark.parametrize("backend", BACKENDS)
def test_overflowing_norms_are_reported(backend):
    huge = torch.full((3, 8), 1e30).to(_device(backend))
    with pytest.raises(ValueError, match=r"squared norms overflow float32"):
        cosine_pairs(huge, huge, backend=backend)
    with pytest.raises(ValueError, match=r"squared norms overflow float32"):
        topk_cosine(huge, huge, 1, backend=backend)


def test_triton_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match=r"backend='triton' needs CUDA tensors .*TRITON_INTERPRET=1"):
        cosine_pairs(A, A, backend="triton")
