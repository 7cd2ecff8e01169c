"""Per-epoch metrics (``motivnet.metrics``, torchmetrics), ``metrics.csv`` and the Figure-4-style plot."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Sequence

from ..fileio import atomic_write
from ..metrics import classification_metrics  # shared with motivnet evaluate; re-exported for the engine

COLUMNS = [
    "epoch", "step", "lr_encoder", "lr_decoder",
    "train_loss", "train_acc", "train_auroc", "train_f1",
    "val_loss", "val_acc", "val_auroc", "val_f1",
    "val_acc_balanced",  # source-balanced val accuracy; empty unless data.source_pattern is set
    "live_val_acc", "live_val_acc_balanced",  # with ema_decay: the last step's weights (val_* is the average's)
    "seconds", "images_per_s",
]


def write_metrics_csv(
    rows: Sequence[dict[str, Any]], path: str | os.PathLike, columns: Sequence[str] = COLUMNS
) -> Path:
    """Rewrite the whole file from the run's history (atomic: a resume never duplicates rows)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    text = buf.getvalue()
    return atomic_write(path, lambda p: Path(p).write_text(text, encoding="utf-8"))


def plot_metrics(rows: Sequence[dict[str, Any]], path: str | os.PathLike) -> str:
    """Train/val loss, accuracy, AUROC and F1 per epoch, like the paper's Figure 4.
    Returns a note; matplotlib is optional and the PNG is skipped without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: skipped the metrics plot (pip install matplotlib)"
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    for ax, key, title in zip(axes, ("loss", "acc", "auroc", "f1"), ("Loss", "Accuracy", "Macro AUROC", "Macro F1")):
        for split, style in (("train", "-o"), ("val", "-s")):
            ax.plot(epochs, [r.get(f"{split}_{key}", float("nan")) for r in rows], style, ms=3, label=split)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return f"wrote {path}"


__all__ = ["COLUMNS", "classification_metrics", "plot_metrics", "write_metrics_csv"]
