"""Face tracks across video frames: greedy IoU matching of boxes between sampled frames.

Enough for the sampled frames of ``motivnet predict video.mp4`` (a few per second): a face that
moves less than about half its size between two samples keeps its track id; a face that
disappears for more than ``max_missed`` samples gets a new id when it comes back.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

Box = tuple[float, float, float, float]  # x1, y1, x2, y2


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 for disjoint or empty boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Track:
    id: int
    box: Box
    missed: int = 0


@dataclass
class IoUTracker:
    """Assigns a stable integer id to each face box, frame after frame.

    ``update(boxes)`` takes the boxes of one frame and returns their track ids, in the same order.
    Matching is greedy by descending IoU (>= ``min_iou``) against each live track's last box.
    """

    min_iou: float = 0.3
    max_missed: int = 5
    _tracks: list[_Track] = field(default_factory=list)
    _next_id: int = 0

    def update(self, boxes: Sequence[Box]) -> list[int]:
        pairs = sorted(
            ((iou(t.box, b), ti, bi) for ti, t in enumerate(self._tracks) for bi, b in enumerate(boxes)),
            reverse=True,
        )
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for score, ti, bi in pairs:
            if score < self.min_iou:
                break
            if ti in used or ids[bi] is not None:
                continue
            used.add(ti)
            track = self._tracks[ti]
            track.box, track.missed, ids[bi] = tuple(boxes[bi]), 0, track.id  # type: ignore[assignment]
        for ti, track in enumerate(self._tracks):
            if ti not in used:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for bi, box in enumerate(boxes):
            if ids[bi] is None:
                ids[bi] = self._next_id
                self._tracks.append(_Track(self._next_id, tuple(box)))  # type: ignore[arg-type]
                self._next_id += 1
        return [int(i) for i in ids]  # type: ignore[arg-type]


__all__ = ["IoUTracker", "iou"]
