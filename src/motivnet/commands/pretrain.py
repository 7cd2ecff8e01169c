"""``motivnet pretrain SOURCE... --run-dir DIR``: MAE pretraining of the encoder on unlabelled faces."""
from __future__ import annotations

import argparse
import sys
from typing import Any

# flag dest -> PretrainConfig key, for the flags that map one to one
_KEYS = (
    "encoder", "image_size", "patch_size", "mask_ratio", "epochs", "batch_size", "lr", "min_lr", "weight_decay",
    "warmup_epochs", "grad_clip", "crop_scale", "decoder_dim", "decoder_depth", "decoder_heads", "decoder_pos_embed",
    "seed", "threads", "workers", "save_every_steps", "grad_checkpointing", "amp", "progress",
)


def register(sub: argparse._SubParsersAction) -> None:
    from ..train.pretrain import PretrainConfig

    d = PretrainConfig()
    p = sub.add_parser(
        "pretrain",
        help="pretrain the encoder as a masked autoencoder on unlabelled face images",
        description="Masked-autoencoder (MAE) pretraining of the Sapiens encoder on unlabelled images, as Sapiens "
        "itself was pretrained. Every image under the SOURCE folders is used (recursively; class folders are fine, "
        "labels are ignored); unreadable files are skipped with a warning. Writes RUN_DIR/encoder/ "
        "(config.json + model.safetensors) after every epoch, plus metrics.csv and state.pt for --resume. "
        "Then fine-tune: motivnet train --config cpu-small --set model.init_encoder=RUN_DIR",
    )
    p.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="image folders (recursive), files or globs; optional with --resume (the run's own are reused)")
    p.add_argument("--run-dir", required=True, help="output folder; must not hold a run unless --resume")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --run-dir from its state.pt, with its saved settings "
                   "(only --epochs, --threads, --workers, --save-every-steps, --no-progress and SOURCE may change)")
    a = p.add_argument_group("model")
    a.add_argument("--encoder", metavar="NAME", help=f"named encoder size, e.g. sapiens-tiny, sapiens-small, sapiens-0.3b (default: {d.encoder})")
    a.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="input size (default: the encoder's)")
    a.add_argument("--patch-size", metavar="P", type=int, help="patch size (default: the encoder's, 16 with padding 2)")
    a.add_argument("--mask-ratio", metavar="R", type=float, help=f"fraction of patches hidden from the encoder (default: {d.mask_ratio})")
    a.add_argument("--decoder-dim", metavar="D", type=int, help=f"MAE decoder width (default: {d.decoder_dim})")
    a.add_argument("--decoder-depth", metavar="N", type=int, help=f"MAE decoder blocks (default: {d.decoder_depth})")
    a.add_argument("--decoder-heads", metavar="N", type=int, help=f"MAE decoder attention heads (default: {d.decoder_heads})")
    a.add_argument("--decoder-pos-embed", choices=["sincos", "learned"], help=f"(default: {d.decoder_pos_embed})")
    a.add_argument("--amp", choices=["none", "bf16", "fp16"],
                   help=f"mixed-precision forward pass (default: {d.amp}); bf16 is about 2x faster on CPUs with AVX512_BF16")
    a.add_argument("--grad-checkpointing", action="store_true", default=None, help="recompute encoder blocks in backward")
    o = p.add_argument_group("optimisation")
    o.add_argument("--epochs", metavar="N", type=int, help=f"(default: {d.epochs})")
    o.add_argument("--batch-size", metavar="B", type=int, help=f"(default: {d.batch_size}); the last partial batch of an epoch is dropped")
    o.add_argument("--lr", metavar="LR", type=float, help="peak learning rate (default: 1.5e-4 * batch size / 256, MAE's rule)")
    o.add_argument("--min-lr", metavar="LR", type=float, help=f"learning rate at the end of the cosine (default: {d.min_lr})")
    o.add_argument("--weight-decay", metavar="WD", type=float, help=f"AdamW weight decay (default: {d.weight_decay})")
    o.add_argument("--warmup-epochs", metavar="E", type=float, help=f"linear warmup before the cosine decay (default: {d.warmup_epochs})")
    o.add_argument("--grad-clip", metavar="NORM", type=float, help="clip the gradient norm (default: no clipping)")
    o.add_argument("--crop-scale", type=float, nargs=2, metavar=("MIN", "MAX"),
                   help=f"random resized crop area range (default: {d.crop_scale[0]} {d.crop_scale[1]})")
    o.add_argument("--seed", metavar="S", type=int, help=f"(default: {d.seed})")
    r = p.add_argument_group("running")
    r.add_argument("--threads", metavar="N", type=int, help="torch intra-op threads")
    r.add_argument("--workers", metavar="N", type=int, help=f"data-loading processes (default: {d.workers})")
    r.add_argument("--save-every-steps", metavar="N", type=int, help="also write state.pt every N steps (default: each epoch only)")
    r.add_argument("--no-progress", dest="progress", action="store_false", default=None, help="no progress bar")
    p.set_defaults(run=run)


def config_from_args(args: argparse.Namespace) -> Any:
    """A PretrainConfig: the flags given over the defaults, or over the run's own config with --resume."""
    from ..train.pretrain import PretrainConfig, load_run_config

    given = {k: getattr(args, k) for k in _KEYS if getattr(args, k) is not None}
    for k in ("image_size", "crop_scale"):
        if k in given:
            given[k] = list(given[k])
    if args.sources:
        given["sources"] = list(args.sources)
    base = load_run_config(args.run_dir).to_dict() if args.resume else {}
    return PretrainConfig.from_dict({**base, **given, "run_dir": args.run_dir})


def run(args: argparse.Namespace) -> int:
    from ..train.pretrain import pretrain

    if not args.sources and not args.resume:
        raise ValueError("give at least one SOURCE (a folder of images), or --resume")
    out = pretrain(config_from_args(args), resume=args.resume)
    print(f"pretrained encoder: {out}", file=sys.stderr)
    print(f"fine-tune it with: motivnet train --config CONFIG --set model.init_encoder={out.parent}", file=sys.stderr)
    return 0
