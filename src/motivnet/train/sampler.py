"""Deterministic, resumable, shardable batch order.

The order of an epoch is a function of (seed, epoch) only. A *global* batch of
``batch_size * world_size`` samples is split into per-rank slices, so 2 processes x batch 2
see exactly the samples 1 process x batch 4 sees, and a resumed run can skip the batches
already done.
"""
from __future__ import annotations

import torch


def epoch_order(
    n: int, seed: int, epoch: int, shuffle: bool = True, weights: torch.Tensor | None = None
) -> list[int]:
    """A permutation of range(n) that depends only on (seed, epoch); with ``weights`` (n,), n
    draws with replacement, index i with probability weights[i] / weights.sum()."""
    if not shuffle:
        return list(range(n))
    g = torch.Generator().manual_seed((seed * 1_000_003 + epoch) % (2**63 - 1))
    if weights is not None:
        return torch.multinomial(weights.double(), n, replacement=True, generator=g).tolist()
    return torch.randperm(n, generator=g).tolist()


def global_batches(
    n: int, batch_size: int, world_size: int, seed: int, epoch: int, shuffle: bool = True,
    weights: torch.Tensor | None = None,
) -> list[list[int]]:
    """Full global batches of ``batch_size * world_size`` indices (the last partial one is
    dropped, so every rank takes equal steps and DDP matches single-process training)."""
    g = batch_size * world_size
    order = epoch_order(n, seed, epoch, shuffle, weights)
    return [order[i : i + g] for i in range(0, n - g + 1, g)]


def rank_batches(
    n: int, batch_size: int, rank: int, world_size: int, seed: int, epoch: int, start: int = 0, shuffle: bool = True,
    weights: torch.Tensor | None = None,
) -> list[list[int]]:
    """This rank's slice of each global batch from batch ``start`` on."""
    batches = global_batches(n, batch_size, world_size, seed, epoch, shuffle, weights)[start:]
    return [b[rank * batch_size : (rank + 1) * batch_size] for b in batches]


def eval_shard(n: int, rank: int, world_size: int) -> list[int]:
    """Evaluation indices of one rank (strided; results are gathered and re-ordered)."""
    return list(range(rank, n, world_size))


__all__ = ["epoch_order", "eval_shard", "global_batches", "rank_batches"]
