"""FER2013 csv: ``emotion,pixels,Usage`` with 48x48 grey images as space-separated pixels.

``split`` picks a Usage: train (Training), val (PublicTest) or test (PrivateTest)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..labels import FER2013, LabelSet, label_set
from ._build import RecordBuilder
from .dataset import EmotionDataset
from .errors import BadItems

USAGES = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
SIDE = 48


def read_fer2013(
    path: str | Path, split: str | None = None, labels: LabelSet | str = FER2013, skip_bad: bool = False
) -> EmotionDataset:
    """Every row (of the chosen Usage) as a (48, 48) uint8 array; ids are ``<csv>:<line>``."""
    path = Path(path)
    usage = None
    if split is not None:
        usage = USAGES.get(split, split)
        if usage not in USAGES.values():
            raise ValueError(f"split must be one of {list(USAGES)} (or a Usage value), not {split!r}")
    target = label_set(labels)
    bad = BadItems(skip_bad)
    out = RecordBuilder(target)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        if "emotion" not in fields or "pixels" not in fields:
            raise ValueError(f"{path}:1: not a FER2013 csv, need columns emotion and pixels (got {fields})")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if usage is not None and (row.get("Usage") or "").strip() != usage:
                continue
            try:
                emotion = int(row["emotion"])
                pixels = np.array([int(v) for v in (row["pixels"] or "").split()], dtype=np.int64)
            except (TypeError, ValueError) as e:
                bad.report(where, f"malformed row ({e})")
                continue
            if not 0 <= emotion < len(FER2013):
                bad.report(where, f"unknown emotion id {emotion} (FER2013 uses 0-6)")
                continue
            if pixels.size != SIDE * SIDE or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
                bad.report(where, f"expected {SIDE * SIDE} pixel values in 0-255, got {pixels.size}")
                continue
            image = pixels.astype(np.uint8).reshape(SIDE, SIDE)
            out.add(f"{path.name}:{reader.line_num}", FER2013.classes[emotion], image,
                    meta={"usage": (row.get("Usage") or "").strip()})
    return EmotionDataset(out.records, target, name=str(path), skipped=bad.messages, excluded=out.excluded)
