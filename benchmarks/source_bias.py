"""Does the model read the file's source instead of the face? affectnet96 mixes AffectNet crops
with FFHQ faces, and the mix differs by class (85 % of its happy images are FFHQ, 5 % of its fear
images), so a model can score well by recognising FFHQ. From ``motivnet evaluate`` predictions,
print recall per class and source, and the source-balanced accuracy: the accuracy with every
image weighted P(c) P(s) / P(c, s) (``motivnet.train.setup.balance_weights``), as if every source
had the same class mix.

    motivnet evaluate --weights W val=DATA/affectnet96/val --out REPORT
    python benchmarks/source_bias.py REPORT/predictions_model__val.csv

Files are read and put on the classes their targets use by evaluate's own code
(``read_predictions``, ``restrict``: a 7-class set drops our contempt output). Images a system
failed on are left out here, where evaluate counts them as wrong.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from motivnet.evaluation.labelmap import answered
from motivnet.evaluation.prediction_files import read_predictions
from motivnet.train.setup import AFFECTNET96_SOURCE_PATTERN, balance_weights, sample_sources, weighted_accuracy


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", type=Path, nargs="+", help="predictions CSVs written by motivnet evaluate")
    ap.add_argument("--pattern", default=AFFECTNET96_SOURCE_PATTERN, help="regex naming each file's source (data.source_pattern)")
    args = ap.parse_args()
    for path in args.predictions:
        for out in read_predictions(path):
            a = answered(out)
            targets, correct, classes = a.targets, a.predicted == a.targets, a.classes
            sources = sample_sources(a.ids, args.pattern)
            weights, _ = balance_weights(targets.tolist(), sources)
            names = sorted(set(sources))
            tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
            for t, s, h in zip(targets.tolist(), sources, correct.tolist()):
                for key in ((classes[t], s), ("all", s)):
                    tally[key][0] += h
                    tally[key][1] += 1
            print(f"## {path}\n")
            print("| class | " + " | ".join(f"{s} recall % (n)" for s in names) + " |")
            print("|---|" + "---|" * len(names))
            for c in [*classes, "all"]:
                cells = [f"{100 * tally[c, s][0] / tally[c, s][1]:.1f} ({tally[c, s][1]})" if tally[c, s][1] else "-" for s in names]
                print(f"| {c} | " + " | ".join(cells) + " |")
            plain = 100 * float(correct.double().mean())
            balanced = 100 * weighted_accuracy(correct, weights)
            print(f"\naccuracy {plain:.2f} %, source-balanced accuracy {balanced:.2f} % ({len(correct)} images)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
