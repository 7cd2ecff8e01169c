"""Named label sets and the conversions between them.

Every model and dataset carries a ``LabelSet``; canonical class names are shared across sets
(``anger``, not ``angry``), so converting is a lookup by name.
"""
from __future__ import annotations

from dataclasses import dataclass

# Spellings seen in datasets and other libraries -> our canonical name.
ALIASES: dict[str, str] = {
    "angry": "anger",
    "anger": "anger",
    "happiness": "happy",
    "happy": "happy",
    "joy": "happy",
    "sadness": "sad",
    "sad": "sad",
    "surprised": "surprise",
    "surprise": "surprise",
    "fearful": "fear",
    "fear": "fear",
    "disgusted": "disgust",
    "disgust": "disgust",
    "contempt": "contempt",
    "neutral": "neutral",
}


def canonical(name: str) -> str:
    """The canonical class name for any known spelling; raises ValueError on unknown names."""
    key = name.strip().lower()
    if key not in ALIASES:
        raise ValueError(f"unknown emotion label {name!r}; known: {', '.join(sorted(set(ALIASES)))}")
    return ALIASES[key]


@dataclass(frozen=True)
class LabelSet:
    name: str
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.classes)

    def index(self, label: str) -> int:
        """Class id of a label given by any known spelling."""
        c = canonical(label)
        if c not in self.classes:
            raise ValueError(f"label {label!r} is not in label set {self.name} ({', '.join(self.classes)})")
        return self.classes.index(c)

    def mapping_to(self, other: "LabelSet") -> dict[int, int]:
        """Ids of this set -> ids of ``other``, for the classes both sets have."""
        return {i: other.classes.index(c) for i, c in enumerate(self.classes) if c in other.classes}


# AffectNet's expression ids 0-7.
AFFECTNET8 = LabelSet("affectnet8", ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"))
AFFECTNET7 = LabelSet("affectnet7", AFFECTNET8.classes[:7])
# FER2013's emotion ids 0-6.
FER2013 = LabelSet("fer2013", ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"))

LABEL_SETS: dict[str, LabelSet] = {s.name: s for s in (AFFECTNET8, AFFECTNET7, FER2013)}


def label_set(name_or_classes: str | LabelSet | list[str] | tuple[str, ...]) -> LabelSet:
    """A LabelSet by registry name, or a custom one from a list of class names."""
    if isinstance(name_or_classes, LabelSet):
        return name_or_classes
    if isinstance(name_or_classes, str):
        key = name_or_classes.lower().replace("-", "").replace("_", "")
        if key not in LABEL_SETS:
            raise KeyError(f"unknown label set {name_or_classes!r}; known: {', '.join(LABEL_SETS)}")
        return LABEL_SETS[key]
    classes = tuple(canonical(c) for c in name_or_classes)
    for s in LABEL_SETS.values():
        if s.classes == classes:
            return s
    return LabelSet("custom", classes)


__all__ = ["AFFECTNET7", "AFFECTNET8", "FER2013", "LABEL_SETS", "LabelSet", "canonical", "label_set"]
