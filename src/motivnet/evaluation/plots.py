"""The confusion-matrix PNG of one result (matplotlib, optional)."""
from __future__ import annotations

import os
from pathlib import Path

from ..fileio import atomic_write
from ..metrics import Scores


def plot_confusion(scores: Scores, title: str, path: str | os.PathLike) -> Path | None:
    """Rows: true class; columns: predicted class (+ "failed" when some samples had no answer).
    Cells are coloured by the row fraction and labelled with counts. None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import numpy as np

    counts = np.array(scores.confusion, dtype=float).reshape(len(scores.classes), len(scores.classes))
    columns = list(scores.classes)
    if scores.n_failed:
        counts = np.concatenate([counts, np.array(scores.failed_per_class, dtype=float)[:, None]], axis=1)
        columns.append("failed")
    rows = counts.sum(1, keepdims=True)
    frac = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = 1.2 + 0.62 * len(columns)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                    color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    ax.set_yticks(range(len(scores.classes)), scores.classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    fig.tight_layout()
    out = atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)
    return out


__all__ = ["plot_confusion"]
