"""Detector-independent face types: :class:`Face` and the :class:`FaceDetector` base class."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

__all__ = ["NO_FACE_CHOICES", "Face", "FaceDetector", "MissingBackendError", "as_rgb_uint8", "check_no_face", "detect_or_reason"]

#: What an image without a detected face gives (``no_face=`` of the recognizer and of evaluation):
#: a failure, or the whole image classified as the face (small crops the detector cannot find).
NO_FACE_CHOICES: tuple[str, ...] = ("error", "whole")


def check_no_face(no_face: str) -> str:
    """``no_face`` itself if it is one of ``NO_FACE_CHOICES``; else a ValueError naming it."""
    if no_face not in NO_FACE_CHOICES:
        raise ValueError(f"no_face={no_face!r}: expected one of {', '.join(NO_FACE_CHOICES)}")
    return no_face

#: Landmark row order of :attr:`Face.landmarks`.
LANDMARK_NAMES: tuple[str, ...] = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass
class Face:
    """One detected face, in pixel coordinates of the image given to the detector.

    Attributes:
        box: ``(x1, y1, x2, y2)`` floats, top-left and bottom-right corners; x to the right, y down.
            May reach slightly outside the image for faces cut by its border.
        score: detector confidence in ``[0, 1]``.
        landmarks: float32 array of shape ``(5, 2)`` with ``(x, y)`` rows in the order
            left eye, right eye, nose tip, left mouth corner, right mouth corner — "left"/"right"
            as seen in the image (image-left), i.e. for an upright face the *subject's* right eye
            comes first. The points follow the face, not the image axes: on a face rolled by
            more than 90 degrees the "left eye" is still the same anatomical eye, which lets
            :func:`~motivnet.faces.align_face` undo any roll. ``None`` when the backend gives none.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.box = tuple(float(v) for v in self.box)  # type: ignore[assignment]
        if len(self.box) != 4:
            raise ValueError(f"box must be (x1, y1, x2, y2), got {self.box!r}")
        self.score = float(self.score)
        if self.landmarks is not None:
            lm = np.asarray(self.landmarks, dtype=np.float32)
            if lm.shape != (5, 2):
                raise ValueError(f"landmarks must have shape (5, 2), got {lm.shape}")
            self.landmarks = lm

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        """Box centre ``(x, y)`` in pixels."""
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


class MissingBackendError(ImportError):
    """A detector backend's pip package is not installed (the message names it)."""


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a C-contiguous RGB uint8 array of shape ``(H, W, 3)``.

    Accepts ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA (alpha dropped) and ``(H, W)`` or ``(H, W, 1)``
    greyscale (replicated to 3 channels), all uint8. Other dtypes are refused rather than guessed:
    a float image could be in [0, 1] or [0, 255].
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an image of shape (H, W, 3), got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


class FaceDetector(ABC):
    """Base class of face detectors.

    Subclasses implement :meth:`_detect`; :meth:`detect` validates the input and applies the
    common ``min_score`` / ``max_faces`` policy, so every backend behaves the same way.

    Args:
        min_score: drop faces whose score is below this (in ``[0, 1]``).
        max_faces: keep at most this many faces (the best-scoring ones); ``None`` keeps all.
    """

    #: Registry name of the backend (informative).
    name: str = "base"

    def __init__(self, min_score: float = 0.5, max_faces: int | None = None) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        if max_faces is not None and max_faces < 1:
            raise ValueError(f"max_faces must be >= 1 or None, got {max_faces}")
        self.min_score = float(min_score)
        self.max_faces = max_faces

    def detect(self, image: np.ndarray) -> list[Face]:
        """Find faces in ``image``.

        Args:
            image: RGB uint8 array of shape ``(H, W, 3)`` (greyscale ``(H, W)`` and RGBA are
                converted).

        Returns:
            Faces with ``score >= min_score``, sorted by score (best first), at most ``max_faces``.
        """
        faces = [f for f in self._detect(as_rgb_uint8(image)) if f.score >= self.min_score]
        faces.sort(key=lambda f: f.score, reverse=True)
        return faces if self.max_faces is None else faces[: self.max_faces]

    __call__ = detect

    @abstractmethod
    def _detect(self, image: np.ndarray) -> list[Face]:
        """Backend hook: all faces found in an RGB uint8 ``(H, W, 3)`` C-contiguous image.

        May return faces below ``min_score`` and in any order (:meth:`detect` filters and sorts),
        but should itself honour ``min_score`` when that makes it cheaper.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(min_score={self.min_score}, max_faces={self.max_faces})"


def detect_or_reason(detector: "FaceDetector", image: np.ndarray) -> tuple[list[Face], str | None]:
    """``detector.detect(image)``, or ([], a one-line reason) when it raises: a detector crash on
    one odd image is a failure of that image, never of the batch around it."""
    try:
        return detector.detect(image), None
    except Exception as e:
        return [], f"face detection failed ({type(e).__name__}: {e})"
