"""How much of a cross-dataset gap is framing? Score a model on a class-folder set as it is and
with every image padded out by its own edge pixels (a looser, AffectNet-like framing).

    python benchmarks/framing.py --weights src/motivnet/weights/default /work/data/fer2013/val \
        --pads 0.15,0.3

Each pad p adds p x the side to every side (0.15: a 48 px crop becomes 62 px), the same operation
as the ``zoom_out`` augmentation (``motivnet.data.augment.zoom_out`` with factor 1 + 2p). Padded
copies are written to a temporary folder (deleted afterwards; the originals are only read), then
one ``motivnet evaluate`` run scores all of them side by side and prints its table (``--out``
keeps its report).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from motivnet.data.augment import zoom_out
from motivnet.sources import IMAGE_SUFFIXES


def padded_copy(src: Path, dst: Path, pad: float) -> int:
    """Write every class-folder image of ``src`` to ``dst``, padded by ``pad`` x its side per side."""
    n = 0
    for path in sorted(src.glob("*/*")):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        rgb = np.asarray(Image.open(path).convert("RGB"))
        out = dst / path.parent.name / (path.stem + ".png")  # png: no second jpeg loss
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(zoom_out(rgb, 1 + 2 * pad)).save(out)
        n += 1
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="class-folder dataset (one folder per class)")
    ap.add_argument("--weights", "-w", default="src/motivnet/weights/default")
    ap.add_argument("--pads", default="0.15,0.3", help="comma-separated pads, fractions of the side")
    ap.add_argument("--name", default="model")
    ap.add_argument("--out", type=Path, help="keep motivnet evaluate's report here (default: printed only)")
    args = ap.parse_args()
    pads = [float(p) for p in args.pads.split(",") if p]
    with tempfile.TemporaryDirectory(prefix="motivnet-framing-") as tmp:
        sets = [f"{args.data.parent.name}={args.data}"]
        for pad in pads:
            dst = Path(tmp) / f"pad{pad:g}"
            n = padded_copy(args.data, dst, pad)
            print(f"pad {pad:g}: {n} images -> {dst}", file=sys.stderr)
            sets.append(f"{args.data.parent.name}-pad{pad:g}={dst}")
        cmd = ["motivnet", "evaluate", "--weights", args.weights, "--name", args.name, *sets,
               "--out", str(args.out or Path(tmp) / "report")]
        return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
