"""CK+ (the extended Cohn-Kanade set) as distributed: ``cohn-kanade-images/S005/001/*.png``,
one folder of frames per sequence, and ``Emotion/S005/001/S005_001_<frame>_emotion.txt`` for the
sequences that have a validated emotion (a number: 1 anger, 2 contempt, 3 disgust, 4 fear,
5 happy, 6 sadness, 7 surprise). The usual protocol scores the last (peak) frames of those
sequences; ``neutral_first=True`` adds each one's first frame as neutral. Frames are 640x490 with
the whole head, so evaluate them with face detection (``motivnet evaluate --detect``)."""
from __future__ import annotations

from pathlib import Path

from ..labels import LabelSet, label_set
from ._build import IMAGE_EXTENSIONS, RecordBuilder
from .dataset import EmotionDataset, relative_id
from .errors import BadItems

IMAGES, EMOTIONS = "cohn-kanade-images", "Emotion"
CODES = {1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sad", 7: "surprise"}
CKPLUS = LabelSet("ckplus", ("neutral", "anger", "contempt", "disgust", "fear", "happy", "sad", "surprise"))


def is_ckplus_root(root: Path) -> bool:
    return (root / IMAGES).is_dir() and (root / EMOTIONS).is_dir()


def read_ckplus(
    path: str | Path,
    labels: LabelSet | str | None = None,
    peak_frames: int = 1,
    neutral_first: bool = False,
    skip_bad: bool = False,
) -> EmotionDataset:
    """The last ``peak_frames`` frames of every sequence with an emotion file, labelled with it
    (plus its first frame as neutral with ``neutral_first``). Label set: the seven emotions, or
    eight with neutral; sequences without an emotion file are left out by design and counted."""
    root = Path(path)
    if not is_ckplus_root(root):
        raise FileNotFoundError(f"{root}: not a CK+ folder (needs {IMAGES}/ and {EMOTIONS}/)")
    if peak_frames < 1:
        raise ValueError(f"peak_frames must be at least 1, not {peak_frames}")
    classes = CKPLUS.classes if neutral_first else CKPLUS.classes[1:]
    target = label_set(labels) if labels is not None else LabelSet("ckplus", classes)
    bad = BadItems(skip_bad)
    out = RecordBuilder(target)
    for seq in sorted(p for p in (root / IMAGES).glob("*/*") if p.is_dir()):
        label_dir = root / EMOTIONS / seq.relative_to(root / IMAGES)
        label_files = sorted(label_dir.glob("*_emotion.txt")) if label_dir.is_dir() else []
        if not label_files:
            out.exclude("sequence without an emotion label")
            continue
        code = _read_code(label_files[-1], bad)
        if code is None:
            continue
        frames = sorted(p for p in seq.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."))
        if len(frames) < peak_frames + (1 if neutral_first else 0):
            bad.report(str(seq), f"{len(frames)} frames, too few for {peak_frames} peak frame(s)"
                       + (" and a neutral first frame" if neutral_first else ""))
            continue
        meta = {"subject": seq.parent.name, "sequence": seq.name}
        if neutral_first:
            out.add(relative_id(frames[0], root), "neutral", frames[0], meta=meta)
        for frame in frames[-peak_frames:]:
            out.add(relative_id(frame, root), CODES[code], frame, meta=meta)
    return EmotionDataset(out.records, target, name=str(root), skipped=bad.messages, excluded=out.excluded)


def _read_code(file: Path, bad: BadItems) -> int | None:
    text = file.read_text(errors="replace").strip()
    try:
        value = float(text)
    except ValueError:
        bad.report(str(file), f"emotion file holds {text[:30]!r}, not a number")
        return None
    if value != int(value) or int(value) not in CODES:
        bad.report(str(file), f"emotion code {text} is not one of 1-7")
        return None
    return int(value)


__all__ = ["CKPLUS", "is_ckplus_root", "read_ckplus"]
