"""Prediction files: how other systems' answers (and ours) enter ``motivnet evaluate``.

Format (CSV, UTF-8, one row per image)::

    file,target,prob_<class>,prob_<class>,...[,system][,dataset]
    imgs/0001.jpg,angry,0.02,0.81,0.01,...,fer,fer2013-val
    imgs/0002.jpg,happy,,,,...,fer,fer2013-val        <- the system failed (e.g. no face found)

- ``file``: the image (any string; it names the sample).
- ``target``: the true label, in any spelling ``motivnet.labels`` knows (angry/anger,
  happiness/happy, surprised/surprise, ...).
- ``prob_<class>``: one column per class of the *system*, named in canonical or alias spelling
  (``prob_angry`` = ``prob_anger``); probabilities in [0, 1]. Each row is renormalised over its
  prob columns (to absorb rounding).
- A row whose prob cells are all empty is a failure of the system on that image: it is counted
  (``n_failed``) and scored as wrong; accuracy is over all rows.
- Optional ``system`` and ``dataset`` columns: rows are grouped by them, so one file may hold
  several systems or datasets. ``--system`` / ``--dataset-name`` override them; without either,
  the file's stem names the group. Other columns are ignored.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path, PurePosixPath
from typing import Mapping

import torch

from ..fileio import atomic_write
from ..labels import AFFECTNET8, canonical
from .outputs import SystemOutputs

PROB_PREFIX = "prob_"
REQUIRED = ("file", "target")
# Canonical class order for the classes a file's targets use (every known class is in AFFECTNET8).
CLASS_ORDER = AFFECTNET8.classes


class PredictionFileError(ValueError):
    """A predictions file that does not follow the format; the message starts with ``path:line:``."""


def sample_key(sample: str) -> str:
    """A predictions row's image as class folder and name without the suffix, so that copies in
    another format (``benchmarks/framing.py`` writes .png copies of .jpg images) and files that
    name it by its full path (the peer runners: ``/data/fer2013/val/angry/x.jpg``) pair up."""
    return "/".join(PurePosixPath(sample.replace(os.sep, "/")).with_suffix("").parts[-2:])


def read_predictions(
    path: str | os.PathLike,
    system: str | None = None,
    dataset: str | None = None,
    dataset_classes: Mapping[str, tuple[str, ...]] | None = None,
) -> list[SystemOutputs]:
    """Read a predictions file -> one ``SystemOutputs`` per (system, dataset) group.

    ``dataset_classes`` gives the label set of datasets known by name (e.g. the ones evaluated
    in the same command); other datasets' classes are those their targets use.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = list(reader.fieldnames or [])
        classes, columns = _prob_columns(path, header)
        groups: dict[tuple[str, str], list[tuple[str, str, list[float] | None]]] = {}
        for row in reader:
            where = f"{path}:{reader.line_num}"
            target = _target(where, row.get("target"))
            probs = _probs(where, [row.get(c) for c in columns])
            key = (
                system or (row.get("system") or "").strip() or path.stem,
                dataset or (row.get("dataset") or "").strip() or path.stem,
            )
            groups.setdefault(key, []).append(((row.get("file") or "").strip(), target, probs))
    if not groups:
        raise PredictionFileError(f"{path}:2: no prediction rows")
    known = dict(dataset_classes or {})
    return [_outputs(path, s, d, classes, rows, known.get(d)) for (s, d), rows in groups.items()]


def write_predictions(out: SystemOutputs, path: str | os.PathLike) -> Path:
    """Write ``out`` in the predictions format (failed rows with empty prob cells)."""
    probs = out.log_probs.exp()

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["file", "target", *(PROB_PREFIX + c for c in out.classes), "system", "dataset"])
            for i, sample in enumerate(out.ids):
                row = [""] * len(out.classes) if out.failed[i] else [f"{p:.6g}" for p in probs[i].tolist()]
                w.writerow([sample, out.dataset_classes[int(out.targets[i])], *row, out.system, out.dataset])

    return atomic_write(path, write)


def _prob_columns(path: Path, header: list[str]) -> tuple[tuple[str, ...], list[str]]:
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise PredictionFileError(f"{path}:1: missing columns {missing}; want file,target,prob_<class>,...")
    columns = [h for h in header if h.startswith(PROB_PREFIX)]
    if not columns:
        raise PredictionFileError(f"{path}:1: no prob_<class> columns")
    classes = []
    for h in columns:
        try:
            c = canonical(h[len(PROB_PREFIX):])
        except ValueError as e:
            raise PredictionFileError(f"{path}:1: column {h!r}: {e}") from None
        if c in classes:
            raise PredictionFileError(f"{path}:1: two prob columns for class {c!r}")
        classes.append(c)
    return tuple(classes), columns


def _target(where: str, value: str | None) -> str:
    try:
        return canonical(value or "")
    except ValueError as e:
        raise PredictionFileError(f"{where}: target: {e}") from None


def _probs(where: str, cells: list[str | None]) -> list[float] | None:
    """The row's probabilities renormalised, or None for a failure (every cell empty)."""
    cells = [(c or "").strip() for c in cells]
    if not any(cells):
        return None
    if not all(cells):
        raise PredictionFileError(f"{where}: some prob cells are empty and some are not (all empty = a failure)")
    try:
        values = [float(c) for c in cells]
    except ValueError as e:
        raise PredictionFileError(f"{where}: {e}") from None
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 + 1e-6 for v in values):
        raise PredictionFileError(f"{where}: probabilities must be in [0, 1], got {values} (percentages? divide by 100)")
    total = sum(values)
    if total <= 0:
        raise PredictionFileError(f"{where}: probabilities sum to 0 (leave every cell empty for a failure)")
    return [v / total for v in values]


def _outputs(
    path: Path, system: str, dataset: str, classes: tuple[str, ...],
    rows: list[tuple[str, str, list[float] | None]], declared: tuple[str, ...] | None,
) -> SystemOutputs:
    used = {t for _, t, _ in rows}
    dataset_classes = declared or tuple(c for c in CLASS_ORDER if c in used)
    unknown = used - set(dataset_classes)
    if unknown:
        raise PredictionFileError(f"{path}: targets {sorted(unknown)} are not classes of dataset {dataset} ({', '.join(dataset_classes)})")
    n = len(rows)
    failed = torch.tensor([p is None for _, _, p in rows], dtype=torch.bool)
    probs = torch.tensor([p if p is not None else [float("nan")] * len(classes) for _, _, p in rows], dtype=torch.float32)
    return SystemOutputs(
        system=system,
        dataset=dataset,
        classes=classes,
        dataset_classes=dataset_classes,
        log_probs=probs.reshape(n, len(classes)).log(),  # log(0) = -inf: a class given no probability
        targets=torch.tensor([dataset_classes.index(t) for _, t, _ in rows], dtype=torch.long),
        failed=failed,
        ids=[f for f, _, _ in rows],
        source=str(path),
    )


__all__ = ["PredictionFileError", "read_predictions", "sample_key", "write_predictions"]
