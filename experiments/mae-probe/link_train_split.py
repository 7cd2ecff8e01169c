"""Link a split manifest's training images into a folder for ``motivnet pretrain`` (which reads
every image under its SOURCE folders), so MAE pretraining never sees the validation split.

    python experiments/mae-probe/link_train_split.py experiments/default-model/split.json \
        DIR/affectnet96/train DIR/affectnet96-mae-train

Symbolic links only: the originals are not copied, moved or changed; existing links are kept.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from motivnet.data import load_manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("root", help="the folder the manifest's paths are relative to")
    ap.add_argument("out", help="folder to create the links in")
    ap.add_argument("--split", default="train", choices=["train", "val"])
    args = ap.parse_args()
    root, out = Path(args.root).resolve(), Path(args.out)
    items = getattr(load_manifest(args.manifest), args.split)
    made = 0
    for rel, _ in items:
        dst = out / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not dst.exists():
            os.symlink(root / rel, dst)
            made += 1
    print(f"{out}: {made} new links, {len(items)} images of the {args.split} split")


if __name__ == "__main__":
    main()
