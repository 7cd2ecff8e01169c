"""The ``motivnet`` command: one verb per task (ultralytics style).

Exit codes, for every verb: 0 when everything succeeded; 1 when some inputs failed (the
others were still processed and reported); 2 for a usage error or a failure that stops the
whole command (e.g. weights that cannot be loaded).
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import __version__
from .commands import COMMANDS

EXIT_OK, EXIT_PARTIAL, EXIT_FATAL = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motivnet",
        description="Facial emotion recognition with MotivNet (Sapiens ViT + ML-Decoder).",
        epilog="Exit codes: 0 all inputs succeeded, 1 some inputs failed, 2 usage or fatal error.",
    )
    parser.add_argument("--version", action="version", version=f"motivnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for register in COMMANDS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("motivnet: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        # Fatal for the whole command: one clear line, no traceback.
        print(f"motivnet {args.command}: error: {e}", file=sys.stderr)
        return EXIT_FATAL


if __name__ == "__main__":
    sys.exit(main())
