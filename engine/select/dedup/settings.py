"""The settings of semantic dedup (engine.select.dedup.semantic), apart from its code so that a selection
spec is read and checked without loading torch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

_COUNTS = ("neighbours", "probes", "cluster_rows", "kmeans_iterations", "sample_per_cluster", "chunk_rows")


@dataclass(frozen=True)
class SemanticSettings:
    eps: float = 0.05  # a pair is a duplicate when its cosine is >= 1 - eps
    neighbours: int = 16  # nearest rows looked at per row, inside a cluster
    probes: int = 2  # clusters each row is searched in: its nearest, and the next ones as a guest
    cluster_rows: int = 2000  # mean cluster size aimed at when n_clusters is not given
    n_clusters: int | None = None
    kmeans_iterations: int = 10
    sample_per_cluster: int = 256
    seed: int = 0
    device: str = "auto"  # "auto": the GPU when there is one, else the CPU
    chunk_rows: int = 65536
    spill_dir: str | None = None  # where the float16 spill file goes; the system temp folder by default

    def __post_init__(self):
        if not (isinstance(self.eps, (int, float)) and 0 < self.eps < 1):
            raise ValueError(f"semantic dedup: eps must be in (0, 1), got {self.eps!r}")
        for name in _COUNTS:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"semantic dedup: {name} must be a positive integer, got {value!r}")
        if self.n_clusters is not None and (not isinstance(self.n_clusters, int) or self.n_clusters < 1):
            raise ValueError(
                f"semantic dedup: n_clusters must be a positive integer, got {self.n_clusters!r}"
            )

    def torch_device(self) -> torch.device:
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)
