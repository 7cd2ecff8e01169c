"""One system on one dataset -> ``EvalResult``: label mapping, then ``motivnet.metrics.score``.
Our model's outputs and other systems' prediction files both come through here."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..metrics import DEFAULT_ECE_BINS, Scores, score
from .labelmap import LabelMapping, restrict
from .outputs import SystemOutputs


@dataclass
class EvalResult:
    system: str
    dataset: str
    source: str
    mapping: LabelMapping
    scores: Scores
    notes: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # artefacts in the report folder (confusion PNG, ...)

    def summary(self) -> dict[str, Any]:
        """The table row: dataset, system, n, failures, dropped and the headline metrics."""
        s = self.scores
        return {
            "system": self.system,
            "dataset": self.dataset,
            "n": s.n,
            "n_failed": s.n_failed,
            "n_dropped": self.mapping.n_dropped,
            "accuracy": s.accuracy,
            "f1_macro": s.f1_macro,
            "auroc_macro": s.auroc_macro,
            "ece": s.ece,
            "confidence": s.confidence,
            "loss": s.loss,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "dataset": self.dataset,
            "source": self.source,
            "mapping": self.mapping.to_dict(),
            "metrics": self.scores.to_dict(),
            "notes": list(self.notes),
            "files": dict(self.files),
        }


def evaluate_outputs(out: SystemOutputs, ece_bins: int = DEFAULT_ECE_BINS) -> EvalResult:
    """Restrict ``out`` to the classes the system and the dataset share, then score it."""
    probs, targets, failed, mapping = restrict(out)
    scores = score(probs, targets, mapping.scored_classes, failed, ece_bins=ece_bins)
    notes = list(out.notes)
    if mapping.n_no_mass:
        notes.append(
            f"{mapping.n_no_mass} samples put all their probability on classes outside the scored set: counted as failures"
        )
    return EvalResult(out.system, out.dataset, out.source, mapping, scores, notes)


__all__ = ["EvalResult", "evaluate_outputs"]
