"""``SystemOutputs``: what any system (our model, or another library through a predictions
file) answered on one dataset, before label mapping and scoring. Both kinds of system go
through the same ``restrict`` -> ``score`` path from here on."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class SystemOutputs:
    """One system's answers on one dataset.

    ``log_probs``: (N, K) float32 log-probabilities over ``classes`` (the system's own label
    set, in its column order); rows of failed samples hold anything (usually NaN).
    ``targets``: (N,) int64 true-class ids into ``dataset_classes``.
    ``failed``: (N,) bool, True where the system gave no answer (no face, unreadable image).
    ``ids``: N sample names (file paths or dataset ids), for per-sample files.
    """

    system: str
    dataset: str
    classes: tuple[str, ...]
    dataset_classes: tuple[str, ...]
    log_probs: torch.Tensor
    targets: torch.Tensor
    failed: torch.Tensor
    ids: list[str]
    source: str = ""  # the dataset path or predictions file it came from
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        n, k = len(self.targets), len(self.classes)
        if self.log_probs.shape != (n, k):
            raise ValueError(f"{self.system} on {self.dataset}: log_probs {tuple(self.log_probs.shape)} != (N={n}, K={k})")
        if self.failed.shape != (n,) or len(self.ids) != n:
            raise ValueError(f"{self.system} on {self.dataset}: failed/ids do not have N={n} entries")

    def __len__(self) -> int:
        return len(self.targets)


__all__ = ["SystemOutputs"]
