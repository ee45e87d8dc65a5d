"""Near-duplicate prompts by MinHash LSH (datasketch): a prompt whose estimated Jaccard similarity of word
3-gram sets with an earlier kept prompt is at least the threshold is a near-duplicate of that prompt.

Words are the lowercased text split on whitespace with punctuation stripped from their ends; a text of fewer
than three words is one shingle of all of them. Prompts are taken in pool order, so which of two duplicates
is kept does not depend on how the pool was written.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

import numpy as np

from pixsift.kernels.optional import require

NUM_PERM = 128
SHINGLE_WORDS = 3
_SEED = 1  # datasketch's default: fixed, so a pool filtered again drops the same rows


def shingles(text: str) -> set[bytes]:
    words = [w.strip(string.punctuation) for w in text.lower().split()]
    words = [w for w in words if w]
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + SHINGLE_WORDS]).encode() for i in range(len(words) - SHINGLE_WORDS + 1)}


PROGRESS_ROWS = 10_000


def near_duplicates(texts: Sequence[str], alive: np.ndarray, threshold: float, progress=None) -> np.ndarray:
    """For each text, the index of the earlier kept text it near-duplicates, else -1; rows not `alive`
    (dropped by an earlier filter) are neither checked nor matched. `progress` (engine.core.progress)
    counts the rows checked, the duplicates as failed."""
    datasketch = require("datasketch", "near-duplicate prompts")
    duplicate_of = np.full(len(texts), -1, np.int64)
    rows = np.flatnonzero(alive)
    hashes = datasketch.MinHash.bulk([shingles(texts[i]) for i in rows], num_perm=NUM_PERM, seed=_SEED)
    lsh = datasketch.MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    kept, reported, found = {}, (0, 0), 0
    for done, (row, minhash) in enumerate(zip(rows.tolist(), hashes, strict=True), 1):
        # LSH finds candidates; the estimated similarity decides (bands also match some below the threshold)
        matches = [m for m in lsh.query(minhash) if kept[m].jaccard(minhash) >= threshold]
        if matches:
            duplicate_of[row] = min(matches)
            found += 1
        else:
            lsh.insert(row, minhash, check_duplication=False)
            kept[row] = minhash
        if progress is not None and (done % PROGRESS_ROWS == 0 or done == len(rows)):
            progress.update(done - reported[0], found - reported[1])
            reported = (done, found)
    return duplicate_of
