"""Package a training run's best checkpoint as motivnet's bundled default model.

    python tools/package_default_model.py RUN_DIR --command "the exact motivnet train command"

Writes, replacing the previous default:
  src/motivnet/weights/default/config.json, model.safetensors (float16 storage), training.json
  experiments/default-model/config.yaml, split.json   (the resolved config and the split manifest)

``training.json`` records where the model came from: the train command, the resolved config,
the split manifest's sha256, the epoch chosen and its validation numbers from ``metrics.csv``.
The weights are the only binary; everything needed to retrain them is text in the repo.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import torch
import yaml

from motivnet.models import MotivNet

REPO = Path(__file__).resolve().parents[1]
DEST = REPO / "src" / "motivnet" / "weights" / "default"
RECORDS = REPO / "experiments" / "default-model"


def best_epoch(metrics_csv: Path, metric: str) -> dict[str, str]:
    """The metrics.csv row with the highest ``metric`` (the epoch best/ was saved at)."""
    with metrics_csv.open() as f:
        rows = list(csv.DictReader(f))
    return max(rows, key=lambda r: float(r[metric]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--command", required=True, help="the exact command that trained the run")
    args = ap.parse_args()
    run = args.run_dir
    config = yaml.safe_load((run / "config.yaml").read_text())
    best = best_epoch(run / "metrics.csv", config.get("best_metric", "val_acc"))

    model = MotivNet.from_pretrained(run / "best")
    if DEST.exists():
        shutil.rmtree(DEST)
    model.save_pretrained(DEST, dtype=torch.float16)

    RECORDS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "config.yaml", RECORDS / "config.yaml")
    shutil.copyfile(run / "split.json", RECORDS / "split.json")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    record = {
        "command": args.command,
        "code_commit": commit,
        "config": config,
        "config_file": str((RECORDS / "config.yaml").relative_to(REPO)),
        "split_manifest": str((RECORDS / "split.json").relative_to(REPO)),
        "split_sha256": hashlib.sha256((RECORDS / "split.json").read_bytes()).hexdigest(),
        "best_epoch": {k: v for k, v in best.items()},
        "storage": "float16 safetensors, loaded as float32",
        "data_terms": "trained on AffectNet-derived images (non-commercial research use only)",
    }
    (DEST / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    size = (DEST / "model.safetensors").stat().st_size / 2**20
    print(f"wrote {DEST} ({size:.1f} MiB weights), epoch {best['epoch']} val_acc {best['val_acc']}")


if __name__ == "__main__":
    main()
