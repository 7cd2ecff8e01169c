"""YOLO-format re-distributions of AffectNet: ``images/`` + ``labels/`` (one ``.txt`` per
image, lines ``<class id> cx cy w h`` normalised) and ``data.yaml`` with the class ``names``.

Each label line is one face: the image is cropped to its box (whole-image boxes skip the
crop). Layouts ``<root>/<split>/images`` and ``<root>/images/<split>`` are both found.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import yaml

from ..labels import AFFECTNET8, LabelSet, label_set
from ._build import IMAGE_EXTENSIONS, RecordBuilder, known_label
from .dataset import EmotionDataset, relative_id
from .errors import BadItems

YAML_NAMES = ("data.yaml", "dataset.yaml")
SPLIT_ALIASES = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


def find_data_yaml(root: Path) -> Path | None:
    if root.is_file() and root.suffix in (".yaml", ".yml"):
        return root
    for name in YAML_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def read_yolo(
    path: str | Path,
    split: str | None = None,
    labels: LabelSet | str | None = None,
    names: Sequence[str] | None = None,
    skip_bad: bool = False,
) -> EmotionDataset:
    """Read one split. ``names`` (class id -> name) overrides data.yaml's ``names``."""
    path = Path(path)
    spec = find_data_yaml(path)
    config: dict[str, Any] = {}
    if spec is not None:
        config = yaml.safe_load(spec.read_text(encoding="utf-8")) or {}
        root = spec.parent / str(config.get("path", "") or "")
        if not root.is_dir():
            root = spec.parent
    else:
        root = path
    class_names = list(names) if names is not None else _yaml_names(config, spec)
    if class_names is None:
        raise ValueError(f"{path}: no data.yaml with 'names'; pass names=[...] (class id -> label)")
    unknown = [n for n in class_names if known_label(str(n)) is None]
    if unknown:
        raise ValueError(f"{spec or path}: class names {unknown} are not known emotion labels")
    canon = [known_label(str(n)) for n in class_names]
    target = label_set(labels) if labels is not None else _default_target(canon)
    image_dir = _image_dir(root, config, split)
    label_dir = _label_dir(image_dir)
    bad = BadItems(skip_bad)
    out = RecordBuilder(target)
    for file in sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS):
        txt = label_dir / file.relative_to(image_dir).with_suffix(".txt")
        rel = relative_id(file, root)
        if not txt.is_file():
            bad.report(str(file), f"no label file {txt}")
            continue
        lines = [(n, s) for n, s in enumerate(txt.read_text(encoding="utf-8").splitlines(), 1) if s.strip()]
        if not lines:
            bad.report(str(txt), "empty label file")
            continue
        for k, (lineno, line) in enumerate(lines):
            where = f"{txt}:{lineno}"
            parts = line.split()
            try:
                cls = int(parts[0])
                box = tuple(float(v) for v in parts[1:5])
            except (IndexError, ValueError):
                bad.report(where, f"malformed label line {line!r} (want '<class> cx cy w h')")
                continue
            if not 0 <= cls < len(canon):
                bad.report(where, f"class id {cls} not in names (0-{len(canon) - 1})")
                continue
            if box and (len(box) != 4 or box[2] <= 0 or box[3] <= 0):
                bad.report(where, f"bad box {box}")
                continue
            whole = not box or (box[2] >= 0.999 and box[3] >= 0.999)
            rid = rel if len(lines) == 1 else f"{rel}#{k}"
            out.add(rid, canon[cls], file, None if whole else box, box_format="yolo")
    return EmotionDataset(out.records, target, name=str(image_dir), skipped=bad.messages, excluded=out.excluded)


def _yaml_names(config: dict[str, Any], spec: Path | None) -> list[str] | None:
    names = config.get("names")
    if names is None:
        return None
    if isinstance(names, dict):  # {0: Anger, 1: ...}
        return [str(names[k]) for k in sorted(names, key=int)]
    return [str(n) for n in names]


def _default_target(canon: list[str | None]) -> LabelSet:
    return AFFECTNET8 if set(canon) <= set(AFFECTNET8.classes) else label_set(sorted(set(canon)))  # type: ignore[arg-type]


def _image_dir(root: Path, config: dict[str, Any], split: str | None) -> Path:
    """The images folder of ``split``: from data.yaml, else common layouts."""
    aliases = SPLIT_ALIASES.get(split, (split,)) if split else ()
    for key in aliases:
        if key in config and isinstance(config[key], str):
            p = root / config[key]
            if p.is_dir():
                return p
    candidates = [root / "images"] if not split else []
    for a in aliases:
        candidates += [root / a / "images", root / "images" / a]
    for c in candidates:
        if c.is_dir():
            return c
    raise FileNotFoundError(f"{root}: no images folder for split {split!r} (tried {[str(c) for c in candidates]})")


def _label_dir(image_dir: Path) -> Path:
    """The labels folder paired with an images folder: last 'images' part -> 'labels'."""
    parts = list(image_dir.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    raise ValueError(f"{image_dir}: cannot find the labels folder (no 'images' component in the path)")
