"""Average the class probabilities of several ``motivnet evaluate`` predictions files of the same
images (several views of one set, e.g. ``framing.py``'s crops, or several models): the test-time
ensemble they would make, written as one predictions file that ``paired_difference.py`` and
``source_bias.py`` read.

    python benchmarks/framing.py --weights W --manifest experiments/default-model/split.json \
        --split val DATA/affectnet96/train --pads "" --crops 0.95,0.9,0.85 --out REPORT
    python benchmarks/average_predictions.py REPORT/predictions_model__split-val*.csv --out avg.csv
    python benchmarks/paired_difference.py REPORT/predictions_model__split-val.csv avg.csv

Files are read and written by evaluate's own code (``read_predictions``, ``write_predictions``).
Images pair up by class folder and name without the suffix (framing.py's copies are .png); the
first file's rows, order, system and dataset are kept; an image a view failed on stays failed. An
image missing from any file stops the script with its name.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from motivnet.evaluation.prediction_files import read_predictions, sample_key, write_predictions


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", type=Path, nargs="+", help="predictions CSVs of the same images")
    ap.add_argument("--out", type=Path, required=True, help="the averaged predictions CSV (must not exist)")
    args = ap.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out}: exists; not overwriting it")
    views = [read_predictions(p)[0] for p in args.predictions]
    first = views[0]
    names = [sample_key(i) for i in first.ids]
    total = torch.zeros(len(names), len(first.classes), dtype=torch.float64)
    failed = first.failed.clone()
    for path, view in zip(args.predictions, views):
        if view.classes != first.classes:
            raise SystemExit(f"{path}: classes {view.classes} differ from {args.predictions[0]}'s {first.classes}")
        row = {sample_key(i): k for k, i in enumerate(view.ids)}
        missing = [n for n in names if n not in row]
        if missing:
            raise SystemExit(f"{path}: has no row for {missing[0]} (+{len(missing) - 1} more)")
        idx = torch.tensor([row[n] for n in names], dtype=torch.long)
        failed |= view.failed[idx]  # a view failed: the image stays failed
        total += view.log_probs[idx].double().exp()
    mean = dataclasses.replace(first, log_probs=(total / len(views)).float().log(), failed=failed)
    write_predictions(mean, args.out)
    print(f"{args.out}: {len(names)} images, the mean of {len(views)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
