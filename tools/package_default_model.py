"""Package a training run's best checkpoint as one of motivnet's bundled models (the default one
unless ``--name`` says otherwise).

    python tools/package_default_model.py RUN_DIR --command "the exact motivnet train command" \
        [--stage EARLIER_RUN_DIR "its command"]... [--name NAME]

``--stage`` names the earlier runs the final one started from (``model.init_from``), in order,
so a model trained in several stages (e.g. across sessions) records every step. When those runs'
folders are gone (an earlier session trained them), ``--after-bundled`` keeps the stages that the
bundled default's training.json already records, with their committed configs, and adds this run
(which started from the bundled model) after them; ``--after NAME`` does the same for the bundled
model NAME (a run that started from ``weights/NAME``).

Writes, replacing the previous model of that name (NAME-model below is default-model for the default):
  src/motivnet/weights/NAME/config.json, model.safetensors (float16 storage), training.json
  experiments/NAME-model/stageN/config.yaml   (each new stage's resolved config; kept stages keep theirs)
  experiments/NAME-model/split.json            (the final run's split manifest, unless it is the default's)

``training.json`` records where the model came from: each stage's train command and resolved
config, the split manifest's sha256, the epoch chosen and its validation numbers from
``metrics.csv``. The weights are the only binary; everything needed to retrain them is text.
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
WEIGHTS = REPO / "src" / "motivnet" / "weights"
RECORDS = REPO / "experiments" / "default-model"  # --name NAME: experiments/NAME-model


def best_epoch(metrics_csv: Path, metric: str) -> dict[str, str]:
    """The metrics.csv row with the highest ``metric`` (the epoch best/ was saved at)."""
    with metrics_csv.open() as f:
        rows = list(csv.DictReader(f))
    return max(rows, key=lambda r: float(r[metric]))


def stage_record(index: int, run: Path, command: str, records: Path = RECORDS) -> dict:
    """Copy one run's resolved config into the records and describe it."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    folder = records / f"stage{index}"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run / "config.yaml", folder / "config.yaml")
    return {
        "stage": index,
        "command": command,
        "config_file": str((folder / "config.yaml").relative_to(REPO)),
        "config": config,
        "best_epoch": best_epoch(run / "metrics.csv", config.get("best_metric", "val_acc")),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--command", required=True, help="the exact command that trained the run")
    ap.add_argument("--stage", nargs=2, action="append", default=[], metavar=("RUN_DIR", "COMMAND"),
                    help="an earlier run this one started from, with its command (in order; repeatable)")
    ap.add_argument("--after-bundled", action="store_const", const="default", dest="after",
                    help="keep the stages the bundled default model records and add this run after them")
    ap.add_argument("--after", metavar="NAME",
                    help="keep the stages the bundled model NAME records (the run started from it) and add this run")
    ap.add_argument("--name", default="default", help="the bundled model's name, weights/NAME (default: %(default)s)")
    args = ap.parse_args()
    runs = [(Path(r), c) for r, c in args.stage] + [(args.run_dir, args.command)]
    dest = WEIGHTS / args.name
    records = RECORDS if args.name == "default" else REPO / "experiments" / f"{args.name}-model"

    kept: list[dict] = []
    if args.after:
        kept = json.loads((WEIGHTS / args.after / "training.json").read_text())["stages"]
        for st in kept:  # their config files stay; everything else is rewritten
            if not (REPO / st["config_file"]).is_file():
                raise SystemExit(f"{st['config_file']}: missing; it records stage {st['stage']}")
        for old in records.iterdir() if records.exists() else []:
            if old.is_file():
                old.unlink()
    elif records.exists():
        shutil.rmtree(records)  # the records describe the bundled model only
    records.mkdir(parents=True, exist_ok=True)
    stages = kept + [stage_record(len(kept) + i + 1, run, command, records) for i, (run, command) in enumerate(runs)]
    final = args.run_dir
    split = records / "split.json"
    if (RECORDS / "split.json").is_file() and (RECORDS / "split.json").read_bytes() == (final / "split.json").read_bytes():
        split = RECORDS / "split.json"  # the default model's split: refer to it, don't commit a copy
    else:
        shutil.copyfile(final / "split.json", split)

    model = MotivNet.from_pretrained(final / "best")
    if dest.exists():
        shutil.rmtree(dest)
    model.save_pretrained(dest, dtype=torch.float16)

    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False).stdout.strip()
    record = {
        "command": stages[-1]["command"],
        "code_commit": commit,
        "stages": stages,
        "split_manifest": str(split.relative_to(REPO)),
        "split_sha256": hashlib.sha256(split.read_bytes()).hexdigest(),
        "best_epoch": stages[-1]["best_epoch"],
        "storage": "float16 safetensors, loaded as float32",
        "data_terms": "trained on AffectNet-derived images (non-commercial research use only)",
    }
    (dest / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    size = (dest / "model.safetensors").stat().st_size / 2**20
    best = stages[-1]["best_epoch"]
    print(f"wrote {dest} ({size:.1f} MiB weights), {len(stages)} stage(s), epoch {best['epoch']} val_acc {best['val_acc']}")


if __name__ == "__main__":
    main()
