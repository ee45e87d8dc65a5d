"""`type = "prompt"`, `name = "near_duplicate"`: captions whose text embeddings are near-duplicates, one kept
per group ("prompt:near_duplicate"), by the same grouping as semantic image dedup."""

from __future__ import annotations

from dataclasses import dataclass

from pixsift.engine.select.steps.dedup_semantic import SemanticDedup


@dataclass(frozen=True)
class NearDuplicateCaptions(SemanticDedup, type="prompt", name="near_duplicate"):
    """Captions whose text embeddings are near-duplicates: one kept per group, by `keep_by`."""

    name: str = "prompt:near_duplicate"
    column: str = "text_embedding"
