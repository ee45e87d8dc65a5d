"""One recipe loader for selection specs and training settings: shipped names or files, `base` chains."""

import pytest

from engine.core.errors import BadInput, NotFound
from engine.core.recipes import load_recipe, recipe_names


def test_shipped_recipes_of_each_package():
    assert {"synthvlm", "fine_t2i", "datacomp"} <= set(recipe_names("engine.select"))
    assert {"janus4o", "tiny"} <= set(recipe_names("trainer"))


def test_a_base_is_read_first_and_tables_merge_key_by_key(tmp_path):
    tiny = load_recipe("trainer", "tiny", "training recipe")
    janus4o = load_recipe("trainer", "janus4o", "training recipe")
    assert tiny["optim"]["lr"] == 1e-3 and tiny["optim"]["weight_decay"] == janus4o["optim"]["weight_decay"]
    assert "base" not in tiny
    mine = tmp_path / "mine.toml"
    mine.write_text(
        'base = "synthvlm"\nname = "mine"\n[score]\nclip_cosine = 2.0\n[[steps]]\ntype = "top_k"\nk = 3\n'
    )
    table = load_recipe("engine.select", str(mine), "selection spec")
    assert table["name"] == "mine" and table["steps"] == [{"type": "top_k", "k": 3}]  # a list is replaced
    assert table["score"] == {"clip_cosine": 2.0, "ssim_roundtrip": 0.5}  # a table merges


def test_unknown_recipes_and_cycles_are_named(tmp_path):
    with pytest.raises(NotFound, match=r"no such training recipe: .* the shipped ones are janus4o, tiny"):
        load_recipe("trainer", "nope", "training recipe")
    loop = tmp_path / "loop.toml"
    loop.write_text(f'base = "{loop}"\n')
    with pytest.raises(BadInput, match="form a cycle"):
        load_recipe("trainer", str(loop), "training recipe")
