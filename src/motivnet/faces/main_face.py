"""Each image's largest face, detected and aligned as ``predict`` aligns it: the step that puts
evaluation (``evaluate --detect``) and training (``data.align``) on the view ``predict`` feeds
the model.

The aligner has the dataset's augment signature, ``(rgb (H, W, 3) uint8, generator) -> rgb``,
so it slots in after decoding and before augmentation / preprocessing.
"""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
import torch

from ..preprocess import ImageError
from .align import align_face
from .base import Face, FaceDetector, check_no_face, detect_or_reason

__all__ = ["NO_FACE", "Aligner", "main_face_aligner"]

NO_FACE = "no face found by the detector (scored as a failure)"

Aligner = Callable[[np.ndarray, torch.Generator], np.ndarray]


def _image_key(rgb: np.ndarray) -> tuple[tuple[int, ...], bytes]:
    """Identifies an image by its pixels: the same file decoded twice gives the same key."""
    return rgb.shape, hashlib.blake2b(np.ascontiguousarray(rgb).data, digest_size=16).digest()


def main_face_aligner(detector: FaceDetector, no_face: str = "error", cache: bool = False) -> Aligner:
    """RGB (H, W, 3) -> its largest face, aligned (``align_face``, the face's own resolution).

    No face raises ``ImageError`` (a failure of that sample, not of the run), or with
    ``no_face="whole"`` gives the image as it is, as ``predict --no-face whole`` does; a detector
    crash always raises. ``cache=True`` remembers each image's face by its pixels (a few dozen bytes
    per image), so training detects every image once, not once per epoch; a crash is never cached.
    """
    check_no_face(no_face)
    found: dict[tuple[tuple[int, ...], bytes], Face | None] = {}

    def largest_face(rgb: np.ndarray) -> Face | None:
        key = _image_key(rgb) if cache else None
        if key is not None and key in found:
            return found[key]
        faces, failure = detect_or_reason(detector, rgb)
        if failure:
            raise ImageError("image", failure)
        face = max(faces, key=lambda f: f.width * f.height) if faces else None
        if key is not None:
            found[key] = face
        return face

    def align(rgb: np.ndarray, generator: torch.Generator) -> np.ndarray:
        face = largest_face(rgb)
        if face is None:
            if no_face == "whole":
                return rgb
            raise ImageError("image", NO_FACE)
        return align_face(rgb, face)

    return align
