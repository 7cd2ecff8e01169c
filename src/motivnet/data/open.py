"""One entry point for every dataset format, with format auto-detection."""
from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Mapping

from ..labels import LabelSet
from ..preprocess import Preprocessor
from .affectnet import IMAGE_DIR, SPLIT_FILES, read_affectnet
from .ckplus import is_ckplus_root, read_ckplus
from .dataset import Augment, EmotionDataset
from .fer2013 import read_fer2013
from .folders import is_class_folder_root, read_folders
from .jaffe import is_jaffe_folder, read_jaffe
from .json_labels import read_json_labels
from .yolo import find_data_yaml, read_yolo

FORMATS = ("affectnet", "folders", "json", "fer2013", "yolo", "ckplus", "jaffe")
SPLIT_DIRS = {"train": ("train", "training"), "val": ("val", "valid", "validation"), "test": ("test",)}


def detect_format(path: str | os.PathLike, split: str | None = None) -> tuple[str, Path]:
    """(format, path to read) for a file or folder; raises ValueError saying what was seen."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or folder")
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".json":
            return "json", p
        if suffix in (".yaml", ".yml"):
            return "yolo", p
        if suffix == ".csv":
            with open(p, newline="", encoding="utf-8") as f:
                header = next(csv.reader(f), [])
            if "subDirectory_filePath" in header:
                return "affectnet", p
            if "pixels" in header and "emotion" in header:
                return "fer2013", p
            raise ValueError(f"{p}:1: csv header {header} is neither AffectNet's nor FER2013's")
        raise ValueError(f"{p}: cannot tell the dataset format of a {suffix or 'suffix-less'} file")
    if find_data_yaml(p) or ((p / "images").is_dir() and (p / "labels").is_dir()):
        return "yolo", p
    if any((p / f).is_file() for f in SPLIT_FILES.values()) and (p / IMAGE_DIR).is_dir():
        return "affectnet", p
    if (p / "fer2013.csv").is_file():
        return "fer2013", p / "fer2013.csv"
    if is_class_folder_root(p):
        return "folders", p
    if is_ckplus_root(p):
        return "ckplus", p
    if is_jaffe_folder(p):
        return "jaffe", p
    if split is not None:
        for name in SPLIT_DIRS.get(split, (split,)):
            if (p / name).is_dir():
                fmt, sub = detect_format(p / name)
                return fmt, sub
    subs = ", ".join(sorted(c.name for c in p.iterdir())[:10])
    raise ValueError(
        f"{p}: cannot detect the dataset format (contents: {subs}); pass format= one of {FORMATS}"
        + ("" if split else ", or split= to pick a sub-folder")
    )


def open_dataset(
    path: str | os.PathLike,
    format: str = "auto",
    labels: LabelSet | str | None = None,
    split: str | None = None,
    preprocessor: Preprocessor | None = None,
    augment: Augment | None = None,
    skip_bad: bool = False,
    seed: int = 0,
    **options: Any,
) -> EmotionDataset:
    """Open any supported dataset.

    Args:
        path: a folder or file (csv/json/yaml); ``~`` is expanded.
        format: ``auto`` or one of ``affectnet, folders, json, fer2013, yolo, ckplus, jaffe``.
        labels: target label set (name or LabelSet); classes outside it are excluded and
            counted in ``dataset.excluded``. Default: the format's own set.
        split: train/val/test where the format holds several.
        skip_bad: count and skip malformed rows, missing files and unknown labels
            (listed in ``dataset.skipped``) instead of raising ``DataError``.
        options: format-specific (``images=`` for json/affectnet, ``names=`` for yolo,
            ``source_labels=`` for json, ``peak_frames=`` and ``neutral_first=`` for ckplus).
    """
    p = Path(path).expanduser()
    if format == "auto":
        format, p = detect_format(p, split)
    elif format == "folders" and split and not is_class_folder_root(p):
        format, p = detect_format(p, split)
    kw: dict[str, Any] = {"skip_bad": skip_bad, **options}
    if labels is not None:
        kw["labels"] = labels
    if format == "affectnet":
        ds = read_affectnet(p, split=split, **kw)
    elif format == "folders":
        ds = read_folders(p, **kw)
    elif format == "json":
        ds = read_json_labels(p, **kw)
    elif format == "fer2013":
        ds = read_fer2013(p, split=split, **kw)
    elif format == "yolo":
        ds = read_yolo(p, split=split, **kw)
    elif format == "ckplus":
        ds = read_ckplus(p, **kw)
    elif format == "jaffe":
        ds = read_jaffe(p, **kw)
    else:
        raise ValueError(f"unknown dataset format {format!r}; use auto or one of {FORMATS}")
    ds.preprocessor, ds.augment, ds.seed = preprocessor, augment, seed
    return ds


def build_dataset(
    spec: Mapping[str, Any] | str | os.PathLike,
    preprocessor: Preprocessor | None = None,
    augment: Augment | None = None,
    **defaults: Any,
) -> EmotionDataset:
    """A dataset from a config mapping ``{path, format?, split?, labels?, skip_bad?, ...}``
    (or a bare path). Keys in ``spec`` win over ``defaults``."""
    spec = {"path": spec} if isinstance(spec, (str, os.PathLike)) else dict(spec)
    if "path" not in spec:
        raise ValueError(f"dataset spec {spec} has no 'path'")
    merged = {**defaults, **{k: v for k, v in spec.items() if v is not None}}
    return open_dataset(merged.pop("path"), preprocessor=preprocessor, augment=augment, **merged)
