"""Batch mixing for training: mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019), as timm's
``Mixup`` does them. Each batch is mixed with itself reversed, so no extra images are loaded, and the
targets become the matching (B, K) mix of the two images' targets.

The draws come from a generator seeded per batch, so a resumed run mixes exactly as an unbroken one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class MixConfig:
    """``mixup_alpha`` / ``cutmix_alpha``: Beta(alpha, alpha) concentration of the mixing weight,
    0 turns that kind off; with both on, a batch is CutMix with probability ``switch_prob``.
    ``prob``: the share of batches mixed at all."""

    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    prob: float = 1.0
    switch_prob: float = 0.5

    @property
    def active(self) -> bool:
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)

    def validate(self) -> MixConfig:
        if self.mixup_alpha < 0 or self.cutmix_alpha < 0:
            raise ValueError(f"mix.mixup_alpha and mix.cutmix_alpha must be >= 0, not {self.mixup_alpha}, {self.cutmix_alpha}")
        for name in ("prob", "switch_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"mix.{name} must be in [0, 1], not {getattr(self, name)}")
        return self


def cutmix_box(h: int, w: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A (top, bottom, left, right) box of about (1 - lam) of an h x w image, centred anywhere,
    clipped to the image (so its real area may be smaller)."""
    ratio = math.sqrt(1.0 - lam)
    ch, cw = int(h * ratio), int(w * ratio)
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    return max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)


def mix_batch(x: torch.Tensor, target: torch.Tensor, num_classes: int, cfg: MixConfig,
              seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix one batch with its reverse.

    x: (B, 3, H, W) images; target: (B,) class ids or (B, K) soft targets.
    Returns new (B, 3, H, W) images and (B, K) float targets; x itself is not modified. A batch
    left unmixed (``prob``) still gets its targets as (B, K), so the loss sees one kind."""
    soft = target.float() if target.ndim == 2 else torch.nn.functional.one_hot(target, num_classes).float()
    rng = np.random.default_rng(seed)
    if not cfg.active or rng.random() >= cfg.prob or len(x) < 2:
        return x, soft
    use_cutmix = cfg.cutmix_alpha > 0 and (cfg.mixup_alpha <= 0 or rng.random() < cfg.switch_prob)
    alpha = cfg.cutmix_alpha if use_cutmix else cfg.mixup_alpha
    lam = float(rng.beta(alpha, alpha))
    other = x.flip(0)
    if use_cutmix:
        h, w = x.shape[-2:]
        top, bottom, left, right = cutmix_box(h, w, lam, rng)
        out = x.clone()
        out[..., top:bottom, left:right] = other[..., top:bottom, left:right]
        lam = 1.0 - (bottom - top) * (right - left) / float(h * w)  # the pasted box's real share
    else:
        out = x * lam + other * (1.0 - lam)
    return out, soft * lam + soft.flip(0) * (1.0 - lam)


__all__ = ["MixConfig", "cutmix_box", "mix_batch"]
