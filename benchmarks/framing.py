"""How much of a cross-dataset gap is framing? Score a model on a class-folder set as it is, with
every image padded out by its own edge pixels (a looser, AffectNet-like framing) and with every
image cropped to its centre (a tighter, FER2013-like framing), in one ``motivnet evaluate`` run.

    python benchmarks/framing.py --weights src/motivnet/weights/default /work/data/fer2013/val \
        --pads 0.15,0.3
    # the model-selection split of a training manifest, cropped tight (the stage-7 adoption rule)
    python benchmarks/framing.py --weights src/motivnet/weights/default \
        --manifest experiments/default-model/split.json --split val DATA/affectnet96/train \
        --pads "" --crops 0.75,0.6
    # the same split as predict sees it: each face detected and aligned (stage 22's rule)
    python benchmarks/framing.py --weights src/motivnet/weights/default \
        --manifest experiments/default-model/split.json --split val DATA/affectnet96/train \
        --pads "" --detect --no-face whole

Each pad p adds p x the side to every side (0.15: a 48 px crop becomes 62 px), the same operation
as the ``zoom_out`` augmentation (``motivnet.data.augment.zoom_out`` with factor 1 + 2p). Each crop
c keeps the centred window c x as wide and tall (``motivnet.data.augment.zoom_in`` with no
shift). Each grey side n makes the image greyscale and n x n (FER2013's look: ``--grey-sides
48``); each crop:side pair does both, crop first (``--crop-grey 0.6:48``). Framed copies are
written to a temporary folder (deleted afterwards; the originals are only read), then one
``motivnet evaluate`` run scores all of them side by side and prints its table (``--out`` keeps
its report). Flags this script does not know (``--threads``, ``--detect``, ``--no-face``, ``--tta``)
go to ``motivnet evaluate``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from motivnet.data import load_manifest
from motivnet.data.augment import greyscale, zoom_in, zoom_out
from motivnet.sources import IMAGE_SUFFIXES


def class_folder_files(root: Path) -> list[str]:
    """Every image ``class/name.ext`` under ``root``, relative to it."""
    return [str(p.relative_to(root)) for p in sorted(root.glob("*/*")) if p.suffix.lower() in IMAGE_SUFFIXES]


def manifest_files(manifest: Path, split: str) -> list[str]:
    """The files a ``motivnet train`` split manifest lists for ``split``, relative to its source."""
    return [rel for rel, _label in getattr(load_manifest(manifest), split)]


def linked_copy(root: Path, files: list[str], dst: Path) -> None:
    """A class-folder view of ``files`` made of symlinks (nothing is copied or re-encoded)."""
    for rel in files:
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        os.symlink((root / rel).resolve(), out)


def framed_copy(root: Path, files: list[str], dst: Path, frame: Callable[[np.ndarray], np.ndarray]) -> None:
    """Write ``frame(rgb)`` of every file to ``dst`` under the same class folder."""
    for rel in files:
        rgb = np.asarray(Image.open(root / rel).convert("RGB"))
        out = dst / Path(rel).with_suffix(".png")  # png: no second jpeg loss
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame(rgb)).save(out)


def grey_small(rgb: np.ndarray, side: int) -> np.ndarray:
    """Greyscale, shrunk to ``side`` x ``side`` (bilinear): FER2013's 48x48 grey look without its framing."""
    return np.asarray(Image.fromarray(greyscale(rgb)).resize((side, side), Image.BILINEAR))


def _fractions(text: str) -> list[float]:
    return [float(p) for p in text.split(",") if p.strip()]


def _pairs(text: str) -> list[tuple[float, float]]:
    """``"0.6:48,0.7:64"`` -> [(0.6, 48.0), (0.7, 64.0)]."""
    return [tuple(map(float, p.split(":"))) for p in text.split(",") if p.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="class-folder dataset (one folder per class), or a manifest's source")
    ap.add_argument("--weights", "-w", default="src/motivnet/weights/default")
    ap.add_argument("--pads", default="0.15,0.3", help="comma-separated pads, fractions of the side ('' for none)")
    ap.add_argument("--crops", default="", help="comma-separated centre crops, fractions of the side kept")
    ap.add_argument("--grey-sides", default="", help="comma-separated sizes: greyscale and shrink to this side (FER2013: 48)")
    ap.add_argument("--crop-grey", default="", help="comma-separated crop:side pairs: centre crop, then greyscale and shrink (FER2013's look and framing: 0.6:48)")
    ap.add_argument("--manifest", type=Path, help="score only the files this split manifest lists")
    ap.add_argument("--split", default="val", choices=("train", "val"), help="the manifest's split to score (default: val)")
    ap.add_argument("--name", default="model")
    ap.add_argument("--out", type=Path, help="keep motivnet evaluate's report here (default: printed only)")
    args, evaluate_args = ap.parse_known_args()  # the rest (--threads, --tta-flip, ...) go to evaluate
    if args.manifest:
        files, label = manifest_files(args.manifest, args.split), f"{args.manifest.stem}-{args.split}"
    else:
        files, label = class_folder_files(args.data), args.data.parent.name
    frames: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = [
        *((f"pad{p:g}", lambda rgb, p=p: zoom_out(rgb, 1 + 2 * p)) for p in _fractions(args.pads)),
        *((f"crop{c:g}", lambda rgb, c=c: zoom_in(rgb, c)) for c in _fractions(args.crops)),
        *((f"grey{n:g}", lambda rgb, n=n: grey_small(rgb, int(n))) for n in _fractions(args.grey_sides)),
        *((f"crop{c:g}-grey{n:g}", lambda rgb, c=c, n=n: grey_small(zoom_in(rgb, c), int(n)))
          for c, n in _pairs(args.crop_grey)),
    ]
    with tempfile.TemporaryDirectory(prefix="motivnet-framing-") as tmp:
        if args.manifest:
            linked_copy(args.data, files, Path(tmp) / "as-is")
            sets = [f"{label}={Path(tmp) / 'as-is'}"]
        else:
            sets = [f"{label}={args.data}"]
        for tag, frame in frames:
            dst = Path(tmp) / tag
            framed_copy(args.data, files, dst, frame)
            print(f"{tag}: {len(files)} images -> {dst}", file=sys.stderr)
            sets.append(f"{label}-{tag}={dst}")
        cmd = ["motivnet", "evaluate", "--weights", args.weights, "--name", args.name, *sets,
               "--out", str(args.out or Path(tmp) / "report"), *evaluate_args]
        return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
