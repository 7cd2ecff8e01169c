"""``motivnet train --config FILE [--set key=value ...]``: the CLI adapter of ``train``.

The same command runs under ``torchrun --nproc_per_node N -m motivnet.train ...`` for
DistributedDataParallel (or ``--distributed fsdp``).
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence


def add_train_args(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the ``train`` verb on a subparsers object; sets ``run=run_train``."""
    p = sub.add_parser(
        "train",
        help="train or fine-tune MotivNet from a YAML config",
        description="Train MotivNet. Config: a YAML file or a bundled name (paper, cpu-small). "
        "Any key can be overridden with --set section.key=value (values are YAML, e.g. [112,112], null, 1e-5).",
    )
    add_arguments(p)
    p.set_defaults(run=run_train)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="YAML config path, or a bundled config: paper, cpu-small")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set optim.decoder_lr=1e-4 (repeatable)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="STATE",
                   help="continue a stopped run from RUN_DIR/state.pt (or the given state file)")
    p.add_argument("--run-dir", help="output folder (config key run_dir)")
    p.add_argument("--data", help="training dataset path (config key data.train.path)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int, help="per process")
    p.add_argument("--grad-accum", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--amp", choices=["none", "bf16", "fp16"])
    p.add_argument("--ema-decay", type=float, metavar="D",
                   help="validate and export a moving average of the weights, e.g. 0.998 (config key ema_decay)")
    p.add_argument("--max-steps", type=int, help="stop (resumably) after this many optimizer steps")
    p.add_argument("--skip-bad", action="store_true", default=None,
                   help="skip and count malformed rows, missing files and unknown labels instead of failing")
    p.add_argument("--freeze-encoder", action="store_true", default=None, help="train the head only, on cached encoder features")
    p.add_argument("--distributed", choices=["auto", "none", "ddp", "fsdp"])
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bar")


def overrides_from_args(args: argparse.Namespace) -> list[str]:
    """The flags as ``key=value`` overrides, applied after ``--set`` ones."""
    flags = {
        "run_dir": args.run_dir, "epochs": args.epochs, "batch_size": args.batch_size, "grad_accum": args.grad_accum,
        "seed": args.seed, "amp": args.amp, "ema_decay": args.ema_decay, "max_steps": args.max_steps, "data.skip_bad": args.skip_bad,
        "optim.freeze_encoder": args.freeze_encoder, "distributed": args.distributed, "threads": args.threads,
        "progress": args.progress,
    }
    out = list(args.overrides)
    if args.data:
        out.append(f"data.train.path='{args.data}'")
    out += [f"{k}={_yaml(v)}" for k, v in flags.items() if v is not None]
    return out


def _yaml(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f"'{v}'"
    return str(v)


def run_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .engine import train

    config = load_config(args.config, overrides_from_args(args))
    best = train(config, resume=args.resume)
    print(f"best checkpoint: {best}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m motivnet.train`` (what torchrun launches)."""
    p = argparse.ArgumentParser(prog="motivnet-train")
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_train(args)
    except (OSError, ValueError, KeyError) as e:
        print(f"motivnet train: error: {e}", file=sys.stderr)
        return 2


register = add_train_args  # the commands registry's convention

__all__ = ["add_train_args", "main", "register", "run_train"]
