"""The Python API: ``motivnet.load(...)`` -> ``EmotionRecognizer.predict(images)`` -> FaceRecords.

Pipeline per input: decode -> detect faces -> align each face (eyes level, AffectNet-like
margin) -> preprocess -> classify in batches. With ``detect=False`` the whole image is one face;
with ``no_face="whole"``, so is an image in which the detector finds none (e.g. a small crop).
"""
from __future__ import annotations

import os
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from .backends import Classifier, InferenceOptions, TorchClassifier
from .bundled import BUNDLED_DIR, DEFAULT_NAME, NoDefaultModelError, default_weights, resolve_weights
from .ensemble import Ensemble, as_ensemble, is_ensemble, load_ensemble
from .faces import NO_FACE_CHOICES, FaceDetector, align_face, check_no_face, detect_or_reason, get_detector
from .models import MotivNet
from .preprocess import DEFAULT_MAX_PIXELS, ImageError, ImageLike, decode_image
from .records import FaceRecord
from .tta import TTA

DEFAULT_WEIGHTS_DIR = BUNDLED_DIR / DEFAULT_NAME
#: The error of an input in which the detector found no face (video frames without one are skipped).
NO_FACE = "no face found (for pre-cropped faces use --no-face whole or --no-detect)"


def load_model(weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> MotivNet:
    """A MotivNet from our folder format or from any checkpoint ``motivnet convert`` reads."""
    path = resolve_weights(weights)
    if is_ensemble(path):
        raise ValueError(f"{path}: an ensemble of several models; load it with motivnet.load (or ensemble.load_ensemble)")
    if path.is_dir() and (path / "config.json").is_file():
        model = MotivNet.from_pretrained(path)
    else:
        from .checkpoints import import_checkpoint  # heavier import, only for foreign formats

        result = import_checkpoint(path)
        if result.fresh_decoder:
            # No silent random weights: an encoder-only checkpoint has no emotion head.
            raise ValueError(
                f"{path}: this {result.kind} checkpoint has no emotion head, so its predictions would be "
                "random; train one first (motivnet train --set model.init_from=FOLDER after motivnet convert)"
            )
        model = result.model
    return model.to(device).eval()


class EmotionRecognizer:
    """A classifier (a MotivNet on the torch fast path, or an ONNX file on onnxruntime) or an
    ensemble of them, a face detector and the preprocessing that each model was trained with."""

    def __init__(
        self,
        model: MotivNet | Classifier | Ensemble,
        detector: FaceDetector | str | None = "auto",
        device: str | torch.device = "cpu",
        batch_size: int = 32,
        topk: int = 3,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        options: InferenceOptions | None = None,
        tta: TTA | str | None = None,
        tta_flip: bool = False,
        no_face: str = "error",
    ) -> None:
        """``model``: a MotivNet (run by ``TorchClassifier`` with ``options``: bf16, int8, compile,
        threads), a ready classifier from ``motivnet.backends`` (e.g. ``OnnxClassifier``) or a
        ``motivnet.ensemble.Ensemble`` (each face: the mean of its members' probabilities).
        ``tta``: test-time augmentation, a ``motivnet.tta`` preset (``flip``, ``crops``,
        ``crops+flip``) or a ``TTA``: each face's probabilities are the mean over its views (one
        model pass per view; see MODEL_CARD.md for what they buy). ``tta_flip=True`` is ``tta="flip"``.
        ``no_face``: an image in which the detector finds no face gives an ``error`` record
        (``"error"``) or is classified whole (``"whole"``: one record with the whole image as its
        box and ``det_score`` None), which suits folders of face crops too small to detect in."""
        check_no_face(no_face)
        if tta_flip and tta not in (None, "none", "flip"):
            raise ValueError(f"tta_flip=True and tta={tta!r} contradict each other; give one")
        self.device = torch.device(device)
        if isinstance(model, MotivNet):
            model = TorchClassifier(model, options, self.device)
        elif options is not None:
            raise ValueError("options apply to a MotivNet; a ready classifier already has its own")
        self.ensemble = as_ensemble(model)
        # The first (usually only) member, and the torch module that runs it (quantised/compiled
        # as asked; None for onnxruntime).
        self.classifier: Classifier = self.ensemble.classifiers[0]
        self.model: torch.nn.Module | None = getattr(self.classifier, "model", None)
        self.config = self.ensemble.config
        self.detector = get_detector() if detector == "auto" else get_detector(detector) if isinstance(detector, str) else detector
        self.batch_size = batch_size
        self.no_face = no_face
        self.topk = min(topk, len(self.config.labels))
        self.tta = TTA.parse("flip" if tta_flip else tta)
        self.views = self.ensemble.views(self.tta, max_pixels)
        # The first member's plain preprocessing (RGB crops -> (B, 3, H, W)), e.g. for benchmarks.
        self.preprocess = self.views.members[0].base

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    @torch.inference_mode()
    def classify(self, crops: Sequence[np.ndarray]) -> torch.Tensor:
        """Face crops, RGB uint8 (h, w, 3) of any size -> probabilities (N, num_classes)."""
        out = []
        for i in range(0, len(crops), self.batch_size):
            views = self.views(crops[i : i + self.batch_size])  # per member (B, C, 3, H, W), C crop views
            out.append(self.ensemble.log_probs(views, self.tta.flip).exp())
        return torch.cat(out) if out else torch.empty(0, len(self.labels))

    def predict(
        self, images: ImageLike | Sequence[ImageLike], detect: bool | None = None, no_face: str | None = None
    ) -> list[FaceRecord]:
        """Images (paths, bytes, PIL images, arrays) -> one record per face, or per failed input.
        ``detect``/``no_face`` None: the recognizer's own settings."""
        if isinstance(images, (str, os.PathLike, bytes, np.ndarray, torch.Tensor)) or not isinstance(images, Sequence):
            images = [images]  # type: ignore[list-item]
        named = [(_name(im, i), im) for i, im in enumerate(images)]  # type: ignore[arg-type]
        return [r for recs in self.iter_predict(named, detect, no_face) for r in recs]

    def iter_predict(
        self, inputs: Iterable[tuple[str, ImageLike]], detect: bool | None = None, no_face: str | None = None
    ) -> Iterator[list[FaceRecord]]:
        """(name, image) pairs -> the records of each input, in order, classified in batches."""
        detect = self.detector is not None if detect is None else detect
        if detect and self.detector is None:
            raise ValueError("detect=True needs a face detector; this recognizer has none")
        no_face = self.no_face if no_face is None else check_no_face(no_face)
        chunk: list[tuple[str, ImageLike]] = []
        for item in inputs:
            chunk.append(item)
            if len(chunk) == self.batch_size:
                yield from self._run_chunk(chunk, detect, no_face)
                chunk = []
        if chunk:
            yield from self._run_chunk(chunk, detect, no_face)

    def _run_chunk(self, chunk: list[tuple[str, ImageLike]], detect: bool, no_face: str) -> Iterator[list[FaceRecord]]:
        per_input: list[list[FaceRecord]] = []
        crops: list[np.ndarray] = []
        for name, image in chunk:
            records, faces = self._faces(name, image, detect, no_face)
            per_input.append(records)
            crops += faces
        probs = self.classify(crops)
        pending = iter(probs)
        for records in per_input:
            for r in records:
                if r.ok:
                    self._fill(r, next(pending))
            yield records

    def _faces(self, name: str, image: ImageLike, detect: bool, no_face: str) -> tuple[list[FaceRecord], list[np.ndarray]]:
        """Decode and detect one input -> its records (labels still empty) and face crops."""
        try:
            rgb = decode_image(image, self.preprocess.max_pixels, name=name)
        except ImageError as e:
            return [FaceRecord(file=name, error=e.reason)], []
        h, w = rgb.shape[:2]
        whole = [FaceRecord(file=name, face=0, box=(0.0, 0.0, float(w), float(h)))], [rgb]
        if not detect:
            return whole
        faces, failure = detect_or_reason(self.detector, rgb)  # type: ignore[arg-type]
        if failure:  # a detector crash stays an error: "whole" is for images without a face
            return [FaceRecord(file=name, error=failure)], []
        if not faces:
            return whole if no_face == "whole" else ([FaceRecord(file=name, error=NO_FACE)], [])
        records = [FaceRecord(file=name, face=i, box=tuple(map(float, f.box)), det_score=float(f.score)) for i, f in enumerate(faces)]  # type: ignore[arg-type]
        return records, [align_face(rgb, f) for f in faces]

    def _fill(self, record: FaceRecord, probs: torch.Tensor) -> None:
        values = probs.tolist()
        record.probs = dict(zip(self.labels, values))
        top = probs.topk(self.topk)
        record.topk = [(self.labels[i], float(p)) for p, i in zip(top.values.tolist(), top.indices.tolist())]
        record.label, record.confidence = record.topk[0]


def _name(image: object, index: int) -> str:
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    return f"<{type(image).__name__} #{index}>"


def load(
    weights: str | os.PathLike | None = None,
    detector: FaceDetector | str | None = "auto",
    device: str | torch.device = "cpu",
    backend: str = "torch",
    bf16: bool = False,
    int8: bool = False,
    compile: bool = False,
    threads: int | None = None,
    **kwargs: object,
) -> EmotionRecognizer:
    """A ready recognizer. ``weights``: a MotivNet folder, any checkpoint that ``motivnet convert``
    reads, (``backend="onnx"``) an ``.onnx`` file from ``motivnet export``, an ensemble folder
    (``motivnet.ensemble``), or the name of a bundled model (None: the bundled default model). ``detector=None`` classifies whole images (pre-cropped faces);
    ``no_face="whole"`` (passed on to ``EmotionRecognizer`` with the other keywords) only those without a detected face.

    CPU fast path (see ``motivnet.backends.InferenceOptions``): ``bf16``, a bfloat16 copy of the
    model (fast only on CPUs with native bf16), ``int8`` dynamic quantisation of the Linear layers,
    ``compile`` with torch.compile (torch backend), ``threads``. ``backend="onnx"`` runs on onnxruntime."""
    options = InferenceOptions(bf16=bf16, int8=int8, compile=compile, threads=threads)
    ensemble = load_ensemble(weights, backend, options, device)
    return EmotionRecognizer(ensemble, detector=detector, device=device, **kwargs)  # type: ignore[arg-type]


__all__ = ["NO_FACE", "NO_FACE_CHOICES", "EmotionRecognizer", "NoDefaultModelError", "default_weights", "load", "load_model"]
