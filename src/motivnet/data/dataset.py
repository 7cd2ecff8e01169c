"""The dataset every format reader produces: records -> (image tensor, label id).

Each item goes through the one preprocessing path: ``decode_image`` -> optional face-box
crop -> optional ``augment`` on the RGB uint8 array -> ``Preprocessor``. Training and
evaluation differ only in whether ``augment`` is set.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..labels import LabelSet, label_set
from ..preprocess import ImageError, Preprocessor, decode_image

# augment(rgb (H, W, 3) uint8, generator) -> rgb (H', W', 3) uint8
Augment = Callable[[np.ndarray, torch.Generator], np.ndarray]


@dataclass(frozen=True)
class Record:
    """One labelled face.

    ``id`` is stable and relative to the dataset root (what split manifests store);
    ``source`` is a file path or an RGB/grey uint8 array; ``box`` is a face box
    (x, y, w, h) in pixels to crop to; ``meta`` holds extras such as valence/arousal.
    """

    id: str
    label: int
    source: Any
    box: tuple[float, float, float, float] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    box_format: str = "xywh"  # "xywh": pixels (x, y, w, h); "yolo": normalised (cx, cy, w, h)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A per-(seed, epoch, sample) seed: augmentation is the same whatever the worker count,
    rank or resume point, so interrupted and uninterrupted runs see identical images."""
    return (((seed & 0xFFFFFFFF) * 1_000_003 + epoch) * 10_000_019 + index) % (2**63 - 1)


class EmotionDataset(Dataset):
    """Labelled face images. ``ds[i]`` -> (image (3, H, W) float32, label id).

    ``labels`` names the id space; ``skipped`` lists bad entries left out (``skip_bad``);
    ``excluded`` counts entries of classes outside ``labels`` that were left out by design.
    """

    def __init__(
        self,
        records: Sequence[Record],
        labels: LabelSet,
        preprocessor: Preprocessor | None = None,
        augment: Augment | None = None,
        name: str = "",
        seed: int = 0,
        skipped: Sequence[str] = (),
        excluded: Mapping[str, int] | None = None,
    ) -> None:
        self.records = list(records)
        self.labels = labels
        self.preprocessor = preprocessor
        self.augment = augment
        self.name = name
        self.seed = seed
        self.epoch = 0
        self.skipped = list(skipped)
        self.excluded = dict(excluded or {})

    def __len__(self) -> int:
        return len(self.records)

    @property
    def targets(self) -> list[int]:
        return [r.label for r in self.records]

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    def class_counts(self) -> dict[str, int]:
        counts = Counter(self.targets)
        return {c: counts.get(i, 0) for i, c in enumerate(self.labels.classes)}

    def meta(self, index: int) -> dict[str, Any]:
        """Extras of one sample (id, label name, valence/arousal where the format has them)."""
        r = self.records[index]
        return {"id": r.id, "label": self.labels.classes[r.label], **r.meta}

    def set_epoch(self, epoch: int) -> None:
        """Augmentations are a function of (seed, epoch, index); call once per epoch."""
        self.epoch = epoch

    def load_rgb(self, index: int) -> np.ndarray:
        """Decoded, face-cropped RGB uint8 (H, W, 3), before augmentation."""
        r = self.records[index]
        name = str(r.source) if isinstance(r.source, (str, os.PathLike)) else r.id
        rgb = decode_image(r.source, name=name)
        if r.box is not None:
            box = yolo_to_xywh(r.box, rgb.shape[1], rgb.shape[0]) if r.box_format == "yolo" else r.box
            rgb = crop_box(rgb, box, name)
        return rgb

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self.preprocessor is None:
            raise RuntimeError(f"dataset {self.name or ''} has no preprocessor; pass preprocessor= when opening it")
        rgb = self.load_rgb(index)
        if self.augment is not None:
            g = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, index))
            rgb = self.augment(rgb, g)
        return self.preprocessor.tensor(rgb), self.records[index].label

    # -- derived datasets (records are shared, never copied) --------------------------------
    def _derive(self, records: Sequence[Record], **changes: Any) -> "EmotionDataset":
        out = EmotionDataset(
            records, self.labels, self.preprocessor, self.augment, self.name, self.seed, self.skipped, self.excluded
        )
        for k, v in changes.items():
            setattr(out, k, v)
        return out

    def subset(self, indices: Sequence[int]) -> "EmotionDataset":
        return self._derive([self.records[i] for i in indices])

    def select_ids(self, ids: Sequence[str]) -> "EmotionDataset":
        """The samples with these ids, in this order; raises naming any id not present."""
        where = {r.id: i for i, r in enumerate(self.records)}
        missing = [i for i in ids if i not in where]
        if missing:
            more = f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""
            raise KeyError(f"{len(missing)} ids not in dataset {self.name}: {', '.join(missing[:5])}{more}")
        return self.subset([where[i] for i in ids])

    def with_transform(
        self, preprocessor: Preprocessor | None = None, augment: Augment | None = None, seed: int | None = None
    ) -> "EmotionDataset":
        """Same samples, another preprocessor / augmentation (None augment = evaluation)."""
        return self._derive(
            self.records,
            preprocessor=preprocessor or self.preprocessor,
            augment=augment,
            seed=self.seed if seed is None else seed,
        )

    def with_labels(self, target: LabelSet | str | Sequence[str]) -> "EmotionDataset":
        """Re-express labels in another set; classes it lacks are dropped and counted in
        ``excluded`` (e.g. contempt when going from affectnet8 to affectnet7)."""
        target = label_set(target)
        mapping = self.labels.mapping_to(target)
        kept, excluded = [], Counter(self.excluded)
        for r in self.records:
            if r.label in mapping:
                kept.append(replace(r, label=mapping[r.label]))
            else:
                excluded[self.labels.classes[r.label]] += 1
        return self._derive(kept, labels=target, excluded=dict(excluded))

    def describe(self) -> str:
        """One line for logs: size, classes, skipped and excluded counts."""
        parts = [f"{self.name or 'dataset'}: {len(self)} images, {self.labels.name} ({len(self.labels)} classes)"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} bad entries skipped")
        if self.excluded:
            parts.append("excluded by label set: " + ", ".join(f"{k} {v}" for k, v in sorted(self.excluded.items())))
        return "; ".join(parts)


def yolo_to_xywh(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    """Normalised (cx, cy, w, h) -> pixel (x, y, w, h)."""
    cx, cy, w, h = box
    return ((cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height)


def crop_box(rgb: np.ndarray, box: Sequence[float], name: str) -> np.ndarray:
    """Crop (x, y, w, h), clipped to the image; raises ImageError if nothing is left."""
    x, y, w, h = (int(round(v)) for v in box)
    if w <= 0 or h <= 0:
        raise ImageError(name, f"face box {tuple(box)} has no area")
    H, W = rgb.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        raise ImageError(name, f"face box {box} lies outside the {W}x{H} image")
    return np.ascontiguousarray(rgb[y0:y1, x0:x1])


def relative_id(path: Path, root: Path) -> str:
    """A POSIX path relative to ``root``: stable across machines for manifests."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


__all__ = ["Augment", "EmotionDataset", "Record", "crop_box", "relative_id", "sample_seed", "yolo_to_xywh"]
