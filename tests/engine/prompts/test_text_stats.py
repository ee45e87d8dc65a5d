"""The caption statistics against Data-Juicer's own code (written out in tests/fixtures/data_juicer.py), on
random and hand-made texts."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pixsift.engine.prompts.filters.text_stats import text_stats
from tests.fixtures.data_juicer import dj_stats

WORDS = [
    "a",
    "red",
    "Cat",
    "on",
    "the",
    "mat,",
    "İstanbul",
    "naïve",
    "水彩画",
    "(sunset)",
    "42",
    "—",
    "😀",
    "🇫🇷",
]


def random_text(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:  # few words, repeated: word and character n-grams that repeat
        vocab = rng.sample(WORDS, rng.randint(1, 4))
        seps = [" ", "  ", "\n", "\t", " \u00a0", "\r\n"]
        return "".join(rng.choice(vocab) + rng.choice(seps) for _ in range(rng.randint(0, 40)))
    if kind < 0.5:  # random characters of every plane, including a lone surrogate
        return "".join(chr(rng.choice([rng.randint(32, 126), rng.randint(0x80, 0x2FFF), 0xD800, 0x1F600]))
                       for _ in range(rng.randint(0, 60)))  # fmt: skip
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 80)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_data_juicer_on_random_texts(seed):
    rng = random.Random(seed)
    texts = [random_text(rng) for _ in range(rng.choice([1, 257, 600]))]
    stats = text_stats(texts)
    alnum, char_rep, word_rep, lengths = dj_stats(texts)
    np.testing.assert_array_equal(stats.alnum_ratio, alnum)
    np.testing.assert_array_equal(stats.char_repetition, char_rep)
    np.testing.assert_array_equal(stats.word_repetition, word_rep)
    np.testing.assert_array_equal(stats.length, lengths)


def test_hand_made_cases():
    texts = [
        "",
        "short",
        "a photo of a cat " * 12,  # every word 10-gram repeats
        "A red bicycle leans against a white brick wall in the late afternoon sun, long shadows.",
        "!!!??? ... --- 123",
        "ÀB" * 30,
        "word " * 9,  # nine words: no 10-gram
    ]
    stats = text_stats(texts)
    alnum, char_rep, word_rep, lengths = dj_stats(texts)
    np.testing.assert_array_equal(stats.alnum_ratio, alnum)
    np.testing.assert_array_equal(stats.char_repetition, char_rep)
    np.testing.assert_array_equal(stats.word_repetition, word_rep)
    assert stats.word_repetition[2] == 1.0 and stats.word_repetition[3] == 0.0 and stats.length[0] == 0
    assert list(stats.length) == lengths


def test_no_texts():
    assert text_stats([]).length.shape == (0,)
