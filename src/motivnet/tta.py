"""Test-time augmentation: average the class probabilities of several views of each face.

A view is a centred crop (the fraction of each side kept, on top of the model's own
``crop_pct``), and optionally its mirror image. The named presets are what ``--tta`` takes:

    none        1 view   the image as the model was trained on it
    flip        2 views  the image and its mirror
    crops       4 views  the image and its centred crops of 0.95, 0.9 and 0.85
    crops+flip  8 views  the four crops and their mirrors

Each view costs one more model pass per face; MODEL_CARD.md says what they buy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from .preprocess import ImageLike, Preprocessor, decode_image

CROPS = (1.0, 0.95, 0.9, 0.85)


@dataclass(frozen=True)
class TTA:
    crops: tuple[float, ...] = (1.0,)
    flip: bool = False

    @classmethod
    def parse(cls, name: "str | TTA | None") -> "TTA":
        """A preset name (``none``, ``flip``, ``crops``, ``crops+flip``), a TTA, or None (none)."""
        if isinstance(name, TTA):
            return name
        name = "none" if name is None else name
        if name not in PRESETS:
            raise ValueError(f"unknown test-time augmentation {name!r}; choose one of {', '.join(PRESETS)}")
        return PRESETS[name]

    @property
    def views(self) -> int:
        return len(self.crops) * (2 if self.flip else 1)

    @property
    def name(self) -> str:
        return next((k for k, v in PRESETS.items() if v == self), f"crops {self.crops}" + (" + flip" if self.flip else ""))

    def describe(self) -> str:
        """One line for reports: what was averaged."""
        crops = ", ".join(f"{c:g}" for c in self.crops)
        return (f"test-time augmentation {self.name}: mean probabilities of {self.views} views "
                f"(centred crops {crops}{' and their mirrors' if self.flip else ''})")


PRESETS = {"none": TTA(), "flip": TTA(flip=True), "crops": TTA(CROPS), "crops+flip": TTA(CROPS, flip=True)}


@dataclass
class ViewPreprocessor:
    """A Preprocessor that makes every crop view of each image from one decode:
    one image -> (C, 3, H, W), a list -> (B, C, 3, H, W), C = len(crops)."""

    base: Preprocessor
    crops: tuple[float, ...]

    def tensor(self, image: ImageLike) -> torch.Tensor:
        return self.rgb_views(decode_image(image, self.base.max_pixels))

    def rgb_views(self, arr: np.ndarray) -> torch.Tensor:
        """A decoded RGB uint8 (h, w, 3) array -> its views (C, 3, H, W)."""
        return torch.stack([self.base.rgb_tensor(arr, self.base.crop_pct * c) for c in self.crops])

    def __call__(self, images: Sequence[ImageLike]) -> torch.Tensor:
        return torch.stack([self.tensor(im) for im in images])


def mean_log_probs(classify: Callable[[torch.Tensor], torch.Tensor], views: torch.Tensor, flip: bool) -> torch.Tensor:
    """``classify``: (N, 3, H, W) -> logits (N, K). ``views``: (B, C, 3, H, W) crop views ->
    the log of the mean probabilities (B, K) over the C crops (and their mirrors when ``flip``);
    with one view, exactly its log-softmax.

    One model call per crop (with its mirrors in the same call) keeps memory at 2B images."""
    b = views.shape[0]
    parts = []
    for c in range(views.shape[1]):
        x = views[:, c]
        lp = classify(torch.cat([x, x.flip(-1)]) if flip else x).float().log_softmax(-1)
        parts += [lp[:b], lp[b:]] if flip else [lp]
    # log(mean(p)) in log space: no underflow for confident answers.
    return torch.logsumexp(torch.stack(parts), 0) - math.log(len(parts))


__all__ = ["CROPS", "PRESETS", "TTA", "ViewPreprocessor", "mean_log_probs"]
