"""Does the model read the file's source instead of the face? affectnet96 mixes AffectNet crops
with FFHQ faces, and the mix differs by class (85 % of its happy images are FFHQ, 5 % of its fear
images), so a model can score well by recognising FFHQ. From ``motivnet evaluate`` predictions,
print recall per class and source, and the source-balanced accuracy: the accuracy with every
image weighted P(c) P(s) / P(c, s) (``motivnet.train.setup.balance_weights``), as if every source
had the same class mix.

    motivnet evaluate --weights W val=DATA/affectnet96/val --out REPORT
    python benchmarks/source_bias.py REPORT/predictions_model__val.csv --pattern '^[^/]+/(ffhq)_'
"""
from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

import torch

from motivnet.train.setup import balance_weights, sample_sources


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", type=Path, nargs="+", help="predictions CSVs written by motivnet evaluate")
    ap.add_argument("--pattern", default=r"(?:^|/)(ffhq)_[^/]*$", help="regex naming each file's source (data.source_pattern)")
    args = ap.parse_args()
    for path in args.predictions:
        rows = list(csv.DictReader(open(path, newline="")))
        # Score on the classes the targets use, as evaluate does: a 7-class set drops contempt.
        present = {r["target"] for r in rows}
        classes = [k[len("prob_"):] for k in rows[0] if k.startswith("prob_") and k[len("prob_"):] in present]
        rows = [r for r in rows if r["target"] in classes and r.get(f"prob_{classes[0]}", "") != ""]
        sources = sample_sources([r["file"] for r in rows], args.pattern)
        targets = [classes.index(r["target"]) for r in rows]
        hit = [max(classes, key=lambda c: float(r[f"prob_{c}"])) == r["target"] for r in rows]
        weights, _ = balance_weights(targets, sources)
        names = sorted(set(sources))
        tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for t, s, h in zip(targets, sources, hit):
            for key in ((classes[t], s), ("all", s)):
                tally[key][0] += h
                tally[key][1] += 1
        print(f"## {path}\n")
        print("| class | " + " | ".join(f"{s} recall % (n)" for s in names) + " |")
        print("|---|" + "---|" * len(names))
        for c in [*classes, "all"]:
            cells = [f"{100 * tally[c, s][0] / tally[c, s][1]:.1f} ({tally[c, s][1]})" if tally[c, s][1] else "-" for s in names]
            print(f"| {c} | " + " | ".join(cells) + " |")
        plain = 100 * sum(hit) / len(hit)
        balanced = 100 * float((weights * torch.tensor(hit, dtype=torch.float64)).sum() / weights.sum())
        print(f"\naccuracy {plain:.2f} %, source-balanced accuracy {balanced:.2f} % ({len(hit)} images)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
