"""The MotivNet authors' JSON label files: ``{"<class id>": [file, ...]}`` beside an image
folder. Class ids are AffectNet's (0 neutral ... 7 contempt) unless ``source_labels`` says
otherwise; keys may also be class names."""
from __future__ import annotations

import json
from pathlib import Path

from ..labels import AFFECTNET8, LabelSet, label_set
from ._build import RecordBuilder, known_label
from .dataset import EmotionDataset, relative_id
from .errors import BadItems


def read_json_labels(
    path: str | Path,
    images: str | Path | None = None,
    labels: LabelSet | str | None = None,
    source_labels: LabelSet | str = AFFECTNET8,
    skip_bad: bool = False,
    check_files: bool = True,
) -> EmotionDataset:
    """Read a label JSON; files resolve against ``images`` (default: the JSON's folder)."""
    path = Path(path)
    root = Path(images) if images else path.parent
    source = label_set(source_labels)
    target = label_set(labels) if labels is not None else source
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object {{\"<class id>\": [file, ...]}}, got {type(data).__name__}")
    bad = BadItems(skip_bad)
    out = RecordBuilder(target)
    for key, files in data.items():
        where = f"{path}: key {key!r}"
        name = _class_name(key, source)
        if name is None:
            bad.report(where, f"unknown class {key!r} (ids 0-{len(source) - 1} of {source.name}, or a label name)")
            continue
        if not isinstance(files, list):
            bad.report(where, f"expected a list of files, got {type(files).__name__}")
            continue
        for i, rel in enumerate(files):
            if not isinstance(rel, str) or not rel:
                bad.report(f"{where}[{i}]", f"not a file name: {rel!r}")
                continue
            file = root / rel
            if check_files and not file.is_file():
                bad.report(f"{where}[{i}]", f"image file {file} not found")
                continue
            out.add(relative_id(file, root), name, file)
    return EmotionDataset(out.records, target, name=str(path), skipped=bad.messages, excluded=out.excluded)


def _class_name(key: str, source: LabelSet) -> str | None:
    k = str(key).strip()
    if k.lstrip("-").isdigit():
        i = int(k)
        return source.classes[i] if 0 <= i < len(source) else None
    return known_label(k)
