"""Render FaceRecords as a table, JSON or CSV, and draw them onto images."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .records import FaceRecord

FORMATS = ("table", "json", "csv")


def to_table(records: Sequence[FaceRecord]) -> str:
    """A fixed-width text table, one line per face or failed input."""
    rows = [("file", "face", "box", "label", "conf", "top-k")]
    for r in records:
        # Video records name their frame: "clip.mp4@12.40s" and the track as the face "t3".
        file = r.file if r.frame is None or r.time is None else f"{r.file}@{r.time:.2f}s"
        if r.error:
            rows.append((file, "-", "-", "ERROR", "-", r.error))
            continue
        box = ",".join(f"{v:.0f}" for v in r.box) if r.box else "-"
        topk = " ".join(f"{k}:{p:.2f}" for k, p in r.topk)
        face = f"t{r.track}" if r.track is not None else str(r.face)
        rows.append((file, face, box, r.label or "-", f"{r.confidence:.2f}", topk))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths)) + "  " + row[-1] for row in rows
    )


def to_json(records: Sequence[FaceRecord]) -> str:
    return json.dumps([r.to_dict() for r in records], indent=2) + "\n"


def to_csv(records: Sequence[FaceRecord], labels: Sequence[str]) -> str:
    """One row per record; a ``prob_<label>`` column per class; top-k as ``a:0.8;b:0.1``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    video = any(r.frame is not None for r in records)
    head = ["file"] + (["frame", "time", "track"] if video else []) + ["face", "x1", "y1", "x2", "y2", "det_score", "label", "confidence"]
    writer.writerow(head + [f"prob_{k}" for k in labels] + ["topk", "error"])
    for r in records:
        d = r.to_dict()
        box = d["box"] or [None] * 4
        row = [r.file] + ([r.frame, d.get("time"), r.track] if video else []) + [r.face, *box, d["det_score"], r.label, d["confidence"]]
        row += [d["probs"].get(k) for k in labels]
        row += [";".join(f"{k}:{p}" for k, p in d["topk"]), r.error]
        writer.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def render(records: Sequence[FaceRecord], fmt: str, labels: Sequence[str]) -> str:
    if fmt == "table":
        return to_table(records) + "\n"
    if fmt == "json":
        return to_json(records)
    if fmt == "csv":
        return to_csv(records, labels)
    raise ValueError(f"unknown output format {fmt!r}; use one of {FORMATS}")


# One colour per canonical class, so a label looks the same in every picture.
COLOURS = {
    "neutral": (200, 200, 200),
    "happy": (255, 200, 0),
    "sad": (60, 110, 255),
    "surprise": (255, 120, 255),
    "fear": (160, 80, 255),
    "disgust": (40, 180, 60),
    "anger": (255, 40, 40),
    "contempt": (255, 140, 0),
}


def draw_records(image: np.ndarray, records: Sequence[FaceRecord]) -> Image.Image:
    """image: RGB uint8 (H, W, 3) -> a copy with each face's box and 'label 0.87' drawn."""
    canvas = Image.fromarray(image).copy()
    draw = ImageDraw.Draw(canvas)
    width = max(2, round(max(canvas.size) / 300))
    font = _font(max(12, round(max(canvas.size) / 40)))
    for r in records:
        if not r.ok or r.box is None:
            continue
        colour = COLOURS.get(r.label or "", (0, 255, 255))
        x1, y1, x2, y2 = r.box
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=width)
        text = f"{r.label} {r.confidence:.2f}"
        tx, ty = x1, max(0.0, y1 - font.size - 2 * width)
        left, top, right, bottom = draw.textbbox((tx, ty), text, font=font)
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=colour)
        draw.text((tx, ty), text, fill=(0, 0, 0), font=font)
    return canvas


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def unique_path(path: Path) -> Path:
    """``path``, or ``stem_1.ext``, ``stem_2.ext``... : the first name not taken, so that
    nothing already on disk is overwritten."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
    return candidate


__all__ = ["FORMATS", "draw_records", "render", "to_csv", "to_json", "to_table", "unique_path"]
