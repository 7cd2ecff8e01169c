"""Encoder-feature cache for frozen-encoder training: run the encoder once over every
(un-augmented) image, keep features (N, C, h, w) in a ``.safetensors`` file of the run, then
train the head on them. A fingerprint of the data ids, preprocessing and encoder weights
guards against reusing a stale cache."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from ..data import EmotionDataset
from ..fileio import atomic_write
from ..models import SapiensViT
from .distributed import DistContext
from .sampler import eval_shard


def fingerprint(encoder: SapiensViT, dataset: EmotionDataset) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([dataset.ids, dataset.targets]).encode())
    pre = dataset.preprocessor
    h.update(repr((pre.image_size, pre.resize, pre.mean, pre.std) if pre else None).encode())
    for k, v in sorted(encoder.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def encode(
    encoder: SapiensViT,
    dataset: EmotionDataset,
    ctx: DistContext,
    batch_size: int = 32,
    num_workers: int = 0,
    dtype: torch.dtype = torch.float32,
    autocast: Callable[[], object] | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Features of every sample, (N, C, h, w); each rank encodes a shard, then all gather."""
    was_training = encoder.training
    encoder.eval()
    idx = eval_shard(len(dataset), ctx.rank, ctx.world_size)
    loader = DataLoader(Subset(dataset, idx), batch_size=batch_size, num_workers=num_workers)
    parts = []
    for x, _ in tqdm(loader, desc=f"encoding {dataset.name}", disable=not (progress and ctx.is_main), leave=False):
        with autocast() if autocast else _null():
            parts.append(encoder(x).to(dtype))
    encoder.train(was_training)
    mine = torch.cat(parts) if parts else torch.empty(0)
    shards = ctx.gather_objects((idx, mine))
    first = next(f for _, f in shards if f.numel())
    out = torch.empty((len(dataset), *first.shape[1:]), dtype=dtype)
    for i, f in shards:
        if len(i):
            out[torch.tensor(i)] = f
    return out


def cached_features(
    path: str | os.PathLike, encoder: SapiensViT, dataset: EmotionDataset, ctx: DistContext, **kw
) -> torch.Tensor:
    """Load ``path`` if its fingerprint matches, else encode and (rank 0) write it."""
    path = Path(path)
    fp = fingerprint(encoder, dataset)
    if path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            if (f.metadata() or {}).get("fingerprint") == fp:
                return load_file(str(path))["features"]
    feats = encode(encoder, dataset, ctx, **kw)
    if ctx.is_main:
        atomic_write(path, lambda p: save_file({"features": feats.contiguous()}, p, metadata={"fingerprint": fp}))
    ctx.barrier()
    return feats


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


__all__ = ["cached_features", "encode", "fingerprint"]
