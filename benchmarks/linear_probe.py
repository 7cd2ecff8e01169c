"""How much emotion does a frozen encoder already see? A linear probe, the standard test of a
self-supervised (MAE) encoder: the encoder's average-pooled tokens for a split manifest's
training and validation images, then a multinomial logistic regression trained on the first and
scored on the second. Several encoders are probed side by side on the same images.

    python benchmarks/linear_probe.py experiments/default-model/split.json DATA/affectnet96/train \
        --image-size 96 96 --encoder runs/mae-probe-96 --encoder src/motivnet/weights/default \
        --random sapiens-tiny

Each ``--encoder`` is a ``motivnet pretrain`` run folder, an encoder folder or a MotivNet model
folder (its encoder only); ``--random NAME`` adds a randomly initialised encoder of that size
(the floor). Images get predict's preprocessing (stretched to ``--image-size``, no augmentation).
Prints one row per encoder: validation accuracy, mean per-class recall, and the seconds taken.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from motivnet.data import load_manifest
from motivnet.models import SapiensViT, sapiens_config
from motivnet.preprocess import Preprocessor
from motivnet.train.encoder_io import load_encoder_weights, read_encoder_weights


def build_encoder(spec: str, image_size: tuple[int, int], random_name: str | None, seed: int) -> SapiensViT:
    """A frozen encoder at ``image_size``: random of ``random_name``, or ``spec``'s weights."""
    torch.manual_seed(seed)
    if random_name:
        return SapiensViT(sapiens_config(random_name, image_size=image_size)).eval()
    _, cfg, _ = read_encoder_weights(spec)
    if cfg is None:
        raise SystemExit(f"{spec}: no encoder config beside the weights; cannot tell its architecture")
    enc = SapiensViT(replace(cfg, image_size=image_size))
    load_encoder_weights(enc, spec)
    return enc.eval()


@torch.inference_mode()
def pooled_features(encoder: SapiensViT, pre: Preprocessor, files: list[Path], batch: int = 128) -> torch.Tensor:
    """(N, C): the mean of the encoder's output map (B, C, h, w) over h and w, per image."""
    out = []
    for i in range(0, len(files), batch):
        x = pre([str(f) for f in files[i:i + batch]])
        out.append(encoder(x).mean(dim=(2, 3)).float())
    return torch.cat(out)


def fit_probe(xtr: torch.Tensor, ytr: torch.Tensor, classes: int, epochs: int = 300, wd: float = 1e-4) -> torch.nn.Linear:
    """A logistic regression on standardised features, full-batch AdamW (deterministic)."""
    torch.manual_seed(0)
    probe = torch.nn.Linear(xtr.shape[1], classes)
    opt = torch.optim.AdamW(probe.parameters(), lr=1e-2, weight_decay=wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        loss = torch.nn.functional.cross_entropy(probe(xtr), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return probe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest", help="a split.json (its train and val lists are used)")
    ap.add_argument("root", help="the folder the manifest's paths are relative to")
    ap.add_argument("--encoder", action="append", default=[], help="an encoder to probe (repeatable)")
    ap.add_argument("--random", action="append", default=[], metavar="NAME", help="a random encoder of this size (repeatable)")
    ap.add_argument("--image-size", type=int, nargs=2, default=[96, 96], metavar=("H", "W"))
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    split = load_manifest(args.manifest)
    labels = list(split.labels)
    root = Path(args.root)
    sets = {}
    for name in ("train", "val"):
        items = getattr(split, name)
        sets[name] = ([root / rel for rel, _ in items], torch.tensor([labels.index(lab) for _, lab in items]))
    size = tuple(args.image_size)
    pre = Preprocessor(size)
    rows = [(spec, None) for spec in args.encoder] + [(f"random {n}", n) for n in args.random]
    print(f"linear probe: {len(sets['train'][0])} train, {len(sets['val'][0])} val images of {args.manifest}, "
          f"{size[0]}x{size[1]}, {len(labels)} classes")
    print("| encoder | val accuracy | mean class recall | seconds |\n|---|---|---|---|")
    for spec, random_name in rows:
        t0 = time.time()
        enc = build_encoder(spec, size, random_name, seed=0)
        xtr, xva = (pooled_features(enc, pre, sets[s][0]) for s in ("train", "val"))
        mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
        probe = fit_probe((xtr - mu) / sd, sets["train"][1], len(labels))
        with torch.no_grad():
            pred = probe((xva - mu) / sd).argmax(1)
        y = sets["val"][1]
        acc = (pred == y).float().mean().item()
        recall = torch.stack([(pred[y == c] == c).float().mean() for c in range(len(labels)) if (y == c).any()]).mean().item()
        print(f"| {spec} | {100 * acc:.2f} | {100 * recall:.2f} | {time.time() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
