"""How much of a test set's error is the class balance? From ``motivnet evaluate`` predictions,
print the predicted against the true count of every class, then the accuracy the same
probabilities reach after re-weighting the classes three ways:

- **true prior** (an oracle: it reads the labels): every probability times the test set's class
  share over the training prior (uniform unless ``--train-prior``), the Bayes correction for a
  pure label shift;
- **best bias** (an oracle, an upper bound): the per-class log-bias that maximises accuracy
  (coordinate ascent on a grid). The gap from it to the plain accuracy is what any per-class
  recalibration could win; the rest is the ranking of the images;
- **EM** (label-free, Saerens et al. 2002): the test prior estimated from the model's own
  probabilities by expectation-maximisation, as a user could on an unlabelled folder. It trusts
  the probabilities' calibration, so a model that is confidently wrong in the new domain pulls the
  estimate towards its errors.

    python benchmarks/label_shift.py REPORT/predictions_model__fer2013.csv

Files are put on the classes their targets use by evaluate's own code (``restrict``: a 7-class
set drops our contempt output); failed images are left out. Diagnostics, not a method: the
oracles choose with the test labels, so their numbers are not results.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from motivnet.evaluation.labelmap import restrict
from motivnet.evaluation.prediction_files import read_predictions


def best_bias(logp: torch.Tensor, targets: torch.Tensor, rounds: int = 4) -> torch.Tensor:
    """(K,) log-biases that maximise accuracy of ``logp`` (N, K) + bias, one class at a time on a grid."""
    bias = torch.zeros(logp.shape[1], dtype=logp.dtype)
    grid = torch.linspace(-4, 4, 81, dtype=logp.dtype)

    def acc(b: torch.Tensor) -> float:
        return float(((logp + b).argmax(1) == targets).double().mean())

    for _ in range(rounds):
        for k in range(len(bias)):
            trials = []
            for v in grid:
                trial = bias.clone()
                trial[k] = v
                trials.append(acc(trial))
            bias[k] = grid[max(range(len(grid)), key=lambda j: (trials[j], -abs(float(grid[j]))))]  # ties: the smallest bias
    return bias


def em_prior(probs: torch.Tensor, train_prior: torch.Tensor, steps: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Saerens et al. (2002): the test prior (K,) and the re-weighted probabilities (N, K) from
    ``probs`` (N, K), a model's posteriors under ``train_prior`` (K,)."""
    prior = train_prior.clone()
    for _ in range(steps):
        post = probs * (prior / train_prior)
        post = post / post.sum(1, keepdim=True)
        prior = post.mean(0)
    return prior, post


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("predictions", type=Path, nargs="+", help="predictions CSVs written by motivnet evaluate")
    ap.add_argument("--train-prior", help="comma-separated class shares the model was trained under, in the "
                                          "file's class order (default: uniform, as source-balanced sampling draws)")
    args = ap.parse_args()
    for path in args.predictions:
        for out in read_predictions(path):
            probs, targets, failed, mapping = restrict(out)
            probs, targets = probs[~failed].double(), targets[~failed]
            probs = probs / probs.sum(1, keepdim=True)
            classes, k = mapping.scored_classes, probs.shape[1]
            train = (torch.tensor([float(x) for x in args.train_prior.split(",")], dtype=torch.double)
                     if args.train_prior else torch.full((k,), 1.0 / k, dtype=torch.double))
            if len(train) != k:
                raise SystemExit(f"{path}: --train-prior has {len(train)} shares, the file's classes are {k} ({', '.join(classes)})")
            train = train / train.sum()
            counts = torch.bincount(targets, minlength=k)
            true = counts.double() / len(targets)
            logp = probs.clamp_min(1e-12).log()
            acc = lambda p: 100 * float((p.argmax(1) == targets).double().mean())  # noqa: E731
            bias = best_bias(logp, targets)
            em, em_post = em_prior(probs, train)
            predicted = torch.bincount(probs.argmax(1), minlength=k)
            print(f"## {path}: {out.system} on {out.dataset} ({len(targets)} images)\n")
            print("| class | true n | predicted n | best bias | EM prior % |")
            print("|---|---|---|---|---|")
            for i, c in enumerate(classes):
                print(f"| {c} | {int(counts[i])} | {int(predicted[i])} | {float(bias[i]):+.1f} | {100 * float(em[i]):.1f} |")
            print(f"\naccuracy {acc(probs):.2f} %; with the true prior (oracle) {acc(logp + (true / train).clamp_min(1e-12).log()):.2f} %; "
                  f"best bias (oracle) {acc(logp + bias):.2f} %; EM prior (label-free) {acc(em_post):.2f} %\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
