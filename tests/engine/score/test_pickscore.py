"""PickScore as a `--scorer`: a tiny random CLIPModel folder laid out as yuvalkirstain/PickScore_v1 is
(config, weights, processor, tokenizer), scored beside the main CLIP, equal to its README's computation
written out on the same folder; the kind found from the folder or named with --scorer-kind."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pixsift.engine.core.errors import BadInput
from pixsift.engine.score.job import score
from pixsift.engine.score.scorers import load_scorer
from tests.fixtures.scorer_models import save_pickscore
from tests.fixtures.tiny_diffusers import char_tokenizer
from tests.helpers.scoring import encoded, good_pool, read_store, score_config


def tiny_pickscore(folder) -> str:
    """A tiny random CLIPModel folder in PickScore_v1's layout."""
    sizes = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}
    text = {**sizes, "vocab_size": len(char_tokenizer()), "max_position_embeddings": 77}
    return save_pickscore(folder, text, {**sizes, "image_size": 224, "patch_size": 32}, projection_dim=16)


def readme_scores(folder: str, images: list[Image.Image], prompts: list[str]) -> np.ndarray:
    """PickScore's README, per image and prompt: processor on PIL images and on the prompt (padding,
    truncation at 77), normalised features, logit_scale.exp() times their product (here through
    CLIPModel's forward, which computes exactly that as logits_per_image)."""
    from transformers import AutoModel, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    scores = []
    with torch.no_grad():
        for image, prompt in zip(images, prompts, strict=True):
            image_inputs = processor(images=image, return_tensors="pt")
            text_inputs = processor(
                text=prompt, padding=True, truncation=True, max_length=77, return_tensors="pt"
            )
            scores.append(float(model(**image_inputs, **text_inputs).logits_per_image[0, 0]))
    return np.array(scores)


def test_pickscore_equals_its_readme_beside_the_main_clip(tmp_path, tiny_config):
    folder = tiny_pickscore(tmp_path / "PickScore_v1")
    shards = good_pool(tmp_path / "pool")
    cfg = score_config(shards, tmp_path / "store", tiny_config, scorers={"pickscore": folder}, batch_size=3)
    score(cfg, io.StringIO())
    got = read_store(tmp_path / "store")
    names = [key.rsplit("/", 1)[-1].rsplit("-", 1)[0] for key in got["key"].tolist()]  # <shard>/<photo>-0
    images = [Image.open(io.BytesIO(encoded(name))).convert("RGB") for name in names]
    prompts = [f"a photograph of {name}" for name in names]
    assert (got["status"] == "ok").all()
    np.testing.assert_allclose(got["pickscore"], readme_scores(folder, images, prompts), rtol=1e-5, atol=1e-5)


def test_the_kind_comes_from_the_folder_or_is_named(tmp_path):
    folder = tiny_pickscore(tmp_path / "pick")
    assert type(load_scorer(folder, "pick", "cpu")).__name__ == "PickScore"
    assert type(load_scorer(folder, "pick", "cpu", "pickscore")).__name__ == "PickScore"
    (tmp_path / "other").mkdir()
    with pytest.raises(BadInput, match="is not a transformers CLIPModel folder"):
        load_scorer(tmp_path / "other", "pick", "cpu", "pickscore")
    with pytest.raises(
        BadInput, match="no kind 'hps'; kinds: aesthetic_v25, hpsv2, image_reward, mlp, pickscore"
    ):
        load_scorer(folder, "pick", "cpu", "hps")


def test_a_kind_named_for_no_scorer_is_refused(tmp_path, tiny_config):
    with pytest.raises(ValueError, match=r"scorer_kinds.*pick: no --scorer of that name"):
        score_config(["x"], tmp_path / "store", tiny_config, scorer_kinds={"pick": "pickscore"})
