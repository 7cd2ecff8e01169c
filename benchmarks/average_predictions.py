"""Average the class probabilities of several ``motivnet evaluate`` predictions files of the same
images (several views of one set, e.g. ``framing.py``'s crops, or several models): the test-time
ensemble they would make, written as one predictions file that ``paired_difference.py`` and
``source_bias.py`` read.

    python benchmarks/framing.py --weights W --manifest experiments/default-model/split.json \
        --split val DATA/affectnet96/train --pads "" --crops 0.95,0.9,0.85 --out REPORT
    python benchmarks/average_predictions.py REPORT/predictions_model__split-val*.csv --out avg.csv
    python benchmarks/paired_difference.py REPORT/predictions_model__split-val.csv avg.csv

Images pair up by class folder and name without the suffix (framing.py's copies are .png); the
first file's rows, order and non-probability columns are kept; an image a view failed on stays
failed. An image missing from any file stops the script with its name.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path


def rows_by_name(path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = {str(Path(r["file"]).with_suffix("")): r for r in reader}
        return rows, list(reader.fieldnames or [])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", type=Path, nargs="+", help="predictions CSVs of the same images")
    ap.add_argument("--out", type=Path, required=True, help="the averaged predictions CSV (must not exist)")
    args = ap.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out}: exists; not overwriting it")
    first, columns = rows_by_name(args.predictions[0])
    probs = [c for c in columns if c.startswith("prob_")]
    others = [rows_by_name(p)[0] for p in args.predictions[1:]]
    for path, rows in zip(args.predictions[1:], others):
        missing = sorted(set(first) - set(rows))
        if missing:
            raise SystemExit(f"{path}: has no row for {missing[0]} (+{len(missing) - 1} more)")
    with open(args.out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for name, row in first.items():
            views = [row] + [rows[name] for rows in others]
            if any(v[c] == "" for v in views for c in probs):  # a view failed: the image stays failed
                w.writerow({**row, **{c: "" for c in probs}})
                continue
            mean = {c: sum(float(v[c]) for v in views) / len(views) for c in probs}
            w.writerow({**row, **{c: f"{p:.6f}" for c, p in mean.items()}})
    print(f"{args.out}: {len(first)} images, the mean of {len(args.predictions)} files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
