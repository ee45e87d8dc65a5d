"""Near-duplicate prompts by datasketch's MinHash LSH: the first of a group is kept, the others name it."""

from __future__ import annotations

import numpy as np

from pixsift.engine.prompts.filters.near_duplicate import near_duplicates, shingles

BASE = "a red fox sleeping under a tall pine tree in the first snow of winter, soft morning light"


def test_duplicates_name_the_earliest_kept_prompt():
    texts = [
        BASE,
        "A watercolor of a lighthouse on a cliff above a stormy sea at dusk",
        BASE.upper() + "!",  # the same words: Jaccard 1
        BASE.replace("soft morning light", "soft morning glow"),  # 13 of 15 shingles shared
        "three cups of coffee on a wooden table beside an open book",
        BASE,
    ]
    found = near_duplicates(texts, np.ones(len(texts), bool), 0.7)
    assert found.tolist() == [-1, -1, 0, 0, -1, 0]


def test_rows_dropped_before_are_neither_checked_nor_matched():
    texts = [BASE, BASE, BASE]
    found = near_duplicates(texts, np.array([False, True, True]), 0.7)
    assert found.tolist() == [-1, -1, 1]


def test_a_higher_threshold_keeps_the_near_ones():
    texts = [BASE, BASE.replace("soft morning light", "soft morning glow")]
    assert near_duplicates(texts, np.ones(2, bool), 0.95).tolist() == [-1, -1]


def test_shingles_are_word_trigrams_of_the_cleaned_words():
    assert shingles("A cat, sat!") == {b"a cat sat"}
    assert shingles("Two words") == {b"two words"}
    assert shingles("a b c d") == {b"a b c", b"b c d"}
