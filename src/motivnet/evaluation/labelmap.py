"""Cross-dataset scoring: put a system's outputs and a dataset's labels on the classes both
share.

The system's classes the dataset lacks are removed from its outputs and the rest are
renormalised (softmax over the remaining logits: a log_softmax of the log-probabilities);
samples whose true class the system lacks are dropped and counted. E.g. an AffectNet-8 model
on FER2013-7 loses its contempt logit; on CK+ (contempt, no neutral) its neutral logit.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch

from .outputs import SystemOutputs


@dataclass
class LabelMapping:
    """How one system's classes met one dataset's classes."""

    system_classes: tuple[str, ...]
    dataset_classes: tuple[str, ...]
    scored_classes: tuple[str, ...]  # shared, in the dataset's order
    pairs: list[tuple[int, int]]  # (system id, dataset id) of each scored class
    system_removed: tuple[str, ...]  # system classes the dataset lacks: outputs dropped, rest renormalised
    dataset_missing: tuple[str, ...]  # dataset classes the system lacks: their samples dropped
    n_total: int  # samples before dropping
    dropped: dict[str, int] = field(default_factory=dict)  # dataset class -> samples dropped
    n_no_mass: int = 0  # answered samples with zero probability on every scored class: counted as failed

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    @property
    def identity(self) -> bool:
        """True when nothing was removed or dropped (same classes on both sides)."""
        return not self.system_removed and not self.dataset_missing

    def describe_pairs(self) -> list[str]:
        """'<system id> <name> -> <dataset id> <name>' per scored class."""
        return [
            f"{s} {self.system_classes[s]} -> {d} {self.dataset_classes[d]}" for s, d in self.pairs
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "system_classes": list(self.system_classes),
            "dataset_classes": list(self.dataset_classes),
            "scored_classes": list(self.scored_classes),
            "system_to_dataset": self.describe_pairs(),
            "system_classes_removed": list(self.system_removed),
            "dataset_classes_missing": list(self.dataset_missing),
            "n_total": self.n_total,
            "n_dropped": self.n_dropped,
            "dropped_by_class": dict(self.dropped),
            "n_no_mass": self.n_no_mass,
        }


def restrict(out: SystemOutputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, LabelMapping]:
    """Outputs on the shared classes.

    Returns probs (M, S) renormalised over the S scored classes, targets (M,) ids into the
    scored classes, failed (M,) bool, and the mapping; M = N minus the dropped samples.
    """
    sys_index = {c: i for i, c in enumerate(out.classes)}
    pairs = [(sys_index[c], d) for d, c in enumerate(out.dataset_classes) if c in sys_index]
    if not pairs:
        raise ValueError(
            f"{out.system} ({', '.join(out.classes)}) and dataset {out.dataset} "
            f"({', '.join(out.dataset_classes)}) share no class"
        )
    scored = tuple(out.dataset_classes[d] for _, d in pairs)
    to_scored = {d: j for j, (_, d) in enumerate(pairs)}

    targets = out.targets.long()
    keep = torch.tensor([int(t) in to_scored for t in targets.tolist()], dtype=torch.bool)
    dropped = Counter(out.dataset_classes[int(t)] for t in targets[~keep].tolist())

    log_probs = out.log_probs[keep][:, [s for s, _ in pairs]].float()
    failed = out.failed[keep].bool().clone()
    # A row with no probability left on the scored classes has no answer among them.
    no_mass = ~failed & ~torch.isfinite(log_probs).any(-1)
    failed |= no_mass
    log_probs = torch.where(failed[:, None], torch.zeros_like(log_probs), log_probs)
    probs = log_probs.log_softmax(-1).exp()
    new_targets = torch.tensor([to_scored[int(t)] for t in targets[keep].tolist()], dtype=torch.long)

    mapping = LabelMapping(
        system_classes=tuple(out.classes),
        dataset_classes=tuple(out.dataset_classes),
        scored_classes=scored,
        pairs=pairs,
        system_removed=tuple(c for c in out.classes if c not in out.dataset_classes),
        dataset_missing=tuple(c for c in out.dataset_classes if c not in sys_index),
        n_total=len(out),
        dropped=dict(sorted(dropped.items())),
        n_no_mass=int(no_mass.sum()),
    )
    return probs, new_targets, failed, mapping


@dataclass
class Answers:
    """The samples a system answered among the scored classes (M of them)."""

    ids: list[str]
    predicted: torch.Tensor  # (M,) class ids into ``classes`` (-1: failed, with ``keep_failed``)
    targets: torch.Tensor  # (M,) true class ids into ``classes``
    classes: tuple[str, ...]  # the scored classes


def answered(out: SystemOutputs, keep_failed: bool = False) -> Answers:
    """``restrict``, then only the answered samples: for per-image analyses (source bias, paired
    differences) that leave failures out where evaluate scores them as wrong. ``keep_failed``
    keeps every scored sample instead, a failure with predicted class -1 (wrong, as evaluate scores it)."""
    probs, targets, failed, mapping = restrict(out)
    scored = set(mapping.scored_classes)
    ids = [i for i, t in zip(out.ids, out.targets.tolist()) if out.dataset_classes[t] in scored]
    predicted = probs.argmax(1)
    if keep_failed:
        return Answers(ids, predicted.masked_fill(failed, -1), targets, tuple(mapping.scored_classes))
    ok = ~failed
    return Answers([i for i, a in zip(ids, ok.tolist()) if a], predicted[ok], targets[ok], tuple(mapping.scored_classes))


__all__ = ["Answers", "LabelMapping", "answered", "restrict"]
