"""A small offline language guess for captions: the script of the letters, then a function-word vote.

Not a language identifier: it tells English from other scripts (by Unicode character names) and from six
Latin-script European languages (German, French, Spanish, Italian, Portuguese, Dutch) by counting their
common function words. A Latin-script caption with no function word of any of them (many captions are bare
noun phrases: "sunset over a lake" has one, "red sports car" has none) is guessed English, and so is a tie.
Other Latin-script languages with none of these words (Polish, Turkish, ...) are guessed English too.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

FUNCTION_WORDS = {
    "en": "the a an of and with on in at is are by for from his her their this that these those its it to "
    "into onto while under over near next wearing holding standing sitting",
    "de": "der die das und mit ein eine einem einer einen auf ist sind nicht von zu im dem den des für bei "
    "sich unter neben über",
    "fr": "le la les un une de des et avec sur dans est du au aux sous pour sont près qui d l",
    "es": "el la los las un una de y con sobre en es del al por para que sus unos unas junto",
    "it": "il lo la gli le un una e con sul sulla nel nella di del della che per sono è",
    "pt": "o os as um uma de e com em no na nos nas do da dos das é que para sobre ao",
    "nl": "de het een en met op van is zijn bij naast onder voor",
}
_WORDS = {lang: frozenset(words.split()) for lang, words in FUNCTION_WORDS.items()}
_TOKEN = re.compile(r"[^\W\d_]+")
# A caption whose letters are more than this share of another script is in that script's language(s).
_OTHER_SCRIPT_SHARE = 0.2


def guess_language(text: str) -> str:
    """ "en", "de", "fr", "es", "it", "pt", "nl", the lowercase Unicode script of the letters when it is not
    Latin ("cyrillic", "cjk", "arabic", "greek", "hangul", ...), or "" when the text has no letters."""
    scripts = Counter(_script(ch) for ch in text if ch.isalpha())
    if not scripts:
        return ""
    script, count = max(scripts.items(), key=lambda item: (item[0] != "latin", item[1]))
    if script != "latin" and count > _OTHER_SCRIPT_SHARE * scripts.total():
        return script
    words = _TOKEN.findall(text.lower())
    votes = {lang: sum(word in vocabulary for word in words) for lang, vocabulary in _WORDS.items()}
    best = max(votes, key=votes.get)
    return best if votes[best] > votes["en"] else "en"


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0].lower()
    # Chinese and Japanese share the ideographs: they and the kana are one "cjk" script here.
    return "cjk" if first in ("cjk", "hiragana", "katakana") else first or "unknown"
