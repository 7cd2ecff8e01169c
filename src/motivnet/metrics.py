"""Classification metrics shared by training (per-epoch summary) and ``motivnet evaluate``
(the full report). Every number comes from torchmetrics.

Failures: a sample the system could not answer (no face found, unreadable image) is scored
as wrong. Internally its hard prediction is an extra "no answer" class ``C`` that never
matches a target, so accuracy, precision, recall, F1 and the confusion matrix count it as
an error; its probabilities are uniform (1/C: no information) for AUROC, ECE and loss.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torchmetrics.functional.classification import (
    binary_calibration_error,
    multiclass_accuracy,
    multiclass_auroc,
    multiclass_confusion_matrix,
    multiclass_f1_score,
    multiclass_precision,
    multiclass_recall,
    multiclass_stat_scores,
)

DEFAULT_ECE_BINS = 15
# Floor for log(p) in the loss: a confident miss costs at most -log(1e-12) = 27.6.
PROB_FLOOR = 1e-12


@dataclass
class Scores:
    """Metrics of one system on one dataset over ``classes`` (the scored class space).

    ``confusion[i][j]``: samples of true class i predicted as j; ``failed_per_class[i]``:
    samples of true class i without an answer (not in ``confusion``'s columns).
    """

    classes: tuple[str, ...]
    n: int
    n_failed: int
    accuracy: float  # over all n: failures count as wrong
    precision_macro: float
    recall_macro: float
    f1_macro: float
    auroc_macro: float  # one-vs-rest, over classes with positive and negative samples
    ece: float  # top-label expected calibration error, equal-width bins
    loss: float  # cross-entropy, mean -log p(true class)
    per_class: dict[str, dict[str, Any]] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    failed_per_class: list[int] = field(default_factory=list)
    ece_bins: int = DEFAULT_ECE_BINS
    # Mean top-class probability over all n (failures: 1/C). Below accuracy: under-confident.
    confidence: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        return json_safe(d)


def score(
    probs: torch.Tensor,
    targets: torch.Tensor,
    classes: Sequence[str] | int,
    failed: torch.Tensor | None = None,
    ece_bins: int = DEFAULT_ECE_BINS,
) -> Scores:
    """Score probabilities against true labels.

    Args:
        probs: (N, C) float, each row a distribution over ``classes`` (rows of failed
            samples are ignored).
        targets: (N,) int class ids in [0, C).
        classes: the C class names, or C.
        failed: (N,) bool, True where the system gave no answer; scored as wrong.
        ece_bins: equal-width confidence bins for the ECE.
    """
    names = tuple(str(i) for i in range(classes)) if isinstance(classes, int) else tuple(classes)
    n, c = len(targets), len(names)
    if probs.ndim != 2 or probs.shape != (n, c):
        raise ValueError(f"probs must be (N={n}, C={c}), got {tuple(probs.shape)}")
    failed = torch.zeros(n, dtype=torch.bool) if failed is None else failed.bool().cpu()
    if n == 0:
        nan = float("nan")
        return Scores(names, 0, 0, nan, nan, nan, nan, nan, nan, nan, {}, [[0] * c for _ in range(c)], [0] * c, ece_bins)
    targets = targets.long().cpu()
    probs = probs.detach().float().cpu().clone()
    probs[failed] = 1.0 / c
    preds = probs.argmax(-1)
    preds[failed] = c  # the "no answer" class: never equal to a target
    k = c + 1  # hard metrics run over C + 1 classes; only the first C are reported

    stats = multiclass_stat_scores(preds, targets, k, average=None)  # (k, 5): tp, fp, tn, fn, support
    seen = (stats[:c, 0] + stats[:c, 1] + stats[:c, 3]) > 0  # torchmetrics' macro skips unseen classes
    precision = multiclass_precision(preds, targets, k, average=None)[:c]
    recall = multiclass_recall(preds, targets, k, average=None)[:c]
    f1 = multiclass_f1_score(preds, targets, k, average=None)[:c]
    support = stats[:c, 4]
    auroc = _auroc_per_class(probs, targets, c)
    auroc_ok = (support > 0) & (support < n)  # one-vs-rest needs both positives and negatives
    cm = multiclass_confusion_matrix(preds, targets, k)[:c]  # (C, C+1): last column = no answer
    correct = (preds == targets).long()
    # Top-label ECE on (confidence, correct): the quantity MulticlassCalibrationError computes, but
    # with "correct" from our predictions, so a failure is wrong even when 1/C ties pick its class.
    top = probs.max(-1).values
    ece = binary_calibration_error(top, correct, n_bins=ece_bins, norm="l1")
    loss = F.nll_loss(probs.clamp_min(PROB_FLOOR).log(), targets)

    per_class = {
        name: {
            "support": int(support[i]),
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "auroc": float(auroc[i]) if auroc_ok[i] else None,
            "failed": int(cm[i, c]),
        }
        for i, name in enumerate(names)
    }
    return Scores(
        classes=names,
        n=n,
        n_failed=int(failed.sum()),
        accuracy=float(multiclass_accuracy(preds, targets, k, average="micro")),
        precision_macro=_mean(precision, seen),
        recall_macro=_mean(recall, seen),
        f1_macro=_mean(f1, seen),
        auroc_macro=_mean(auroc, auroc_ok),
        ece=float(ece),
        loss=float(loss),
        per_class=per_class,
        confusion=cm[:, :c].tolist(),
        failed_per_class=cm[:, c].tolist(),
        ece_bins=ece_bins,
        confidence=float(top.mean()),
    )


def classification_metrics(logits: torch.Tensor, targets: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Per-epoch summary: logits (N, C) float, targets (N,) int -> loss (plain CE on the
    logits), accuracy, macro AUROC, macro F1."""
    if logits.numel() == 0:
        return {"loss": float("nan"), "acc": float("nan"), "auroc": float("nan"), "f1": float("nan")}
    logits, targets = logits.float(), targets.long()
    s = score(logits.softmax(-1), targets, num_classes)
    return {
        "loss": float(F.cross_entropy(logits, targets)),
        "acc": s.accuracy,
        "auroc": s.auroc_macro,
        "f1": s.f1_macro,
    }


def _auroc_per_class(probs: torch.Tensor, targets: torch.Tensor, c: int) -> torch.Tensor:
    """(C,) one-vs-rest AUROC; entries for classes without positives are meaningless (masked by callers)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*positive samples.*")
        warnings.filterwarnings("ignore", message=".*negative samples.*")
        return multiclass_auroc(probs, targets, c, average=None)


def _mean(values: torch.Tensor, mask: torch.Tensor) -> float:
    return float(values[mask].mean()) if bool(mask.any()) else float("nan")


def json_safe(x: Any) -> Any:
    """NaN/inf -> None, recursively: JSON has no NaN."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    return x


__all__ = ["DEFAULT_ECE_BINS", "Scores", "classification_metrics", "json_safe", "score"]
