"""The result of recognising one face (or of failing to): what every interface returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaceRecord:
    """One face in one input, or one input that failed (``error`` set, no label).

    ``box`` is (x1, y1, x2, y2) in pixels of the input as displayed (EXIF orientation
    applied); ``probs`` maps every class to its softmax probability; ``topk`` is the k most
    likely (label, probability) pairs, best first.
    """

    file: str
    face: int | None = None
    box: tuple[float, float, float, float] | None = None
    det_score: float | None = None
    label: str | None = None
    confidence: float | None = None
    probs: dict[str, float] = field(default_factory=dict)
    topk: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None
    frame: int | None = None  # for video sources
    time: float | None = None  # seconds into a video
    track: int | None = None  # video: the same face across frames keeps its id (IoU tracking)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "file": self.file,
            "face": self.face,
            "box": [round(v, 1) for v in self.box] if self.box else None,
            "det_score": None if self.det_score is None else round(self.det_score, 4),
            "label": self.label,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "probs": {k: round(v, 4) for k, v in self.probs.items()},
            "topk": [[k, round(v, 4)] for k, v in self.topk],
            "error": self.error,
        }
        if self.frame is not None:  # video only: image records keep their original fields
            d["frame"], d["time"], d["track"] = self.frame, self.time, self.track
        return d


__all__ = ["FaceRecord"]
