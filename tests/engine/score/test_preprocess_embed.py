"""Preprocessing against open_clip's transform; a tiny random-weight open_clip model end to end; scorers."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import open_clip
import pytest
import skimage.data
import torch
import torch.nn.functional as F
from open_clip.transform import PreprocessCfg, image_transform
from PIL import Image
from safetensors.torch import save_file

from pixsift.engine.score.embed import ClipEmbedder
from pixsift.engine.score.kernel_scores import clip_scores, ssim_roundtrip
from pixsift.engine.score.preprocess import ClipPreprocess, clip_batch
from pixsift.engine.score.scorers.mlp import MlpScorer
from pixsift.kernels.ssim import roundtrip_ssim
from tests.conftest import TINY_CLIP_CONFIG

PHOTOS = [
    skimage.data.astronaut(),  # 512 x 512
    skimage.data.coffee(),  # 400 x 600
    skimage.data.chelsea(),  # 300 x 451
    np.repeat(skimage.data.camera()[..., None], 3, axis=2),  # gray, as decoders give it
    skimage.data.coffee()[100:220, 200:290],  # 120 x 90: grows to the model's size
]
IMAGES = [torch.from_numpy(photo).permute(2, 0, 1) for photo in PHOTOS]
CAPTIONS = ["an astronaut in a white suit", "a cup of coffee", "a cat", "a man with a camera", "coffee beans"]
# Largest difference from open_clip's PIL transform, in uint8 levels, and the share of values that
# differ at all (measured: up to 0.15% for bicubic, 1.1% for bilinear).
MAX_LEVELS, MAX_SHARE_DIFFERENT = 1.0, 0.02
# A caption encoded at its batch's longest length against the full context (engine.score.text_tower):
# GEMMs of other shapes round differently, by at most 1.2e-6 measured on values of size 1.
TEXT_ATOL = 1e-5


def open_clip_transform(cfg: dict):
    return image_transform(
        cfg["size"],
        is_train=False,
        mean=cfg["mean"],
        std=cfg["std"],
        resize_mode=cfg["resize_mode"],
        interpolation=cfg["interpolation"],
        fill_color=cfg["fill_color"],
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"size": 224},
        {"size": 224, "interpolation": "bilinear"},
        {"size": 336},
        {"size": (224, 160)},
        {"size": 224, "resize_mode": "longest", "fill_color": 30},
        {"size": (96, 128), "resize_mode": "squash"},
    ],
    ids=str,
)
def test_clip_batch_matches_open_clip_transform(overrides):
    cfg = {**asdict(PreprocessCfg()), **overrides}
    spec = ClipPreprocess.from_open_clip(cfg)
    images, photos = (IMAGES, PHOTOS) if cfg["resize_mode"] != "squash" else (IMAGES[:4], PHOTOS[:4])
    transform = open_clip_transform(cfg)
    expected = torch.stack([transform(Image.fromarray(photo)) for photo in photos])
    got = clip_batch(images, spec)
    assert got.shape == expected.shape and got.dtype == torch.float32
    levels = (got - expected).abs() * torch.tensor(spec.std).view(1, 3, 1, 1) * 255
    assert levels.max() <= MAX_LEVELS + 1e-3
    assert (levels > 0.5).float().mean() <= MAX_SHARE_DIFFERENT


@pytest.fixture(scope="module")
def embedder(tiny_config):
    return ClipEmbedder(config_file=tiny_config, random_init=True, seed=0)


@pytest.fixture(scope="module")
def reference(embedder):
    """open_clip's own model and transform, with the embedder's weights."""
    model, _, transform = open_clip.create_model_and_transforms(embedder.model_name)
    model.load_state_dict(embedder.model.state_dict())
    return model.eval(), transform


def test_config_file_names_the_model_and_sets_the_input(embedder):
    assert embedder.model_name == "pixsift-tiny-vit"
    assert embedder.preprocess.size == (64, 64) and embedder.dim == 32
    assert embedder.describe() == {
        "model": "pixsift-tiny-vit",
        "pretrained": "random",
        "open_clip_version": open_clip.__version__,
        "image_dim": 32,
        "text_dim": 32,
        "context_length": 16,
        "preprocess": asdict(embedder.preprocess),
        "autocast": "none (float32)",
    }


def test_embeddings_equal_open_clip(embedder, reference):
    model, transform = reference
    pixels = torch.stack([transform(Image.fromarray(photo)) for photo in PHOTOS])
    with torch.no_grad():
        expected_images = model.encode_image(pixels)
        expected_texts = model.encode_text(open_clip.get_tokenizer(embedder.model_name)(CAPTIONS))
    torch.testing.assert_close(embedder.encode_images(pixels), expected_images, rtol=0, atol=0)
    # at the captions' own length, not the context's: the same to float rounding
    torch.testing.assert_close(embedder.encode_texts(CAPTIONS), expected_texts, rtol=0, atol=TEXT_ATOL)
    ours = embedder.encode_images(clip_batch(IMAGES, embedder.preprocess))
    assert F.cosine_similarity(ours, expected_images).min() > 0.9999


def test_batches_split_without_changing_results(tiny_config, embedder):
    small = ClipEmbedder(config_file=tiny_config, random_init=True, image_batch_size=2, text_batch_size=2)
    pixels = clip_batch(IMAGES, embedder.preprocess)
    torch.testing.assert_close(small.encode_images(pixels), embedder.encode_images(pixels))
    torch.testing.assert_close(small.encode_texts(CAPTIONS), embedder.encode_texts(CAPTIONS))


def test_captions_past_the_context_are_cut(embedder):
    words = " ".join(["word"] * 40)
    first, second = embedder.encode_texts([words + " cat", words + " dog"])
    torch.testing.assert_close(first, second)


def test_random_init_follows_the_seed(tiny_config, embedder):
    same = ClipEmbedder(config_file=tiny_config, random_init=True, seed=0)
    other = ClipEmbedder(config_file=tiny_config, random_init=True, seed=1)
    weights = embedder.model.state_dict()
    assert all(torch.equal(v, same.model.state_dict()[k]) for k, v in weights.items())
    assert not torch.equal(weights["visual.conv1.weight"], other.model.state_dict()["visual.conv1.weight"])


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_checkpoint_round_trip(tmp_path, tiny_config, embedder, suffix):
    path = tmp_path / f"tiny{suffix}"
    weights = {k: v.contiguous() for k, v in embedder.model.state_dict().items()}
    if suffix == ".safetensors":
        save_file(weights, path)
    else:
        torch.save(weights, path)
    loaded = ClipEmbedder(config_file=tiny_config, pretrained=path, seed=123)
    assert loaded.describe()["pretrained"] == str(path)
    torch.testing.assert_close(loaded.encode_texts(CAPTIONS), embedder.encode_texts(CAPTIONS), rtol=0, atol=0)


def test_pretrained_tag_loads_from_the_hub_cache_only(tmp_path, monkeypatch, tiny_config, embedder):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    tags = {
        "pixsift-tiny-vit": {
            "tiny_tag": {"hf_hub": "pixsift/tiny-vit/", "mean": (0.5,) * 3, "std": (0.5,) * 3}
        }
    }
    monkeypatch.setattr(open_clip.pretrained, "_PRETRAINED", {**open_clip.pretrained._PRETRAINED, **tags})
    with pytest.raises(
        FileNotFoundError,
        match="not available in the Hugging Face cache; fill the cache with `hf download pixsift/tiny-vit "
        "open_clip_model.safetensors` \\(or set HF_HUB_OFFLINE=0",
    ):
        ClipEmbedder(config_file=tiny_config, pretrained="tiny_tag", cache_dir=tmp_path)
    commit = "0" * 40
    repo = tmp_path / "models--pixsift--tiny-vit"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    weights = {k: v.contiguous() for k, v in embedder.model.state_dict().items()}
    save_file(weights, repo / "snapshots" / commit / "open_clip_model.safetensors")
    loaded = ClipEmbedder(config_file=tiny_config, pretrained="tiny_tag", cache_dir=tmp_path)
    assert loaded.preprocess.mean == (0.5,) * 3  # the tag's preprocessing, as open_clip applies it
    torch.testing.assert_close(loaded.encode_texts(CAPTIONS), embedder.encode_texts(CAPTIONS), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give exactly one of pretrained="),
        ({"random_init": True, "model_name": "ViT-B-32"}, "names a config file's model after the file"),
        ({"pretrained": "no_such_tag"}, "neither a file nor a pretrained tag of pixsift-tiny-vit"),
    ],
)
def test_embedder_refuses_unclear_weights(tiny_config, kwargs, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        ClipEmbedder(config_file=tiny_config, **kwargs)


def test_clip_scores_are_cosine_and_clipscore(embedder):
    image_emb = embedder.encode_images(clip_batch(IMAGES, embedder.preprocess))
    text_emb = embedder.encode_texts(CAPTIONS)
    scores = clip_scores(image_emb, text_emb)
    cosine = F.cosine_similarity(image_emb.double(), text_emb.double()).float()
    torch.testing.assert_close(scores["clip_cosine"], cosine, rtol=0, atol=1e-6)
    torch.testing.assert_close(scores["clip_score"], 2.5 * cosine.clamp_min(0), rtol=0, atol=3e-6)


def test_ssim_roundtrip_of_mixed_sizes_equals_one_image_at_a_time():
    images = IMAGES[:3] + IMAGES[:1]
    expected = torch.cat([roundtrip_ssim(image[None]) for image in images])
    torch.testing.assert_close(ssim_roundtrip(images), expected, rtol=0, atol=0)


@pytest.mark.parametrize(
    "metadata",
    [{}, {"activation": "none", "input": "text"}, {"normalize": "false"}],
    ids=str,
)
def test_mlp_scorer_equals_a_hand_computation(tmp_path, metadata):
    rng = np.random.default_rng(0)
    # (slot, in, out); sparse slots, as an nn.Sequential with Dropouts between its Linear layers saves them.
    weights = {}
    for slot, n_in, n_out in ((0, 32, 16), (2, 16, 8), (5, 8, 1)):
        weights[f"layers.{slot}.weight"] = rng.standard_normal((n_out, n_in)).astype(np.float32)
        weights[f"layers.{slot}.bias"] = rng.standard_normal(n_out).astype(np.float32)
    path = tmp_path / "aesthetic.safetensors"
    save_file({k: torch.from_numpy(v) for k, v in weights.items()}, path, metadata=metadata)
    image_emb, text_emb = (rng.standard_normal((6, 32)).astype(np.float32) for _ in range(2))

    x = (text_emb if metadata.get("input") == "text" else image_emb).astype(np.float64)
    if metadata.get("normalize", "true") == "true":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    for i, slot in enumerate((0, 2, 5)):
        x = x @ weights[f"layers.{slot}.weight"].T + weights[f"layers.{slot}.bias"]
        if metadata.get("activation", "relu") == "relu" and i < 2:
            x = np.maximum(x, 0)

    scorer = MlpScorer(path)
    assert scorer.name == "aesthetic"
    got = scorer(torch.from_numpy(image_emb), torch.from_numpy(text_emb))
    assert got.dtype == torch.float32 and got.shape == (6,)
    np.testing.assert_allclose(got.numpy(), x[:, 0], rtol=1e-5, atol=1e-5)


def test_mlp_scorer_names_a_bad_file(tmp_path):
    path = tmp_path / "bad.safetensors"
    save_file({"layers.0.weight": torch.zeros(4, 8), "layers.0.bias": torch.zeros(4)}, path)
    with pytest.raises(ValueError, match="bad.safetensors: the last layer must have 1 output, has 4"):
        MlpScorer(path)


def test_laion_aesthetic_predictor_state_dict_loads_as_published(tmp_path):
    """The layout of LAION's improved-aesthetic-predictor .pth: nn.Sequential of Linear and Dropout
    (slots 0, 2, 4, 6, 7), no activation, on L2-normalized ViT-L-14 image embeddings."""
    torch.manual_seed(0)
    head = torch.nn.Sequential(
        torch.nn.Linear(768, 1024), torch.nn.Dropout(0.2), torch.nn.Linear(1024, 128), torch.nn.Dropout(0.2),
        torch.nn.Linear(128, 64), torch.nn.Dropout(0.1), torch.nn.Linear(64, 16), torch.nn.Linear(16, 1),
    ).eval()  # fmt: skip
    torch.save(
        {f"layers.{k}": v for k, v in head.state_dict().items()},
        tmp_path / "sac+logos+ava1-l14-linearMSE.pth",
    )
    scorer = MlpScorer(tmp_path / "sac+logos+ava1-l14-linearMSE.pth", "aesthetic")
    image_emb, text_emb = torch.randn(5, 768), torch.randn(5, 768)
    with torch.no_grad():
        expected = head.double()(torch.nn.functional.normalize(image_emb.double(), dim=1))[:, 0]
    np.testing.assert_allclose(scorer(image_emb, text_emb).numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)


def test_a_scorer_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "planted.pth"
    torch.save(
        {"layers.0.weight": torch.zeros(1, 4), "layers.0.bias": torch.zeros(1), "run": Planted()}, path
    )
    with pytest.raises(ValueError, match="planted.pth: not a PyTorch state dict of tensors"):
        MlpScorer(path)
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.pth: not a PyTorch state dict of tensors"):
        MlpScorer(tmp_path / "empty.pth")


class Planted:
    """A class a weights-only load must not construct."""


def _tower_model(tmp_path, name: str, custom_text: bool = False, **text_cfg):
    config = json.loads(TINY_CLIP_CONFIG.read_text())
    config["text_cfg"].update(text_cfg)
    config["custom_text"] = custom_text
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config))
    return ClipEmbedder(config_file=path, random_init=True)


CAPTION_LENGTHS = ["a", "a cat", "a tabby cat on a red sofa by the window", "a cat", " ".join(["word"] * 30)]


@pytest.mark.parametrize("custom_text", [False, True], ids=["CLIP", "CustomTextCLIP"])
def test_text_at_the_longest_caption_length_equals_the_full_context(tmp_path, custom_text):
    embedder = _tower_model(tmp_path, "tower", custom_text)
    assert isinstance(embedder.model, open_clip.CustomTextCLIP if custom_text else open_clip.CLIP)
    tokens, rows = embedder.tokenize(CAPTION_LENGTHS)
    assert tokens.shape == (4, 16)  # the 30-word caption fills the context
    full = embedder.model.encode_text(embedder.tokenizer(CAPTION_LENGTHS))
    short = embedder.tokenize(CAPTION_LENGTHS[:4])[0]
    assert short.shape == (3, 12)  # 3 distinct captions, the longest 10 words + start and end tokens
    torch.testing.assert_close(embedder.encode_texts(CAPTION_LENGTHS), full, rtol=0, atol=TEXT_ATOL)
    torch.testing.assert_close(embedder.encode_texts(CAPTION_LENGTHS[:4]), full[:4], rtol=0, atol=TEXT_ATOL)


def test_each_distinct_caption_is_encoded_once(embedder):
    captions = ["a cat", "a dog", "a cat", "a cat", "a dog"]
    tokens, rows = embedder.tokenize(captions)
    assert tokens.shape[0] == 2 and rows.tolist() == [0, 1, 0, 0, 1]
    each = torch.cat([embedder.encode_texts([c]) for c in captions])
    torch.testing.assert_close(embedder.encode_texts(captions), each, rtol=0, atol=TEXT_ATOL)


def test_a_tower_that_attends_both_ways_runs_at_the_full_context(tmp_path):
    embedder = _tower_model(tmp_path, "bidirectional", True, no_causal_mask=True, pool_type="last")
    tokens, _ = embedder.tokenize(["a cat", "a dog"])
    assert tokens.shape[1] == 16 == embedder.tokenize(["a"])[0].shape[1]  # never trimmed
    full = embedder.model.encode_text(embedder.tokenizer(["a cat", "a dog"]))
    torch.testing.assert_close(embedder.encode_texts(["a cat", "a dog"]), full, rtol=0, atol=0)


def test_text_prefix_goes_before_every_caption(tiny_config, embedder):
    prefixed = ClipEmbedder(config_file=tiny_config, random_init=True, text_prefix="A photo depicts ")
    expected = embedder.encode_texts(["A photo depicts " + c for c in CAPTIONS])
    torch.testing.assert_close(prefixed.encode_texts(CAPTIONS), expected, rtol=0, atol=0)
