"""The taxonomy file and the balanced plan drawn from it."""

from __future__ import annotations

from collections import Counter

import pytest

from pixsift.engine.core.errors import BadInput
from pixsift.engine.prompts.taxonomy import cell_quotas, draw_plan, load_taxonomy

SMALL = """
name = "small"
count = 12
enhance = "Improve: {prompt}"
[[tasks]]
name = "counting"
[[tasks]]
name = "text rendering"
weight = 3
[[categories]]
name = "animals"
[[categories]]
name = "food"
weight = 2
[[styles]]
name = "photo"
[[styles]]
name = "anime"
[[templates]]
name = "short"
text = "A {style} image of {category} ({task}). {description}"
"""


def write(tmp_path, text: str):
    path = tmp_path / "taxonomy.toml"
    path.write_text(text)
    return str(path)


def test_the_shipped_fine_t2i_taxonomy_has_the_published_counts():
    taxonomy = load_taxonomy("fine_t2i")
    counts = [len(getattr(taxonomy, axis)) for axis in ("tasks", "categories", "styles", "templates")]
    assert counts == [10, 32, 11, 5]
    quotas = cell_quotas(taxonomy, taxonomy.count)
    assert len(quotas) == 32 * 11 and set(quotas.values()) == {10}


def test_quotas_follow_the_weights_and_sum_to_the_count(tmp_path):
    taxonomy = load_taxonomy(write(tmp_path, SMALL))
    assert cell_quotas(taxonomy, 12) == {
        ("animals", "photo"): 2, ("animals", "anime"): 2, ("food", "photo"): 4, ("food", "anime"): 4
    }  # fmt: skip
    # exact shares 7/6, 7/6, 7/3, 7/3: floors 1, 1, 2, 2, and the one left to the largest remainder (the
    # earlier of the tied cells)
    assert list(cell_quotas(taxonomy, 7).values()) == [1, 1, 3, 2]


def test_the_plan_is_balanced_seeded_and_shuffled(tmp_path):
    taxonomy = load_taxonomy(write(tmp_path, SMALL))
    plan = draw_plan(taxonomy, 600, seed=3)
    rows = plan.to_pylist()
    cells = Counter((r["prompt_category"], r["style"]) for r in rows)
    assert cells == Counter(cell_quotas(taxonomy, 600))
    tasks = Counter(r["task"] for r in rows)
    assert 0.68 < tasks["text rendering"] / 600 < 0.82  # weight 3 of 4
    assert [r["id"] for r in rows[:2]] == ["p000000000", "p000000001"] and rows[5]["index"] == 5
    first = rows[0]
    expected = f"A {first['style']} image of {first['prompt_category']} ({first['task']}). "
    assert taxonomy.instruction(first) == expected
    assert draw_plan(taxonomy, 600, seed=3).equals(plan)
    assert not draw_plan(taxonomy, 600, seed=4).equals(plan)
    first_cells = {(r["prompt_category"], r["style"]) for r in rows[:20]}
    assert len(first_cells) == 4, "shuffled: the first rows are not one cell"


def test_a_description_is_part_of_the_instruction(tmp_path):
    described = SMALL.replace('name = "counting"', 'name = "counting"\ndescription = "exactly three things"')
    taxonomy = load_taxonomy(write(tmp_path, described))
    row = {"task": "counting", "prompt_category": "food", "style": "anime", "template": "short"}
    assert taxonomy.instruction(row) == "A anime image of food (counting). exactly three things"


@pytest.mark.parametrize(
    "change, problem",
    [
        (('text = "A {style}', 'text = "A {colour}'), "unknown placeholders colour"),
        (('[[styles]]\nname = "photo"', '[[styles]]\nname = "photo"\nhue = 1'), "unknown keys hue"),
        (("weight = 2", "weight = 0"), "weight must be a number > 0"),
        (('name = "anime"', 'name = "photo"'), "'photo' is named twice"),
        (('enhance = "Improve: {prompt}"', 'enhance = "Improve: {text}"'), "unknown placeholders text"),
    ],
)
def test_a_bad_taxonomy_is_named_with_its_problem(tmp_path, change, problem):
    with pytest.raises(BadInput, match=problem):
        load_taxonomy(write(tmp_path, SMALL.replace(*change)))


def test_an_unknown_taxonomy_lists_the_shipped_ones():
    with pytest.raises(BadInput, match="shipped taxonomies: fine_t2i"):
        load_taxonomy("nonesuch")
