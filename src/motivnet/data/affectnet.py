"""AffectNet's official layout: ``Manually_Annotated_Images/`` + ``training.csv`` /
``validation.csv`` (subDirectory_filePath, face_x, face_y, face_width, face_height,
facial_landmarks, expression, valence, arousal).

Images are cropped to the face box; expressions 8 (none), 9 (uncertain) and 10 (non-face)
are left out and counted; valence/arousal are kept as sample metadata.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from ..labels import AFFECTNET8, LabelSet, label_set
from ._build import RecordBuilder
from .dataset import EmotionDataset
from .errors import BadItems

IMAGE_DIR = "Manually_Annotated_Images"
SPLIT_FILES = {"train": "training.csv", "val": "validation.csv"}
COLUMNS = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression", "valence", "arousal")
DROPPED = {8: "none", 9: "uncertain", 10: "non-face"}


def read_affectnet(
    path: str | Path,
    split: str | None = None,
    labels: LabelSet | str = AFFECTNET8,
    skip_bad: bool = False,
    images: str | Path | None = None,
    check_files: bool = True,
) -> EmotionDataset:
    """Read an AffectNet csv (``path`` is the csv, or the root with ``split`` train/val).

    ``labels`` affectnet8 or affectnet7 (drops contempt); ``images`` overrides the image
    folder (default ``<csv dir>/Manually_Annotated_Images``).
    """
    path = Path(path)
    if path.is_dir():
        if split not in SPLIT_FILES:
            raise ValueError(f"{path}: an AffectNet root needs split= one of {list(SPLIT_FILES)}")
        path = path / SPLIT_FILES[split]
    image_root = Path(images) if images else path.parent / IMAGE_DIR
    target = label_set(labels)
    bad = BadItems(skip_bad)
    out = RecordBuilder(target)
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}:1: not an AffectNet csv, missing columns {missing}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            try:
                rel = (row["subDirectory_filePath"] or "").strip()
                box = tuple(float(row[k]) for k in ("face_x", "face_y", "face_width", "face_height"))
                expression = int(row["expression"])
                valence, arousal = float(row["valence"]), float(row["arousal"])
            except (TypeError, ValueError) as e:
                bad.report(where, f"malformed row ({e})")
                continue
            if not rel:
                bad.report(where, "empty subDirectory_filePath")
                continue
            if expression in DROPPED:
                out.exclude(DROPPED[expression])
                continue
            if not 0 <= expression < len(AFFECTNET8):
                bad.report(where, f"unknown expression id {expression} (AffectNet uses 0-10)")
                continue
            if box[2] <= 0 or box[3] <= 0 or not all(math.isfinite(v) for v in box):
                bad.report(where, f"bad face box {box}")
                continue
            file = image_root / rel
            if check_files and not file.is_file():
                bad.report(where, f"image file {file} not found")
                continue
            meta = {"valence": valence, "arousal": arousal, "expression": expression}
            out.add(rel, AFFECTNET8.classes[expression], file, box, meta)
    return EmotionDataset(out.records, target, name=str(path), skipped=bad.messages, excluded=out.excluded)
