"""Class-folder layout: ``<root>/<label>/<file>``; folder names may be any known spelling
(anger/angry, happiness/happy, ...)."""
from __future__ import annotations

from pathlib import Path

from ..labels import AFFECTNET8, LabelSet, label_set
from ._build import IMAGE_EXTENSIONS, RecordBuilder, known_label
from .dataset import EmotionDataset, relative_id
from .errors import BadItems


def label_folders(root: Path) -> list[Path]:
    """Visible sub-folders of ``root``."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def is_class_folder_root(root: Path) -> bool:
    """True if most sub-folders of ``root`` are emotion names."""
    subs = label_folders(root)
    return bool(subs) and sum(known_label(p.name) is not None for p in subs) * 2 > len(subs)


def default_labels(root: Path) -> LabelSet:
    """affectnet8 if every folder fits it, else the folders' own classes in sorted order."""
    names = sorted({n for p in label_folders(root) if (n := known_label(p.name))})
    return AFFECTNET8 if set(names) <= set(AFFECTNET8.classes) else label_set(names)


def read_folders(
    path: str | Path, labels: LabelSet | str | None = None, skip_bad: bool = False
) -> EmotionDataset:
    """Every image under ``<path>/<label>/`` (recursively). Folders with unknown names and
    non-image files are errors (or skipped and counted with ``skip_bad``)."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    target = label_set(labels) if labels is not None else default_labels(root)
    bad = BadItems(skip_bad)
    out = RecordBuilder(target)
    for folder in label_folders(root):
        name = known_label(folder.name)
        if name is None:
            bad.report(str(folder), f"folder name {folder.name!r} is not a known emotion label")
            continue
        for file in sorted(folder.rglob("*")):
            if file.is_dir() or any(part.startswith(".") for part in file.relative_to(root).parts):
                continue
            if file.suffix.lower() not in IMAGE_EXTENSIONS:
                bad.report(str(file), f"not an image file (extension {file.suffix!r})")
                continue
            out.add(relative_id(file, root), name, file)
    return EmotionDataset(out.records, target, name=str(root), skipped=bad.messages, excluded=out.excluded)
