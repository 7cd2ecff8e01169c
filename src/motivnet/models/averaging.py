"""Uniform weight averaging of models fine-tuned from one starting point ("model soup",
Wortsman et al. 2022; timm's ``avg_checkpoints.py``).

Models that share an initialisation and were fine-tuned a little apart usually lie in one basin
of the loss, so the mean of their weights is a single model that often scores like their ensemble
at the cost of one. Whether it does here is measured, not assumed (``tools/average_checkpoints.py``).
"""
from __future__ import annotations

import copy
from typing import Sequence

import torch

from .motivnet import MotivNet


def average_weights(models: Sequence[MotivNet]) -> MotivNet:
    """A new model (the first one's config) whose every floating tensor is the mean of ``models``'.

    Configs must agree on everything but training-only settings (drop-path rate, dropout), and
    integer buffers must be equal; otherwise the models are not one architecture and averaging
    them means nothing, so this raises naming what differs.
    """
    if not models:
        raise ValueError("average_weights needs at least one model")
    first = models[0]
    ref = _architecture(first)
    for i, m in enumerate(models[1:], start=1):
        arch = _architecture(m)
        if arch != ref:
            diff = sorted(k for k in set(ref) | set(arch) if ref.get(k) != arch.get(k))
            raise ValueError(f"model {i} differs from model 0 in {', '.join(diff)}: not averaging different architectures")
    states = [m.state_dict() for m in models]
    out = copy.deepcopy(first)
    merged = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            merged[key] = torch.stack([s[key].float() for s in states]).mean(0).to(value.dtype)
        else:
            if any(not torch.equal(s[key], value) for s in states[1:]):
                raise ValueError(f"{key}: a non-float buffer differs between models; cannot average it")
            merged[key] = value
    out.load_state_dict(merged)
    return out.eval()


def _architecture(model: MotivNet) -> dict:
    """The config as a flat dict, minus the settings that only matter while training."""
    d = model.config.to_dict()
    flat = {}
    for section, value in d.items():
        if isinstance(value, dict):
            for k, v in value.items():
                if k not in ("drop_path_rate", "dropout"):
                    flat[f"{section}.{k}"] = v
        else:
            flat[section] = value
    return flat


__all__ = ["average_weights"]
