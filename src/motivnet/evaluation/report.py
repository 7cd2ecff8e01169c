"""Write an evaluation report folder: ``report.json``, ``report.md``, one confusion-matrix PNG
per result and our model's per-sample predictions (in the predictions-file format).

A report folder is always new: an existing, non-empty ``--out`` gets a suffix (``_1``, ...)."""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

from .. import __version__
from ..fileio import atomic_write
from ..metrics import json_safe
from .markdown import render_markdown
from .outputs import SystemOutputs
from .plots import plot_confusion
from .prediction_files import write_predictions
from .scoring import EvalResult

DEFAULT_ROOT = Path("runs") / "evaluate"
JSON_NAME, MD_NAME = "report.json", "report.md"


def new_report_dir(out: str | os.PathLike | None = None, root: str | os.PathLike = DEFAULT_ROOT) -> Path:
    """Create and return a fresh folder: ``out``, or ``root/<timestamp>``; if that exists and is
    not empty, ``<name>_1``, ``<name>_2``, ... (never an existing report's folder)."""
    base = Path(out) if out is not None else Path(root) / _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if base.is_dir() and not any(base.iterdir()):
        return base
    candidate, n = base, 0
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=False)  # atomic: two runs never share a folder
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}_{n}")


def slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "__".join(parts)).strip("-") or "result"


def write_report(
    directory: str | os.PathLike,
    results: Sequence[EvalResult],
    criteria: dict[str, Any],
    save_outputs: Sequence[SystemOutputs] = (),
    model: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
    command: str = "",
    problems: Sequence[str] = (),
    ece_bins: int | None = None,
) -> dict[str, Path]:
    """Write every file of the report into ``directory`` (from ``new_report_dir``); returns
    {"json": ..., "md": ...}. Each result's ``files`` gets its artefacts' relative names."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for r in results:
        name = f"confusion_{slug(r.system, r.dataset)}.png"
        title = f"{r.system} on {r.dataset} (n={r.scores.n})"
        if r.scores.n and plot_confusion(r.scores, title, out / name) is not None:
            r.files["confusion_png"] = name
    for o in save_outputs:
        name = f"predictions_{slug(o.system, o.dataset)}.csv"
        write_predictions(o, out / name)
        for r in results:
            if (r.system, r.dataset) == (o.system, o.dataset):
                r.files["predictions_csv"] = name
    report = {
        "motivnet_version": __version__,
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
        "model": model,
        "options": dict(options or {}),
        "ece_bins": ece_bins if ece_bins is not None else (results[0].scores.ece_bins if results else None),
        "results": [r.to_dict() for r in results],
        "summary": [r.summary() for r in results],
        "criteria": criteria,
        "problems": list(problems),
    }
    text = json.dumps(json_safe(report), indent=2, default=str) + "\n"
    paths = {"json": out / JSON_NAME, "md": out / MD_NAME}
    atomic_write(paths["json"], lambda p: Path(p).write_text(text, encoding="utf-8"))
    md = render_markdown(json.loads(text))
    atomic_write(paths["md"], lambda p: Path(p).write_text(md, encoding="utf-8"))
    return paths


__all__ = ["DEFAULT_ROOT", "new_report_dir", "slug", "write_report"]
