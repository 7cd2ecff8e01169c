"""``motivnet convert SRC DST``: any supported checkpoint -> our folder format."""
from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert",
        help="convert a checkpoint (authors' MotivNet.pth, Sapiens pose/pretrain .pth, .pt2) to config.json + model.safetensors",
        description="Convert a checkpoint to motivnet's folder format (config.json + model.safetensors).",
    )
    p.add_argument("src", help="checkpoint file (.pth, .pt2, .safetensors) or motivnet folder")
    p.add_argument("dst", help="output folder")
    p.add_argument("--kind", help="source layout: authors, sapiens-pose, sapiens-pretrain or motivnet (default: detected from the keys)")
    p.add_argument("--labels", help="label set for a new head: affectnet8 (default), affectnet7, fer2013")
    p.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="input size (default: from the checkpoint)")
    p.add_argument("--encoder", help="named encoder size when it cannot be inferred, e.g. sapiens-1b")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..checkpoints import convert

    def log(note: str) -> None:
        print(f"motivnet convert: {note}", file=sys.stderr)

    out = convert(args.src, args.dst, kind=args.kind, labels=args.labels, image_size=args.image_size, encoder=args.encoder, log=log)
    print(f"wrote {out}", file=sys.stderr)
    return 0
