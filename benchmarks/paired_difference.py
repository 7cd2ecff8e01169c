"""Is B really better than A on the same images? From two ``motivnet evaluate`` predictions CSVs
of one image set (two models, or one model under two preprocessings), print the share of images
whose predicted class differs, the difference in plain and source-balanced accuracy, and a 95 %
paired bootstrap interval for each (images resampled with replacement, both systems together).
An adoption rule whose threshold sits inside that interval is deciding on noise.

    python benchmarks/framing.py --weights W --manifest experiments/default-model/split.json \
        --split val DATA/affectnet96/train --pads "" --crops 0.95 --out REPORT
    python benchmarks/paired_difference.py REPORT/predictions_model__split-val.csv \
        REPORT/predictions_model__split-val-crop0.95.csv

``--failures-wrong`` keeps the images a system failed on (no face found) as wrong answers, as
``motivnet evaluate`` scores them; by default they are left out. Files may name images by full path
(the peer runners) or by class folder and name (``motivnet evaluate``): they pair on the latter.

Source-balanced weights are ``source_bias.py``'s (``--pattern``), computed once on the whole set.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from motivnet.evaluation.labelmap import answered
from motivnet.evaluation.prediction_files import read_predictions, sample_key
from motivnet.train.setup import AFFECTNET96_SOURCE_PATTERN, balance_weights, sample_sources


def correct_by_id(path: Path, failures_wrong: bool = False) -> tuple[dict[str, bool], dict[str, str], dict[str, str]]:
    """id -> (prediction right?, predicted class, target class) for every answered image of the
    file's first set (with ``failures_wrong``, every image: a failure is wrong, class "(failed)").
    Classes by name: a 7-class peer's file orders its classes unlike ours."""
    a = answered(read_predictions(path)[0], keep_failed=failures_wrong)
    right, cls, tgt = {}, {}, {}
    for i, p, t in zip(a.ids, a.predicted.tolist(), a.targets.tolist()):
        i = sample_key(i)  # class folder + stem: .png copies and full paths pair up
        if i in right:
            raise SystemExit(f"{path}: two rows are the image {i}; cannot pair them")
        right[i], cls[i], tgt[i] = p == t, "(failed)" if p < 0 else a.classes[p], a.classes[t]
    return right, cls, tgt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path, help="predictions CSV of the baseline")
    ap.add_argument("b", type=Path, help="predictions CSV of the candidate (same images)")
    ap.add_argument("--pattern", default=AFFECTNET96_SOURCE_PATTERN, help="regex naming each file's source")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--failures-wrong", action="store_true",
                    help="keep the images a system failed on (no face found...) as wrong, as motivnet evaluate "
                         "scores them (default: leave them out)")
    args = ap.parse_args()
    ra, ca, ta = correct_by_id(args.a, args.failures_wrong)
    rb, cb, _ = correct_by_id(args.b, args.failures_wrong)
    ids = sorted(set(ra) & set(rb))
    if not ids:
        raise SystemExit(f"{args.a} and {args.b}: no image in common")
    a = np.array([ra[i] for i in ids], float)
    b = np.array([rb[i] for i in ids], float)
    w = balance_weights([ta[i] for i in ids], sample_sources(ids, args.pattern))[0].double().numpy()
    rng = np.random.default_rng(args.seed)
    draws = rng.integers(0, len(ids), (args.resamples, len(ids)))
    flips = 100 * np.mean([ca[i] != cb[i] for i in ids])
    print(f"{len(ids)} images in both; predicted class differs on {flips:.1f} %")
    for name, weight in (("accuracy", np.ones(len(ids))), ("source-balanced accuracy", w)):
        diff = 100 * (np.sum(weight * (b - a)) / weight.sum())
        boot = 100 * (np.take(weight * (b - a), draws).sum(1) / np.take(weight, draws).sum(1))
        lo, hi = np.percentile(boot, [2.5, 97.5])
        acc_a, acc_b = (100 * np.sum(weight * x) / weight.sum() for x in (a, b))
        print(f"{name}: {acc_a:.2f} -> {acc_b:.2f} %, difference {diff:+.2f} (95 % paired bootstrap {lo:+.2f} to {hi:+.2f})")
    return 0


if __name__ == "__main__":
    torch.set_num_threads(1)
    raise SystemExit(main())
