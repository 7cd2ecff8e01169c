"""Quick scorer for peer prediction CSVs (plain numpy), until/beside ``motivnet evaluate --predictions``.

    python benchmarks/peers/quick_score.py /work/runs/peers/*.csv [--markdown] [--json OUT]

For each CSV (``file,target,prob_<class>,...``): the classes scored are those the peer predicts AND
the dataset has (images whose true label the peer cannot predict -- e.g. contempt for a 7-class
peer -- are left out); the prediction is the argmax over the scored classes, as
``motivnet evaluate`` does (``--peer-argmax``: over all the peer's classes, so e.g. an 8-class
peer's "contempt" on FER2013 counts as wrong); a row with empty prob cells (the peer failed) counts
as wrong.
Reports accuracy and macro F1 over the scored classes, plus images/s from the JSON beside the CSV.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

CANON = {
    "angry": "angry", "anger": "angry",
    "contempt": "contempt",
    "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "fearful": "fear",
    "happy": "happy", "happiness": "happy",
    "neutral": "neutral",
    "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise",
}


def canon(name: str) -> str:
    key = name.strip().lower()
    if key not in CANON:
        raise ValueError(f"unknown class name {name!r}")
    return CANON[key]


def score(path: Path, restrict: bool = True) -> dict:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no rows")
    prob_cols = [c for c in rows[0] if c.startswith("prob_")]
    peer_classes = [canon(c[5:]) for c in prob_cols]
    targets = [canon(r["target"]) for r in rows]
    data_classes = sorted(set(targets))
    scored = [c for c in peer_classes if c in data_classes]
    keep = [i for i, t in enumerate(targets) if t in scored]
    n = len(keep)
    pred: list[str | None] = []
    failed = 0
    choose = [j for j, c in enumerate(peer_classes) if (c in scored or not restrict)]
    for i in keep:
        cells = [rows[i][c] for c in prob_cols]
        if any(v.strip() == "" for v in cells):
            pred.append(None)
            failed += 1
            continue
        p = np.array([float(v) for v in cells])
        j = choose[int(np.argmax(p[choose]))]
        pred.append(peer_classes[j])
    y = [targets[i] for i in keep]
    correct = sum(1 for a, b in zip(y, pred) if a == b)
    f1s = {}
    for c in scored:
        tp = sum(1 for a, b in zip(y, pred) if a == c and b == c)
        fp = sum(1 for a, b in zip(y, pred) if a != c and b == c)
        fn = sum(1 for a, b in zip(y, pred) if a == c and b != c)
        f1s[c] = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
    meta = {}
    js = path.with_suffix(".json")
    if js.exists():
        meta = json.loads(js.read_text())
    system = rows[0].get("system") or meta.get("system") or path.stem
    dataset = rows[0].get("dataset") or meta.get("dataset") or ""
    return {
        "csv": str(path),
        "system": system,
        "dataset": dataset,
        "classes": scored,
        "images": n,
        "excluded": len(rows) - n,
        "failed": failed,
        "accuracy": correct / n if n else float("nan"),
        "macro_f1": float(np.mean(list(f1s.values()))) if f1s else float("nan"),
        "f1": f1s,
        "images_per_s": meta.get("images_per_s"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv", nargs="+", type=Path)
    ap.add_argument("--peer-argmax", action="store_true",
                    help="argmax over all the peer's classes (default: over the scored classes only)")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    ap.add_argument("--json", type=Path, help="also write all results as JSON")
    a = ap.parse_args(argv)
    results = []
    for p in a.csv:
        try:
            results.append(score(p, restrict=not a.peer_argmax))
        except Exception as e:
            print(f"quick_score: {p}: {e}", file=sys.stderr)
    if a.markdown:
        print("| system | dataset | classes | images | failed | accuracy | macro F1 | images/s |")
        print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in results:
        ips = "" if r["images_per_s"] is None else f"{r['images_per_s']:.1f}"
        if a.markdown:
            print(f"| {r['system']} | {r['dataset']} | {len(r['classes'])} | {r['images']} | {r['failed']} "
                  f"| {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {ips} |")
        else:
            print(f"{r['system']:<28} {r['dataset']:<18} classes={len(r['classes'])} n={r['images']:<5} "
                  f"failed={r['failed']:<4} acc={r['accuracy']:.4f} macroF1={r['macro_f1']:.4f} img/s={ips}")
    if a.json:
        a.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
