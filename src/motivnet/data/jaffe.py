"""JAFFE as distributed: one flat folder of ``<poser>.<code><n>.<id>.tiff`` files
(e.g. ``KA.AN1.39.tiff``), the expression in the code: AN anger, DI disgust, FE fear, HA happy,
NE neutral, SA sad, SU surprise. The images are 256x256 grey heads with hair and shoulders, so
evaluate them with face detection (``motivnet evaluate --detect``)."""
from __future__ import annotations

import re
from pathlib import Path

from ..labels import LabelSet, label_set
from ._build import IMAGE_EXTENSIONS, RecordBuilder
from .dataset import EmotionDataset, relative_id
from .errors import BadItems

CODES = {"AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happy", "NE": "neutral", "SA": "sad", "SU": "surprise"}
JAFFE = LabelSet("jaffe", ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger"))
NAME = re.compile(r"^(?P<poser>[A-Za-z]{2,3})\.(?P<code>[A-Za-z]{2})\d*\.(?P<id>\d+)$")


def is_jaffe_folder(root: Path) -> bool:
    """True if most image files directly in ``root`` are named the JAFFE way."""
    images = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    return bool(images) and sum(_code(p) is not None for p in images) * 2 > len(images)


def read_jaffe(path: str | Path, labels: LabelSet | str = JAFFE, skip_bad: bool = False) -> EmotionDataset:
    """Every JAFFE-named image in ``path`` (not recursive); other image names are errors (or
    skipped and counted with ``skip_bad``); non-image files (README, .txt ratings) are ignored."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    target = label_set(labels)
    bad = BadItems(skip_bad)
    out = RecordBuilder(target)
    for file in sorted(root.iterdir()):
        if not file.is_file() or file.name.startswith(".") or file.suffix.lower() not in IMAGE_EXTENSIONS:
            continue
        code = _code(file)
        if code is None:
            bad.report(str(file), "not a JAFFE file name (<poser>.<AN|DI|FE|HA|NE|SA|SU><n>.<id>.tiff)")
            continue
        out.add(relative_id(file, root), CODES[code], file, meta={"poser": file.name.split(".")[0]})
    return EmotionDataset(out.records, target, name=str(root), skipped=bad.messages, excluded=out.excluded)


def _code(file: Path) -> str | None:
    m = NAME.match(file.stem)
    code = m["code"].upper() if m else None
    return code if code in CODES else None


__all__ = ["JAFFE", "is_jaffe_folder", "read_jaffe"]
