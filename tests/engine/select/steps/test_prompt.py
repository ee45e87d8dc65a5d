"""Prompt filters: hand-made captions for each drop reason, as steps over a sparse set of alive rows."""

import numpy as np
import pytest

from pixsift.engine.select.dedup.settings import SemanticSettings
from pixsift.engine.select.language import guess_language
from pixsift.engine.select.steps import captions as prompt_filters
from pixsift.engine.select.steps.prompt_blocklist import BlocklistFilter
from pixsift.engine.select.steps.prompt_charset import CharsetFilter
from pixsift.engine.select.steps.prompt_language import LanguageFilter
from pixsift.engine.select.steps.prompt_length import LengthFilter
from pixsift.engine.select.steps.prompt_near_duplicate import NearDuplicateCaptions
from pixsift.engine.store.schema import WEIGHTED_SCORE


def run(step, captions: list[str], **columns) -> np.ndarray:
    """The keep mask of `step` over the captions, stored at every third row of a larger store."""
    rows = np.arange(len(captions), dtype=np.int64) * 3
    store = {"caption": np.full(3 * len(captions), "unrelated", dtype=object)}
    store["caption"][rows] = captions
    for name, values in columns.items():
        store[name] = np.zeros((3 * len(values), *np.shape(values)[1:]), dtype=np.asarray(values).dtype)
        store[name][rows] = values
    result = step(rows, lambda column, wanted: store[column][wanted])
    assert result.keep.dtype == bool and result.keep.shape == rows.shape
    return result


def test_length_bounds_in_characters_and_words():
    captions = ["", "   ", "cat", "a cat on a mat", "one two three four five six", "x" * 30]
    assert run(LengthFilter(), captions).keep.tolist() == [False, False, True, True, True, True]
    bounded = LengthFilter(min_chars=4, max_chars=26, min_words=2, max_words=5)
    assert run(bounded, captions).keep.tolist() == [False, False, False, True, False, False]
    assert bounded.name == "prompt:length"
    with pytest.raises(ValueError, match="prompt:length: need 0 <= min_words <= max_words"):
        LengthFilter(min_words=5, max_words=2)


def test_charset_drops_control_replacement_and_letterless_captions():
    captions = [
        "A red bicycle leaning on a wall.\nSecond line\twith a tab.",
        "caf\ufffd au lait",  # a broken decode
        "bell\x07 character",
        "lone \udc80 surrogate",
        "https://x.co/1234/5678/9012",
        "1234 5678 !!!",
        "Ein Hund läuft über die Straße",
        "   ",
    ]
    keep = run(CharsetFilter(), captions).keep
    assert keep.tolist() == [True, False, False, False, False, False, True, False]
    assert run(CharsetFilter(min_letter_share=0.25), captions[4:5]).keep.tolist() == [True]
    with pytest.raises(ValueError, match="min_letter_share must be in"):
        CharsetFilter(min_letter_share=1.5)


@pytest.mark.parametrize(
    ("caption", "language"),
    [
        ("A photo of a dog sitting on the grass", "en"),
        ("red sports car", "en"),  # no function word at all: guessed English
        ("Die Katze sitzt auf dem Tisch und schläft", "de"),
        ("Un chat noir est assis sur la table", "fr"),
        ("Un perro grande con una pelota en el parque", "es"),
        ("Il gatto dorme sul divano nella casa", "it"),
        ("Um cachorro com uma bola no parque", "pt"),
        ("Een hond met een bal op het gras", "nl"),
        ("Кошка сидит на столе", "cyrillic"),
        ("一只猫坐在桌子上", "cjk"),
        ("猫がテーブルの上に座っている", "cjk"),
        ("고양이가 탁자 위에 앉아 있다", "hangul"),
        ("Μια γάτα κάθεται στο τραπέζι", "greek"),
        ("A cat named 猫", "en"),  # a few letters of another script do not decide
        ("12345 !!!", ""),
    ],
)
def test_language_guess(caption, language):
    assert guess_language(caption) == language


def test_language_filter_keeps_the_languages_asked_for():
    captions = ["a dog on the beach", "un chien sur la plage", "собака на пляже", "2024"]
    assert run(LanguageFilter(), captions).keep.tolist() == [True, False, False, False]
    assert run(LanguageFilter(languages=["en", "fr"]), captions).keep.tolist() == [True, True, False, False]
    with pytest.raises(TypeError, match="not the string 'en'"):
        LanguageFilter(languages="en")


def test_blocklist_matches_whole_words_case_insensitively(tmp_path):
    terms = ["nsfw", "gore", "blood bath", "c++"]
    captions = [
        "A NSFW picture",
        "goreless sunset",  # part of a word: kept
        "a Blood   Bath scene",  # a term across any whitespace
        "bloodbath",
        "learning C++ today",
        "a gore-tex jacket",  # whole word before a hyphen: dropped
        "a calm lake",
    ]
    expected = [False, True, False, True, False, False, True]
    assert run(BlocklistFilter(terms), captions).keep.tolist() == expected
    path = tmp_path / "blocklist.txt"
    path.write_text("# words to drop\n\n" + "\n".join(terms) + "\n")
    step = BlocklistFilter.from_file(path)
    assert step.name == "prompt:blocklist" and run(step, captions).keep.tolist() == expected


def test_blocklist_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="has no terms"):
        BlocklistFilter(["  "])
    with pytest.raises(TypeError, match="not the string 'gore'"):
        BlocklistFilter("gore")
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ValueError, match="empty.txt has no terms"):
        BlocklistFilter.from_file(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match="cannot read the blocklist file"):
        BlocklistFilter.from_file(tmp_path / "missing.txt")


def test_near_duplicate_captions_by_text_embedding():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4, 32))
    # Rows 0, 2, 5 paraphrase one prompt; 1 and 4 another; 3 stands alone.
    embeddings = base[[0, 1, 0, 2, 1, 0]] + 0.02 * rng.standard_normal((6, 32))
    scores = np.array([0.1, 0.5, 0.9, 0.3, 0.2, np.nan])
    step = NearDuplicateCaptions(settings=SemanticSettings(eps=0.05))
    result = run(step, ["c"] * 6, text_embedding=embeddings.astype(np.float16), **{WEIGHTED_SCORE: scores})
    rows = np.arange(6) * 3
    assert step.name == "prompt:near_duplicate"
    assert result.keep.tolist() == [False, True, True, True, False, False]
    assert result.dup_group.tolist() == [rows[2], rows[1], rows[2], -1, rows[1], rows[2]]


def test_every_step_has_its_drop_reason():
    steps = [LengthFilter(), CharsetFilter(), LanguageFilter(), BlocklistFilter(["x"])]
    steps.append(NearDuplicateCaptions())
    names = [step.name for step in steps]
    assert names == [
        "prompt:length",
        "prompt:charset",
        "prompt:language",
        "prompt:blocklist",
        "prompt:near_duplicate",
    ]


def test_captions_are_read_a_chunk_at_a_time(monkeypatch):
    monkeypatch.setattr(prompt_filters, "CHUNK_ROWS", 4)
    seen = []
    captions = np.array([f"caption {i}" if i % 3 else "" for i in range(10)], dtype=object)

    def read(column, rows):
        seen.append(len(rows))
        return captions[rows]

    keep = LengthFilter()(np.arange(10, dtype=np.int64), read).keep
    assert seen == [4, 4, 2] and keep.tolist() == [i % 3 != 0 for i in range(10)]
