"""Aesthetic predictor v2.5 as a `--scorer`: a folder laid out as google/siglip-so400m-patch14-384 with the
predictor's head beside it (here a tiny SigLIP vision tower), equal to its AestheticPredictorV2_5Model
written out: the processor on PIL images, SiglipVisionModel's pooled output normalised, the scoring head."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pixsift.engine.core.errors import BadInput
from pixsift.engine.score.job import score
from pixsift.engine.score.scorers import aesthetic_v25, load_scorer
from tests.fixtures.scorer_models import save_aesthetic_v25, scoring_head
from tests.helpers.scoring import encoded, good_pool, read_store, score_config


def tiny_predictor(folder) -> str:
    sizes = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2}
    return save_aesthetic_v25(folder, {**sizes, "image_size": 56, "patch_size": 14}, aesthetic_v25.HEAD)


def predictor_scores(folder: str, images: list[Image.Image]) -> np.ndarray:
    """AestheticPredictorV2_5Model.forward per image: pooler_output / its norm -> the head's logits."""
    from transformers import SiglipImageProcessor, SiglipVisionModel

    processor = SiglipImageProcessor.from_pretrained(folder)
    tower = SiglipVisionModel.from_pretrained(folder).eval()
    head = scoring_head(tower.config.hidden_size)
    state = torch.load(f"{folder}/{aesthetic_v25.HEAD}")
    head.load_state_dict({k.removeprefix("scoring_head."): v for k, v in state.items()})
    head.eval()
    with torch.no_grad():
        scores = []
        for image in images:
            image_embeds = tower(**processor(images=image, return_tensors="pt")).pooler_output
            scores.append(float(head(image_embeds / image_embeds.norm(dim=-1, keepdim=True))[0, 0]))
    return np.array(scores)


def test_the_predictor_equals_its_model_written_out_beside_the_main_clip(tmp_path, tiny_config):
    folder = tiny_predictor(tmp_path / "siglip-so400m-patch14-384")
    shards = good_pool(tmp_path / "pool")
    score(score_config(shards, tmp_path / "store", tiny_config, scorers={"aesthetic": folder}), io.StringIO())
    got = read_store(tmp_path / "store")
    names = [key.rsplit("/", 1)[-1].rsplit("-", 1)[0] for key in got["key"].tolist()]
    images = [Image.open(io.BytesIO(encoded(name))).convert("RGB") for name in names]
    assert (got["status"] == "ok").all()
    np.testing.assert_allclose(got["aesthetic"], predictor_scores(folder, images), rtol=1e-5, atol=1e-5)


def test_a_folder_without_the_head_is_not_the_predictor(tmp_path):
    folder = tmp_path / "siglip"
    tiny_predictor(folder)
    assert type(load_scorer(folder, "aesthetic", "cpu")).__name__ == "AestheticV25"
    (folder / aesthetic_v25.HEAD).unlink()
    with pytest.raises(BadInput, match="no kind of scorer loads"):
        load_scorer(folder, "aesthetic", "cpu")
    with pytest.raises(BadInput, match=f"is not a SigLIP checkpoint folder with {aesthetic_v25.HEAD} in it"):
        load_scorer(folder, "aesthetic", "cpu", "aesthetic_v25")
