"""Training speed of a config (default: the bundled cpu-small) and the speed-up of the
frozen-encoder feature cache. Prints measured numbers; not a test.

    python benchmarks/train_speed.py [--config cpu-small] [--steps 20] [--set key=value ...]

Measures, on the config's real training data (generated images if it is missing):
  1. full fine-tuning: images/s through data loading + forward + backward + AdamW;
     all in the config's ``amp`` precision (autocast), as ``motivnet train`` runs them;
  2. the cache: encoder images/s (once, no augmentation) and head-only training images/s
     on cached features; the speed-up per epoch and for the whole run.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from motivnet.data import EmotionDataset
from motivnet.train.config import load_config
from motivnet.train.optim import build_optimizer, set_frozen
from motivnet.train.precision import amp_warning, autocast
from motivnet.train.sampler import rank_batches
from motivnet.train.setup import build_data, build_model


def fake_data(root: Path, per_class: int = 40) -> Path:
    rng = np.random.default_rng(0)
    for name in ("anger", "happy", "sad", "neutral", "fear", "disgust", "surprise", "contempt"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(root / name / f"{i}.jpg")
    return root


def time_full(model, ds: EmotionDataset, cfg, steps: int) -> float:
    """images/s of full training steps (batch cfg.batch_size), after one warm-up step."""
    set_frozen(model.encoder, False)
    opt = build_optimizer(model, cfg.optim, train_encoder=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    batches = rank_batches(len(ds), cfg.batch_size, 0, 1, cfg.seed, 0)[: steps + 1]
    loader = DataLoader(ds, batch_sampler=batches, num_workers=cfg.data.num_workers)
    model.train()
    t0, n = None, 0
    for i, (x, y) in enumerate(loader):
        with autocast(cfg.amp):  # the config's precision, as motivnet train runs it
            loss = loss_fn(model(x).float(), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i == 0:
            t0 = time.perf_counter()
        else:
            n += len(y)
    return n / (time.perf_counter() - t0)


@torch.no_grad()
def time_encode(model, ds: EmotionDataset, cfg, images: int) -> tuple[float, torch.Tensor, torch.Tensor]:
    model.eval()
    sub = ds.subset(list(range(min(images, len(ds))))).with_transform(augment=None)
    loader = DataLoader(sub, batch_size=64, num_workers=cfg.data.num_workers)
    t0 = time.perf_counter()
    feats, labels = [], []
    for x, y in loader:
        with autocast(cfg.amp):
            feats.append(model.encoder(x).float())
        labels.append(y)
    return len(sub) / (time.perf_counter() - t0), torch.cat(feats), torch.cat(labels)


def time_head(model, feats: torch.Tensor, labels: torch.Tensor, cfg, steps: int) -> float:
    set_frozen(model.encoder, True)
    opt = build_optimizer(model, cfg.optim, train_encoder=False)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.decoder.train()
    bs, n, t0 = cfg.batch_size, 0, time.perf_counter()
    for i in range(steps):
        idx = torch.randint(0, len(feats), (bs,))
        with autocast(cfg.amp):
            loss = loss_fn(model.decoder(feats[idx]).float(), labels[idx])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        n += bs
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="cpu-small")
    p.add_argument("--steps", type=int, default=20, help="timed full-training steps")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    args = p.parse_args()
    cfg = load_config(args.config, args.overrides)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    tmp = Path(tempfile.mkdtemp(prefix="motivnet-bench-"))
    train_path = cfg.data.train["path"] if isinstance(cfg.data.train, dict) else cfg.data.train
    if not Path(str(train_path)).expanduser().exists():
        print(f"note: {train_path} not found; timing on generated 96x96 images")
        cfg.data.train = {"path": str(fake_data(tmp / "fake"))}
        cfg.data.test = None
    torch.manual_seed(0)
    model = build_model(cfg.model)
    data = build_data(cfg, model, tmp, resume_split=False)
    n_train = len(data.train)
    print(f"config {args.config}: encoder {cfg.model.encoder} {model.config.image_size}, "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params, batch {cfg.batch_size}, "
          f"{torch.get_num_threads()} threads, amp {cfg.amp}, {n_train} train images")
    if warning := amp_warning(cfg.amp):
        print(f"warning: {warning}")

    full = time_full(model, data.train, cfg, args.steps)
    enc_ips, feats, labels = time_encode(model, data.train, cfg, images=min(n_train, 50 * cfg.batch_size))
    head = time_head(model, feats, labels, cfg, steps=max(args.steps, 50))
    full_epoch = n_train / full
    cache_once = n_train / enc_ips
    head_epoch = n_train / head
    print(f"full training:        {full:8.1f} images/s  -> {full_epoch / 60:6.1f} min/epoch")
    print(f"encoder (cache pass): {enc_ips:8.1f} images/s  -> {cache_once / 60:6.1f} min once")
    print(f"head on cache:        {head:8.1f} images/s  -> {head_epoch / 60:6.2f} min/epoch")
    e = cfg.epochs
    print(f"speed-up per epoch after caching: {full_epoch / head_epoch:.1f}x; "
          f"whole {e}-epoch run: {full_epoch * e / 60:.1f} min -> {(cache_once + head_epoch * e) / 60:.1f} min "
          f"({full_epoch * e / (cache_once + head_epoch * e):.1f}x)")


if __name__ == "__main__":
    main()
