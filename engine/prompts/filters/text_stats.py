"""Data-Juicer's caption statistics, as SynthVLM filters its caption pool with them, computed over a whole
batch of texts at once in numba (Data-Juicer computes them one Python string at a time):

    alnum_ratio        alphanumeric characters / characters (AlphanumericFilter, tokenization off)
    char_repetition    CharacterRepetitionFilter (rep_len 10): of the distinct 10-character n-grams,
                       the floor(sqrt(distinct)) most frequent, when that many repeat (else only those
                       that do), their occurrences / all n-grams
    word_repetition    WordRepetitionFilter (rep_len 10): words split on space, newline and tab,
                       lowercased, special characters stripped from both ends (emptied words dropped);
                       occurrences of the 10-word n-grams that occur more than once / all n-grams
    length             characters (TextLengthFilter)

N-grams are compared by a 64-bit hash of their characters (or of their words' hashes), not as strings.
tests/engine/prompts/test_text_stats.py holds Data-Juicer's code written out and compares.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, fields
from functools import cache

import numba
import numpy as np

from pixsift.kernels.optional import require

REP_LEN = 10  # Data-Juicer's default n of both repetition filters
# Data-Juicer's SPECIAL_CHARACTERS (ops/common/special_characters.py), stripped from words' ends; its emoji
# are added from the `emoji` package as it does (only single characters can match a character).
_OTHER_SPECIAL = (
    "    　    ￼’“”–ー一▬…✦�£•€«»°·═"
    "×士＾˘⇓↓↑←→（）§″′´¿−±∈¢ø‚„½¼¾¹²³―⁃，ˌ¸‹›ʺˈʻ¦‐⠀‰‑≤≥‖"
    "◆●■►▼▲▴∆▻¡★☆✱ːº。¯˜¥ɪ≈†上ン：∼⁄・♡✓⊕․．⋅÷１‟；،、¨ाাी्े◦˚"
    "゜ʼ≖ʼ¤ッツシ℃√！【】‿∞➤～πه۩☛₨➩☻๑٪♥ıॽ《‘©﴿٬？▷Г♫∟™ª₪®「—❖"
    "」﴾》"
)
_UNICODE = 0x110000


@dataclass(frozen=True)
class TextStats:
    alnum_ratio: np.ndarray  # float64, one per text
    char_repetition: np.ndarray
    word_repetition: np.ndarray
    length: np.ndarray  # int64


FIELDS = tuple(f.name for f in fields(TextStats))


def text_stats(texts: list[str], rep_len: int = REP_LEN) -> TextStats:
    """The four statistics of every text in `texts`."""
    n = len(texts)
    lengths = np.fromiter(map(len, texts), np.int64, n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    codes = _codepoints("".join(texts))
    lowered = [t.lower() for t in texts]  # lowercasing never makes or removes a space, newline or tab
    low_lengths = np.fromiter(map(len, lowered), np.int64, n)
    low_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(low_lengths, out=low_offsets[1:])
    low_codes = _codepoints("".join(lowered))
    alnum, special = _tables()
    out = np.zeros((n, 3), np.float64)
    _stats(codes, offsets, low_codes, low_offsets, alnum, special, rep_len, out)
    return TextStats(out[:, 0], out[:, 1], out[:, 2], lengths)


def _codepoints(text: str) -> np.ndarray:
    # surrogatepass: a lone surrogate is one character to Python's len() and stays one here
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)


@cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """Per code point: str.isalnum(), and membership of Data-Juicer's special characters."""
    alnum = np.fromiter((chr(c).isalnum() for c in range(_UNICODE)), np.bool_, _UNICODE)
    emoji = require("emoji", "the word repetition statistic")
    special = np.zeros(_UNICODE, np.bool_)
    singles = {ch for ch in emoji.EMOJI_DATA if len(ch) == 1}
    for ch in set(string.punctuation + string.digits + string.whitespace + _OTHER_SPECIAL) | singles:
        special[ord(ch)] = True
    return alnum, special


_MIX = np.uint64(0x9E3779B97F4A7C15)
_MUL = np.uint64(0xBF58476D1CE4E5B9)


@numba.njit(cache=True, nogil=True)
def _mix(h, x):
    h = (h ^ x) * _MUL
    return h ^ (h >> np.uint64(31))


@numba.njit(cache=True, nogil=True)
def _windows(values, start, n, width):
    """64-bit hashes of the `n` windows values[start + i : start + i + width]."""
    hashes = np.empty(n, np.uint64)
    for i in range(n):
        h = _MIX
        for j in range(width):
            h = _mix(h, np.uint64(values[start + i + j]) + np.uint64(1))
        hashes[i] = h
    return hashes


@numba.njit(cache=True, nogil=True)
def _counts(hashes):
    """How often each distinct value of `hashes` occurs (sorts `hashes` in place)."""
    hashes.sort()
    counts = np.empty(hashes.shape[0], np.int64)
    distinct, run = 0, 1
    for i in range(1, hashes.shape[0] + 1):
        if i < hashes.shape[0] and hashes[i] == hashes[i - 1]:
            run += 1
        else:
            counts[distinct] = run
            distinct += 1
            run = 1
    return counts[:distinct]


@numba.njit(cache=True, nogil=True)
def _char_repetition(codes, start, stop, rep_len):
    windows = stop - start - rep_len + 1
    if windows <= 0:
        return 0.0
    counts = -np.sort(-_counts(_windows(codes, start, windows, rep_len)))
    distinct = counts.shape[0]
    singles = 0
    for i in range(distinct):
        singles += counts[i] == 1
    top = min(int(math.sqrt(distinct)), distinct - singles)
    return counts[:top].sum() / windows


@numba.njit(cache=True, nogil=True)
def _word_repetition(codes, start, stop, special, rep_len):
    # words: runs between space (32), newline (10) and tab (9), stripped of special characters at both ends
    words = np.empty(stop - start, np.uint64)
    n_words = 0
    i = start
    while i < stop:
        while i < stop and (codes[i] == 32 or codes[i] == 10 or codes[i] == 9):
            i += 1
        begin = i
        while i < stop and not (codes[i] == 32 or codes[i] == 10 or codes[i] == 9):
            i += 1
        end = i
        while begin < end and special[codes[begin]]:
            begin += 1
        while end > begin and special[codes[end - 1]]:
            end -= 1
        if end > begin:
            h = _MIX
            for j in range(begin, end):
                h = _mix(h, np.uint64(codes[j]) + np.uint64(1))
            words[n_words] = _mix(h, np.uint64(end - begin))
            n_words += 1
    grams = n_words - rep_len + 1
    if grams <= 0:
        return 0.0
    counts = _counts(_windows(words, 0, grams, rep_len))
    return counts[counts > 1].sum() / grams


@numba.njit(cache=True, nogil=True, parallel=True)
def _stats(codes, offsets, low_codes, low_offsets, alnum, special, rep_len, out):
    for t in numba.prange(offsets.shape[0] - 1):
        start, stop = offsets[t], offsets[t + 1]
        if stop > start:
            count = 0
            for i in range(start, stop):
                count += alnum[codes[i]]
            out[t, 0] = count / (stop - start)
        out[t, 1] = _char_repetition(codes, start, stop, rep_len)
        out[t, 2] = _word_repetition(low_codes, low_offsets[t], low_offsets[t + 1], special, rep_len)
