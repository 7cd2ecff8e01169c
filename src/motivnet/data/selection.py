"""The paper's data selection: per-class simple random sampling without replacement at
n = the smallest class size (or a given n), then a seeded 9:1 train/val split, saved to a
JSON manifest of relative ids + labels so a run can be rebuilt exactly. The test set is a
separate dataset and never part of the manifest's split.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from ..fileio import atomic_write
from .dataset import EmotionDataset

MANIFEST_VERSION = 1


def _by_class(targets: Sequence[int], indices: Sequence[int] | None = None) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for i in range(len(targets)) if indices is None else indices:
        groups.setdefault(int(targets[i]), []).append(i)
    return dict(sorted(groups.items()))


def _shuffled(items: list[int], seed: int, salt: int) -> list[int]:
    # One generator per class: a class's draw does not depend on the other classes' sizes.
    g = torch.Generator().manual_seed(seed * 1_000_003 + salt)
    return [items[j] for j in torch.randperm(len(items), generator=g).tolist()]


def balanced_sample(
    targets: Sequence[int], n: int | None = None, seed: int = 0, num_classes: int | None = None
) -> list[int]:
    """Indices of n samples per class, drawn without replacement (sorted).

    targets: label id per sample. n: per-class count, default the smallest class size.
    num_classes: if given, every class 0..num_classes-1 must be present.
    """
    groups = _by_class(targets)
    if num_classes is not None:
        empty = [c for c in range(num_classes) if c not in groups]
        if empty:
            raise ValueError(f"classes {empty} have no samples; cannot sample per class")
    if not groups:
        raise ValueError("no samples to select from")
    smallest = min(len(v) for v in groups.values())
    n = smallest if n is None else int(n)
    if n <= 0 or n > smallest:
        sizes = {c: len(v) for c, v in groups.items()}
        raise ValueError(f"n={n} per class is not possible: class sizes are {sizes} (at most {smallest})")
    chosen = [i for c, items in groups.items() for i in _shuffled(items, seed, c)[:n]]
    return sorted(chosen)


def split_train_val(
    targets: Sequence[int], indices: Sequence[int] | None = None, val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Stratified seeded split of ``indices`` (default all) into (train, val), each sorted.

    Each class gives round(size * val_fraction) samples to val, so a balanced selection
    stays balanced on both sides.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), not {val_fraction}")
    train, val = [], []
    for c, items in _by_class(targets, indices).items():
        order = _shuffled(items, seed + 7919, c)  # a different stream from the sampling's
        k = int(round(len(items) * val_fraction))
        val += order[:k]
        train += order[k:]
    return sorted(train), sorted(val)


@dataclass
class Split:
    """A reproducible train/val selection of one dataset: relative ids and label names."""

    train: list[tuple[str, str]]  # (id, label name)
    val: list[tuple[str, str]]
    seed: int
    n: int | None
    val_fraction: float
    labels: tuple[str, ...]
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def apply(self, dataset: EmotionDataset) -> tuple[EmotionDataset, EmotionDataset]:
        """(train, val) subsets of ``dataset``; raises if an id is missing or relabelled."""
        if tuple(dataset.labels.classes) != tuple(self.labels):
            dataset = dataset.with_labels(list(self.labels))
        out = []
        for part, name in ((self.train, "train"), (self.val, "val")):
            sub = dataset.select_ids([i for i, _ in part])
            wrong = [(i, want) for (i, want), r in zip(part, sub.records) if dataset.labels.classes[r.label] != want]
            if wrong:
                raise ValueError(f"manifest {name} labels disagree with the dataset for {len(wrong)} ids, e.g. {wrong[:3]}")
            sub.name = f"{dataset.name} [{name}]"
            out.append(sub)
        return out[0], out[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": MANIFEST_VERSION,
            "source": self.source,
            "labels": list(self.labels),
            "seed": self.seed,
            "n": self.n,
            "val_fraction": self.val_fraction,
            "counts": {"train": len(self.train), "val": len(self.val)},
            "train": [list(x) for x in self.train],
            "val": [list(x) for x in self.val],
            **({"extra": self.extra} if self.extra else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Split":
        if d.get("version") != MANIFEST_VERSION:
            raise ValueError(f"unsupported manifest version {d.get('version')!r} (want {MANIFEST_VERSION})")
        return cls(
            train=[(str(i), str(c)) for i, c in d["train"]],
            val=[(str(i), str(c)) for i, c in d["val"]],
            seed=int(d["seed"]),
            n=d.get("n"),
            val_fraction=float(d["val_fraction"]),
            labels=tuple(d["labels"]),
            source=d.get("source", ""),
            extra=d.get("extra", {}),
        )


def select(
    dataset: EmotionDataset, n: int | str | None = "min", val_fraction: float = 0.1, seed: int = 0
) -> Split:
    """The paper's selection on ``dataset``: n per class ("min" = smallest class, None = all
    samples, unbalanced) then a stratified train/val split."""
    targets = dataset.targets
    if n is None:
        chosen = list(range(len(dataset)))
        n_used = None
    else:
        chosen = balanced_sample(targets, None if n == "min" else int(n), seed, num_classes=len(dataset.labels))
        n_used = len(chosen) // len(dataset.labels)
    train, val = split_train_val(targets, chosen, val_fraction, seed)
    names = dataset.labels.classes
    as_pairs = lambda idx: [(dataset.records[i].id, names[targets[i]]) for i in idx]  # noqa: E731
    return Split(as_pairs(train), as_pairs(val), seed, n_used, val_fraction, tuple(names), dataset.name)


def save_manifest(split: Split, path: str | os.PathLike) -> Path:
    """Write the split as JSON, atomically."""
    text = json.dumps(split.to_dict(), indent=1) + "\n"
    return atomic_write(path, lambda p: Path(p).write_text(text, encoding="utf-8"))


def load_manifest(path: str | os.PathLike) -> Split:
    try:
        return Split.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a split manifest ({e})") from None


__all__ = ["Split", "balanced_sample", "load_manifest", "save_manifest", "select", "split_train_val"]
