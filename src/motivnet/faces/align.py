"""Cut a face out of a photo the way AffectNet's face crops look, rolled upright.

Geometry (all lengths in units of the *face size* F, which is close to the side of the detector's
box; calibrated on the 96x96 AffectNet-val crops, see CALIBRATION below):

* With landmarks: the crop is rotated so the eyes are level (similarity transform from the two eye
  centres). F is estimated from both the eye distance and the eye-to-mouth distance, whichever is
  larger relative to its AffectNet median, because turning the head (yaw) shrinks the first and
  nodding (pitch) the second, while neither grows. The crop centre lies ``_CENTER_BELOW_EYES * F``
  below the eye midpoint along the face's vertical axis.
* Without landmarks: F is the longer side of the box, the crop centre lies
  ``_CENTER_BELOW_BOX * F`` below the box centre, and the crop is not rotated.
* The square crop has side ``F * (1 + 2 * margin)``; the default margin reproduces AffectNet.

Pixels outside the image are filled by edge replication, not a constant: the training crops show
no flat padding bands (of 1,200 AffectNet/FFHQ val crops, the 7% with a near-constant 3-px border
are plain dark or studio backgrounds on inspection; FFHQ itself pads by reflection and blur), and a
replicated border keeps colours and brightness continuous where a flat fill would add a hard
straight edge that a ViT's patch embedding sees as structure.

CALIBRATION. Measured with the default detector (RetinaFace-mnet0.25, box + 5 landmarks) on the
AffectNet-val 96x96 crops of ``/work/shared/data/affectnet96-val.tar``, medians over 1,500 crops of
the AffectNet part (``image*.jpg``), as fractions of the crop side::

    mkdir -p /tmp/data && tar xf /work/shared/data/affectnet96-val.tar -C /tmp/data
    python benchmarks/faces/calibrate_align.py --data /tmp/data --n 1500

    eye midpoint y 0.417 (sd 0.019), x 0.501; eye distance 0.295 (sd 0.038);
    eye-to-mouth 0.321; detector box 0.645 wide x 0.886 high, centre y 0.515; |roll| 3.6 deg
    (the FFHQ part of the archive is looser: eyes y 0.471, eye distance 0.254, box 0.559 x 0.747)

So AffectNet's crops are the detector box grown by only 6.4% of its height on each side, which
gives the constants below. Check, same script: 500 held-out AffectNet crops pasted into photos at
64-200 px, detected, aligned to 96 px and detected again give eye y 0.416 (0.415 when the faces
were rolled by 20 degrees), eye distance 0.300 (0.296), box 0.652 x 0.889 (0.648 x 0.880), |roll|
1.7 (3.2) degrees; the box-only fallback gives eye y 0.413 and box 0.661 x 0.892 but keeps the roll
(|roll| 20.9 degrees on the rolled faces).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from .base import Face, as_rgb_uint8

__all__ = ["AFFECTNET_MARGIN", "align_face", "alignment_matrix", "face_frame"]

# --- calibrated constants (see CALIBRATION in the module docstring) --------------------------
#: Default margin: an AffectNet crop's side is ``F * (1 + 2 * AFFECTNET_MARGIN)``.
AFFECTNET_MARGIN: float = 0.064
#: Median eye distance / F and eye-midpoint-to-mouth-midpoint distance / F in AffectNet crops.
_EYE_DIST: float = 0.336
_EYE_MOUTH: float = 0.366
#: Correction so that the max() of the two estimates is unbiased (median F_landmarks / F_box = 1).
_LM_SCALE: float = 0.972
#: Crop centre below the eye midpoint (landmark path) / below the box centre (box path), in F.
_CENTER_BELOW_EYES: float = 0.094
_CENTER_BELOW_BOX: float = -0.017


def face_frame(face: Face) -> tuple[tuple[float, float], float, float]:
    """Where ``face`` is: ``((cx, cy), F, angle)``.

    ``(cx, cy)`` is the centre of the AffectNet-like crop in image pixels, ``F`` the face size in
    pixels and ``angle`` the roll in radians (the direction from the left to the right eye; 0 when
    the eyes are level or without landmarks).
    """
    lm = face.landmarks
    if lm is not None and np.isfinite(lm).all():
        lm = lm.astype(np.float64)
        left, right = lm[0], lm[1]
        eye_mid = (left + right) / 2
        e2e = right - left
        e2m = (lm[3] + lm[4]) / 2 - eye_mid
        size = _LM_SCALE * max(float(np.hypot(*e2e)) / _EYE_DIST, float(np.hypot(*e2m)) / _EYE_MOUTH)
        if size > 0:
            angle = math.atan2(e2e[1], e2e[0])
            down = np.array([-math.sin(angle), math.cos(angle)])  # eye line turned +90 deg (y is down)
            cx, cy = eye_mid + _CENTER_BELOW_EYES * size * down
            return (float(cx), float(cy)), size, angle
    x1, y1, x2, y2 = face.box
    size = max(x2 - x1, y2 - y1)
    if size <= 0:
        raise ValueError(f"face box {face.box} is empty")
    return ((x1 + x2) / 2, (y1 + y2) / 2 + _CENTER_BELOW_BOX * size), size, 0.0


def _crop_geometry(face: Face, output_size: int | None, margin: float) -> tuple[int, float, np.ndarray]:
    """Output side in pixels, source pixels per output pixel, and the 2x3 matrix mapping output
    coordinates to image coordinates (continuous coordinates: pixel (i, j) covers [j, j+1) x [i, i+1))."""
    if margin <= -0.5:
        raise ValueError(f"margin must be > -0.5, got {margin}")
    (cx, cy), size, angle = face_frame(face)
    side = size * (1 + 2 * margin)
    out = max(1, round(side)) if output_size is None else int(output_size)
    if out < 1:
        raise ValueError(f"output_size must be >= 1, got {output_size}")
    s = side / out
    cos, sin = s * math.cos(angle), s * math.sin(angle)
    half = out / 2
    # image = centre + s * R(angle) @ (output - half): output x runs along the eye line.
    m = np.array([[cos, -sin, cx - cos * half + sin * half], [sin, cos, cy - sin * half - cos * half]])
    return out, s, m


def alignment_matrix(face: Face, output_size: int | None = None, margin: float = AFFECTNET_MARGIN) -> np.ndarray:
    """The 2x3 affine matrix mapping image pixel coordinates to coordinates in
    ``align_face(image, face, output_size, margin)`` (e.g. to draw landmarks on the crop):
    ``crop_xy = M[:, :2] @ image_xy + M[:, 2]``."""
    _, _, m = _crop_geometry(face, output_size, margin)
    inv = np.linalg.inv(np.vstack([m, [0.0, 0.0, 1.0]]))
    return inv[:2]


def align_face(
    image: np.ndarray,
    face: Face,
    output_size: int | None = None,
    margin: float = AFFECTNET_MARGIN,
) -> np.ndarray:
    """Cut an upright, AffectNet-framed square crop of ``face`` out of ``image``.

    Args:
        image: RGB uint8 array ``(H, W, 3)`` (greyscale ``(H, W)`` / RGBA are converted), the image
            the face was detected in.
        face: the face; its landmarks (if any) set rotation and framing, else its box does.
        output_size: side of the returned crop in pixels; ``None`` keeps the face's resolution
            (one crop pixel per image pixel).
        margin: extra context on each side, as a fraction of the face size (about the detector
            box side); the default reproduces the framing of AffectNet's face crops.

    Returns:
        RGB uint8 array ``(output_size, output_size, 3)``; areas outside the image are filled by
        replicating the image's edge pixels.
    """
    image = as_rgb_uint8(image)
    out, s, m = _crop_geometry(face, output_size, margin)
    h, w = image.shape[:2]
    # Only the part of the image under the crop is needed: its bounding box (+3 px for the bicubic
    # kernel), with out-of-image rows/columns clamped to the edge = edge replication.
    corners = m @ np.array([[0, out, 0, out], [0, 0, out, out], [1, 1, 1, 1]], dtype=np.float64)
    x0, y0 = (math.floor(v) - 3 for v in corners.min(axis=1))
    x1, y1 = (math.ceil(v) + 3 for v in corners.max(axis=1))
    rows = np.clip(np.arange(y0, y1), 0, h - 1)
    cols = np.clip(np.arange(x0, x1), 0, w - 1)
    patch = Image.fromarray(image[rows[:, None], cols[None, :]])
    m = m.copy()
    m[:, 2] -= (x0, y0)
    # Shrinking by 2x or more with a bicubic transform alone aliases (it samples, not averages):
    # box-average by an integer factor first, leaving less than 2x to the transform.
    k = int(s) if s >= 2 else 1
    if k > 1:
        patch = patch.reduce(k)
        m /= k
    data = (m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2])
    crop = patch.transform((out, out), Image.Transform.AFFINE, data, resample=Image.Resampling.BICUBIC)
    return np.asarray(crop)
