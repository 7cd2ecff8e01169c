"""``motivnet export``: a model as one self-describing ONNX file (dynamic batch axis); models over
~1.8 GB keep their weights in a sidecar ``NAME.onnx.data`` beside it (ONNX external data)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ("onnx",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to ONNX",
        description="Write the classifier as ONNX (input 'images' (batch, 3, H, W) normalised float32, "
        "output 'logits'), with labels, image size, mean/std and resize policy in its metadata, "
        "then check it with onnx.checker and compare onnxruntime's logits with torch's. Weights over "
        "1.8 GB (Sapiens 1B/2B) go to OUTPUT.data beside it (ONNX external data; keep the two together).",
    )
    p.add_argument("--weights", "-w", required=True, help="model folder, bundled model name or any checkpoint 'convert' reads")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="output format (default: %(default)s)")
    p.add_argument("--output", "-o", type=Path, help="output file (default: model.onnx inside the --weights folder)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset, 17 or later (default: 17)")
    p.add_argument("--exporter", choices=("legacy", "dynamo"), default="legacy",
                   help="torch exporter: TorchScript-based 'legacy' or torch.export-based 'dynamo' (needs onnxscript)")
    p.add_argument("--int8", action="store_true", help="dynamic int8 quantisation of the MatMul weights (onnxruntime)")
    p.add_argument("--force", action="store_true", help="replace an existing output file (and its .onnx.data sidecar)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..export import DEFAULT_OPSET, PARITY_ATOL, export_onnx, external_data_files, onnx_parity, sidecar
    from ..bundled import resolve_weights
    from ..ensemble import ensemble_members, is_ensemble
    from ..recognizer import load_model

    weights = resolve_weights(args.weights)
    if is_ensemble(weights):
        members = ", ".join(map(str, ensemble_members(weights)))
        raise ValueError(f"{weights} is an ensemble; export each of its members instead ({members})")
    out = args.output or (weights / "model.onnx" if weights.is_dir() else weights.with_suffix(".onnx"))
    for target in (out, sidecar(out)):  # the sidecar is written only for large models; never clobbered either way
        if target.resolve() == weights.resolve():
            raise ValueError(f"--output {out} would overwrite the weights file {weights}; refusing")
        if target.exists() and not args.force:
            raise ValueError(f"{target} exists; pass --force to replace it")
    model = load_model(weights)
    export_onnx(model, out, opset=args.opset or DEFAULT_OPSET, exporter=args.exporter, int8=args.int8)
    diff = onnx_parity(model, out)
    h, w = model.config.image_size
    files = [out, *external_data_files(out)]
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"motivnet export: wrote {' + '.join(map(str, files))} ({size:.1f} MB, opset {args.opset or DEFAULT_OPSET}, "
          f"input (batch, 3, {h}, {w}), {len(model.labels)} labels{', int8' if args.int8 else ''})", file=sys.stderr)
    bound = "" if args.int8 else f" (bound {PARITY_ATOL:g})"
    print(f"motivnet export: onnx.checker passed; max |logit difference| torch vs onnxruntime, batch 1 and 3: {diff:.2e}{bound}",
          file=sys.stderr)
    if not args.int8 and diff > PARITY_ATOL:
        print(f"motivnet export: error: parity {diff:.2e} exceeds {PARITY_ATOL:g}", file=sys.stderr)
        return 2
    return 0
