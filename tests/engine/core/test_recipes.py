"""One recipe loader for selection specs and training settings: shipped names or files, `base` chains."""

import pytest

from pixsift.engine.core.errors import BadInput, NotFound
from pixsift.engine.core.recipes import load_recipe, recipe_names
from pixsift.engine.select.spec import RECIPES as SELECT_RECIPES
from pixsift.trainer.train.config import RECIPES as TRAIN_RECIPES


def test_shipped_recipes_of_each_package():
    assert {"synthvlm", "fine_t2i", "datacomp"} <= set(recipe_names(SELECT_RECIPES))
    assert {"janus4o", "tiny"} <= set(recipe_names(TRAIN_RECIPES))


def test_a_base_is_read_first_and_tables_merge_key_by_key(tmp_path):
    tiny = load_recipe(TRAIN_RECIPES, "tiny", "training recipe")
    janus4o = load_recipe(TRAIN_RECIPES, "janus4o", "training recipe")
    assert tiny["optim"]["lr"] == 1e-3 and tiny["optim"]["weight_decay"] == janus4o["optim"]["weight_decay"]
    assert "base" not in tiny
    mine = tmp_path / "mine.toml"
    mine.write_text(
        'base = "synthvlm"\nname = "mine"\n[score]\nclip_cosine = 2.0\n[[steps]]\ntype = "top_k"\nk = 3\n'
    )
    table = load_recipe(SELECT_RECIPES, str(mine), "selection spec")
    assert table["name"] == "mine" and table["steps"] == [{"type": "top_k", "k": 3}]  # a list is replaced
    assert table["score"] == {"clip_cosine": 2.0, "ssim_roundtrip": 0.5}  # a table merges


def test_unknown_recipes_and_cycles_are_named(tmp_path):
    shipped = r"no such training recipe: .* the shipped ones are janus4o, janus4o-plus, tiny"
    with pytest.raises(NotFound, match=shipped):
        load_recipe(TRAIN_RECIPES, "nope", "training recipe")
    loop = tmp_path / "loop.toml"
    loop.write_text(f'base = "{loop}"\n')
    with pytest.raises(BadInput, match="form a cycle"):
        load_recipe(TRAIN_RECIPES, str(loop), "training recipe")
