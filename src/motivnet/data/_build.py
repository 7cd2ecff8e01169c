"""Shared by the format readers: turn raw (id, class name, source) entries into records of
a target label set, counting classes the set lacks instead of failing on them."""
from __future__ import annotations

from collections import Counter
from typing import Any, Mapping

from ..labels import LabelSet, canonical
from ..sources import IMAGE_SUFFIXES
from .dataset import Record

# The files a dataset folder may hold are the ones predict accepts: one list for the package.
IMAGE_EXTENSIONS = IMAGE_SUFFIXES


class RecordBuilder:
    """Collects records for ``target``; a known emotion outside ``target`` is excluded and
    counted (a choice of label set, not an error)."""

    def __init__(self, target: LabelSet) -> None:
        self.target = target
        self.records: list[Record] = []
        self.excluded: Counter[str] = Counter()

    def add(self, id: str, class_name: str, source: Any, box: Any = None, meta: Mapping[str, Any] | None = None,
            box_format: str = "xywh") -> None:
        name = canonical(class_name)  # callers validate; this raises on unknown names
        if name not in self.target.classes:
            self.excluded[name] += 1
            return
        self.records.append(Record(id, self.target.classes.index(name), source, box, dict(meta or {}), box_format))

    def exclude(self, reason: str) -> None:
        """Count an entry dropped by design (e.g. AffectNet's 'uncertain' expression)."""
        self.excluded[reason] += 1


def known_label(name: str) -> str | None:
    """Canonical name, or None if the spelling is not an emotion we know."""
    try:
        return canonical(name)
    except ValueError:
        return None
