"""Run a MotivNet model over an ``EmotionDataset`` -> ``SystemOutputs``.

The model is a MotivNet (float32) or any classifier from ``motivnet.backends`` (the CPU fast
path: int8, bf16, torch.compile, onnxruntime), so each switch can be scored for accuracy.
Images go through the dataset's own preprocessing (the model's ``Preprocessor``, no
augmentation); with a ``detector``, each image is first cut to its largest face and aligned the
way ``predict`` does (for datasets of whole frames such as CK+ and JAFFE). An image that cannot
be read (or has no face) is a failure of the system on that sample, scored as wrong, not a crash
of the whole evaluation.
"""
from __future__ import annotations

from typing import Callable, Iterator, Sequence

import numpy as np
import torch

from ..backends import Classifier
from ..data import EmotionDataset
from ..ensemble import Ensemble, as_ensemble
from ..faces import FaceDetector
from ..faces.main_face import NO_FACE, main_face_aligner
from ..labels import label_set
from ..models import MotivNet
from ..preprocess import ImageError
from ..tta import TTA
from .outputs import SystemOutputs

OnError = Callable[[str, str], None]  # (sample id, reason)


def present_classes(dataset: EmotionDataset) -> EmotionDataset:
    """The dataset re-expressed over the classes it actually holds (in its own order).

    A class-folder dataset without a contempt folder opens as affectnet8; its label set
    for scoring must be the 7 classes it has, or the model's contempt output would be kept.
    """
    counts = dataset.class_counts()
    classes = [c for c in dataset.labels.classes if counts[c] > 0]
    if len(classes) == len(dataset.labels) or not classes:
        return dataset
    return dataset.with_labels(label_set(classes))


def interleaved_first(targets: Sequence[int], n: int) -> list[int]:
    """Indices of the first ``n`` samples taking the classes in turn (file order within a
    class), sorted: a quick ``--limit`` run still sees every class."""
    by_class: dict[int, list[int]] = {}
    for i, t in enumerate(targets):
        by_class.setdefault(int(t), []).append(i)
    queues = [iter(v) for _, v in sorted(by_class.items())]
    chosen: list[int] = []
    while queues and len(chosen) < n:
        alive = []
        for q in queues:
            i = next(q, None)
            if i is not None and len(chosen) < n:
                chosen.append(i)
                alive.append(q)
        queues = alive
    return sorted(chosen)


def _batches(
    dataset: EmotionDataset, batch_size: int, on_error: OnError | None
) -> Iterator[tuple[range, list[int], list[torch.Tensor] | None]]:
    """(dataset positions, those readable, per model their crop views (B, C, 3, H, W)) per batch."""
    for start in range(0, len(dataset), batch_size):
        ok, images = [], []
        span = range(start, min(start + batch_size, len(dataset)))
        for i in span:
            try:
                image, _ = dataset[i]
            except (ImageError, OSError) as e:
                if on_error:
                    on_error(dataset.records[i].id, str(getattr(e, "reason", e)))
                continue
            ok.append(i)
            images.append(image)
        yield span, ok, ([torch.stack(parts) for parts in zip(*images)] if images else None)


@torch.inference_mode()
def run_model(
    model: MotivNet | Classifier | Ensemble,
    dataset: EmotionDataset,
    system: str,
    dataset_name: str,
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    tta: TTA | str | None = None,
    present_only: bool = True,
    detector: FaceDetector | None = None,
    no_face: str = "error",
    on_error: OnError | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> SystemOutputs:
    """The model's log-probabilities (N, K) on every sample of ``dataset``.

    ``model``: a MotivNet, run in float32 on ``device``, a ready classifier from
    ``motivnet.backends`` (``load_classifier``/``build_classifier``), which keeps its own device,
    or an ``Ensemble`` (``load_ensemble``): the mean of its members' probabilities.
    ``tta``: test-time augmentation (a ``motivnet.tta`` preset or ``TTA``): each image's
    probabilities are the mean over its views.
    ``present_only``: score on the classes the dataset holds (``present_classes``); False keeps
    its whole label set (one declared with ``labels=``).
    ``detector``: score each image's largest face, detected and aligned (``main_face_aligner``);
    images without one are failures, or (``no_face="whole"``) are scored whole, as they are.
    ``on_error(id, reason)`` is called per unreadable image; ``on_batch(k)`` after each batch.
    """
    ensemble = as_ensemble(model, device)
    labels = ensemble.labels
    if present_only:
        dataset = present_classes(dataset)
    tta = TTA.parse(tta)
    # Every model's crop views from one decode: the dataset yields, per image, one (C, 3, H, W) per model.
    views = ensemble.views(tta)
    augment = main_face_aligner(detector, no_face) if detector is not None else None
    dataset = dataset.with_transform(preprocessor=views, augment=augment)  # type: ignore[arg-type]
    n, k = len(dataset), len(labels)
    log_probs = torch.full((n, k), float("nan"))
    failed = torch.ones(n, dtype=torch.bool)
    for span, idx, images in _batches(dataset, batch_size, on_error):
        if images is not None:
            # The classifier moves the batch to its device and returns float32 logits on the CPU.
            log_probs[idx] = ensemble.log_probs(images, tta.flip)
            failed[idx] = False
        if on_batch:
            on_batch(len(span))
    return SystemOutputs(
        system=system,
        dataset=dataset_name,
        classes=labels,
        dataset_classes=tuple(dataset.labels.classes),
        log_probs=log_probs,
        targets=torch.tensor(dataset.targets, dtype=torch.long),
        failed=failed,
        ids=dataset.ids,
        source=dataset.name,
        notes=([tta.describe()] if tta.views > 1 else [])
        + ([f"ensemble: mean probabilities of {len(ensemble)} models ({', '.join(ensemble.names)})"] if len(ensemble) > 1 else [])
        + ([f"faces detected ({type(detector).__name__}) and aligned: the largest face of each image"
             + ("; an image without one is scored whole, as it is" if no_face == "whole" else "")] if detector else []),
    )


__all__ = ["NO_FACE", "interleaved_first", "main_face_aligner", "present_classes", "run_model"]
