"""Distillation from a predictions file: a teacher's class probabilities for every training
image (for example the multi-view average of ``benchmarks/average_predictions.py``), mixed with
each image's one-hot label into the soft target that cross-entropy trains on.

The teacher is read once from a ``motivnet evaluate`` predictions CSV, so any system that wrote
one (another model, a test-time ensemble) can teach, and training costs no teacher forward.
"""
from __future__ import annotations

import os
from typing import Sequence

import torch

from ..evaluation.prediction_files import read_predictions, sample_key


def check_weight(weight: float) -> float:
    """The teacher's share of the target must be in (0, 1]."""
    if not 0.0 < float(weight) <= 1.0:
        raise ValueError(f"distill.weight must be in (0, 1], not {weight}")
    return float(weight)


def teacher_probs(path: str | os.PathLike, ids: Sequence[str], classes: Sequence[str]) -> torch.Tensor:
    """The teacher's probabilities (N, K) for the training images ``ids`` over the model's
    ``classes`` (K), from the predictions file at ``path``.

    Rows pair up by class folder and file name without the suffix. Every image must have an
    answer; a missing or failed one, or a class the file lacks, raises naming it."""
    groups = read_predictions(path)
    if len(groups) != 1:
        names = ", ".join(f"{g.system}/{g.dataset}" for g in groups)
        raise ValueError(f"{path}: holds {len(groups)} system/dataset groups ({names}); a teacher file holds one")
    out = groups[0]
    lacking = [c for c in classes if c not in out.classes]
    if lacking:
        raise ValueError(f"{path}: no probability column for class(es) {', '.join(lacking)} (it has {', '.join(out.classes)})")
    where = {sample_key(s): i for i, s in enumerate(out.ids)}
    rows, missing = [], []
    for s in ids:
        r = where.get(sample_key(s))
        if r is None or bool(out.failed[r]):
            missing.append(s)
        rows.append(r if r is not None else 0)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ValueError(f"{path}: no teacher answer for {len(missing)} training image(s): {', '.join(missing[:3])}{more}")
    cols = [out.classes.index(c) for c in classes]
    p = out.log_probs[rows][:, cols].double().exp()
    return (p / p.sum(1, keepdim=True)).float()  # renormalised if the file had extra classes


def soft_targets(labels: torch.Tensor, teacher: torch.Tensor, weight: float) -> torch.Tensor:
    """(B,) class ids and (B, K) teacher probabilities -> (B, K) targets
    ``(1 - weight) * one_hot + weight * teacher``."""
    one_hot = torch.nn.functional.one_hot(labels, teacher.shape[1]).to(teacher.dtype)
    return (1.0 - weight) * one_hot + weight * teacher


__all__ = ["check_weight", "soft_targets", "teacher_probs"]
