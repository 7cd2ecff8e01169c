"""Average the weights of several MotivNet folders into one (a uniform "model soup").

    python tools/average_checkpoints.py runs/a/best runs/b/best runs/c/best --out runs/soup

Each input is a ``save_pretrained`` folder (config.json + model.safetensors) of the same
architecture, fine-tuned from one starting point. The output is a new folder in the same format,
plus ``averaged_from.json`` listing the inputs and their weights files' sha256, so the soup can be
rebuilt. An existing ``--out`` is never overwritten.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from motivnet.models import MotivNet, average_weights
from motivnet.models.motivnet import WEIGHTS_NAME


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", type=Path, nargs="+", help="MotivNet folders (config.json + model.safetensors)")
    ap.add_argument("--out", type=Path, required=True, help="the averaged model's folder (must not exist)")
    args = ap.parse_args()
    if args.out.exists():
        raise SystemExit(f"{args.out}: exists; not overwriting it")
    try:
        models = [MotivNet.from_pretrained(p) for p in args.models]
        soup = average_weights(models)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(str(e)) from None
    soup.save_pretrained(args.out)
    record = {"method": "uniform mean of the floating-point weights",
              "models": [{"path": str(p), "sha256": sha256(p / WEIGHTS_NAME)} for p in args.models]}
    (args.out / "averaged_from.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"{args.out}: the mean of {len(models)} models")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
