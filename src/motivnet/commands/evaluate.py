"""``motivnet evaluate --weights W DATASET... [--predictions FILE ...]``: score our model and
other systems' prediction files on labelled datasets, in one table, and write a report folder
(report.json, report.md, confusion-matrix PNGs, our per-sample predictions).

The model can run through any CPU fast-path switch of ``predict`` (``--backend onnx``, ``--int8``,
``--bf16``, ``--compile``), so each switch's change in accuracy can be measured; the report's
system name and options say which one ran."""
from __future__ import annotations

import argparse
import re
import shlex
import sys
from pathlib import Path
from typing import Any

from ..data.open import FORMATS
from ..faces import NO_FACE_CHOICES
from .predict import add_fast_path_options, add_tta_options

SPLIT_NAMES = {"train", "training", "val", "valid", "validation", "test"}
# A dataset argument ``NAME=PATH``; the name must look like an identifier, not a path.
NAMED = re.compile(r"([A-Za-z0-9_.+-]+)=(.+)")


class _PredictionsFile(argparse.Action):
    """--predictions FILE: starts a new entry that a following --system/--dataset-name fills in."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        items = list(getattr(namespace, self.dest) or [])
        items.append({"path": values})
        setattr(namespace, self.dest, items)


class _ForPredictionsFile(argparse.Action):
    """--system / --dataset-name: name the groups of the --predictions FILE just before it."""

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[no-untyped-def]
        items = getattr(namespace, "prediction_files", None)
        if not items:
            parser.error(f"{option_string} must follow the --predictions FILE it applies to")
        if self.dest in items[-1]:
            parser.error(f"{option_string} given twice for --predictions {items[-1]['path']}")
        items[-1][self.dest] = values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a model (and other systems' prediction files) on labelled datasets; write a report",
        description="Evaluate on labelled datasets: accuracy, macro/per-class precision, recall and F1, macro "
        "AUROC, cross-entropy, ECE and confusion matrices, scored on the classes the system and each dataset "
        "share. Writes report.json, report.md and PNGs into a new folder.",
        epilog="Predictions CSV: header file,target,prob_<class>,... [,system][,dataset]; a row with empty prob "
        "cells is a failure of the system (scored as wrong). Exit codes: 0 success, 1 some datasets, files or "
        "images failed (named on stderr), 2 usage or fatal error.",
    )
    p.add_argument("datasets", nargs="*", metavar="DATASET",
                   help="[NAME=]PATH of a labelled dataset (class folders, AffectNet csv, FER2013 csv, YOLO, JSON, "
                        "CK+ and JAFFE as distributed)")
    p.add_argument("--weights", "-w", help="model folder, checkpoint, ensemble folder or bundled model name to evaluate on the DATASETs")
    p.add_argument("--name", help="the model's name in the report (default: from the weights path)")
    p.add_argument("--predictions", dest="prediction_files", action=_PredictionsFile, default=[], metavar="FILE",
                   help="another system's predictions CSV (repeatable)")
    p.add_argument("--system", dest="system", action=_ForPredictionsFile, metavar="NAME",
                   help="system name for the preceding --predictions FILE (default: its system column, or the file name)")
    p.add_argument("--dataset-name", dest="dataset", action=_ForPredictionsFile, metavar="NAME",
                   help="dataset name for the preceding --predictions FILE (default: its dataset column, or the file name)")
    p.add_argument("--out", "-o", type=Path, help="report folder (default: runs/evaluate/<timestamp>; never overwritten)")
    p.add_argument("--batch-size", type=int, default=32, help="images per model batch (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N samples of each dataset, taking classes in turn")
    add_tta_options(p, "image")
    p.add_argument("--detect", action="store_true",
                   help="score each image's largest face, detected and aligned as predict does (for whole frames: CK+, JAFFE, "
                        "photos); images without a face are failures")
    p.add_argument("--no-face", choices=NO_FACE_CHOICES, default="error",
                   help="with --detect, an image in which no face is found: a failure, scored as wrong (default), "
                        "or 'whole': scored on the whole image, as predict --no-face whole does")
    p.add_argument("--detector", default="auto", help="face detector backend for --detect (default: %(default)s)")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="dataset format (default: %(default)s)")
    p.add_argument("--labels", help="the datasets' label set when it cannot be inferred: affectnet8, affectnet7, fer2013 "
                   "or a comma-separated class list")
    p.add_argument("--split", help="split to read from dataset roots that hold several (train, val, test)")
    p.add_argument("--ece-bins", type=int, default=15, help="confidence bins of the ECE (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    add_fast_path_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    usage = _usage_error(args)
    if usage:
        print(f"motivnet evaluate: error: {usage}", file=sys.stderr)
        return 2
    from ..backends import InferenceOptions, variant_name
    from ..ensemble import load_ensemble
    from ..evaluation import criteria, new_report_dir, write_report
    from ..evaluation.markdown import results_table

    problems: list[str] = []

    def problem(text: str) -> None:
        problems.append(text)
        print(f"motivnet evaluate: {text}", file=sys.stderr)

    options = InferenceOptions(bf16=args.bf16, int8=args.int8, compile=args.compile, threads=args.threads)
    variant = variant_name(args.backend, options)
    model = load_ensemble(args.weights, args.backend, options, args.device) if args.weights else None
    detector = None
    if args.detect and model is not None:
        from ..faces import get_detector

        detector = get_detector(args.detector)
    system = args.name or (_system_name(args.weights, variant) if args.weights else "")
    results, saved = [], []
    for name, path in _dataset_specs(args.datasets):
        outputs = _run_dataset(args, model, detector, system, name, path, problem)
        if outputs is not None:
            saved.append(outputs)
            results.append(_score(outputs, args.ece_bins, problem))
    aliases = _dataset_aliases(saved)
    known = {alias: o.dataset_classes for o in saved for alias, name in aliases.items() if name == o.dataset}
    for spec in args.prediction_files:
        for outputs in _read_file(spec, known, problem):
            outputs.dataset = aliases.get(outputs.dataset, outputs.dataset)  # one table row group per dataset
            results.append(_score(outputs, args.ece_bins, problem))
    results = [r for r in results if r is not None]
    if not results:
        print("motivnet evaluate: error: nothing could be evaluated", file=sys.stderr)
        return 2

    out_dir = new_report_dir(args.out)
    paths = write_report(
        out_dir, results, criteria(_shapes_only(model), model.names[0] if model else None, results), save_outputs=saved,
        model=_model_info(model, args.weights, system, args.backend, variant), options=_options(args, variant),
        command=_command(args),
        problems=problems, ece_bins=args.ece_bins,
    )
    print("\n".join(results_table([r.to_dict() for r in results])))
    print(f"motivnet evaluate: wrote {paths['md']} and {paths['json']}", file=sys.stderr)
    return 1 if problems else 0


def _usage_error(args: argparse.Namespace) -> str | None:
    if not args.datasets and not args.prediction_files:
        return "nothing to evaluate: give DATASETs with --weights, and/or --predictions FILE"
    if args.datasets and not args.weights:
        return "DATASET arguments need --weights (the model to evaluate on them)"
    if args.weights and not args.datasets:
        return "--weights needs at least one DATASET to evaluate the model on"
    if args.batch_size < 1 or (args.limit is not None and args.limit < 1) or args.ece_bins < 1:
        return "--batch-size, --limit and --ece-bins must be >= 1"
    if args.no_face != "error" and not args.detect:
        return "--no-face applies to --detect (without it every image is scored whole already)"
    names = [n for n, _ in _dataset_specs(args.datasets)]
    if len(set(names)) != len(names):
        return f"two datasets have the same name ({', '.join(names)}); name them NAME=PATH"
    return None


def _dataset_specs(items: list[str]) -> list[tuple[str, str]]:
    """(name, path) per DATASET argument: ``NAME=PATH``, or a name made from the path."""
    specs = []
    for item in items:
        m = NAMED.fullmatch(item)
        if m and not Path(item).exists():
            specs.append((m.group(1), m.group(2)))
            continue
        p = Path(item).expanduser()
        name = p.stem if p.suffix else p.name
        if name.lower() in SPLIT_NAMES and p.parent.name:
            name = f"{p.parent.name}-{name}"  # .../affectnet96/val -> affectnet96-val
        specs.append((name, item))
    return specs


def _dataset_aliases(evaluated: list[Any]) -> dict[str, str]:
    """Names a predictions file may use for a dataset evaluated here -> its name in this report:
    the name itself, the full path, ``parent/folder`` and, for a split folder such as
    ``affectnet96/val``, the root's name ``affectnet96`` when no other dataset here claims it."""
    out: dict[str, str] = {}
    roots: dict[str, set[str]] = {}
    for o in evaluated:
        p = Path(o.source).expanduser().resolve()
        for alias in (str(p), f"{p.parent.name}/{p.name}"):
            out[alias] = o.dataset
        if p.name.lower() in SPLIT_NAMES:
            roots.setdefault(p.parent.name, set()).add(o.dataset)
    for root, names in roots.items():
        if len(names) == 1 and root not in out:
            out[root] = next(iter(names))
    out.update({o.dataset: o.dataset for o in evaluated})  # a report name always means itself
    return out


def _run_dataset(
    args: argparse.Namespace, model: Any, detector: Any, system: str, name: str, path: str, problem: Any
) -> Any:
    """Open one dataset and run the model over it; None (and a problem) if it cannot be opened."""
    from tqdm import tqdm

    from ..data import open_dataset
    from ..evaluation import interleaved_first, present_classes, run_model

    labels = args.labels.split(",") if args.labels and "," in args.labels else args.labels
    try:
        ds = open_dataset(path, format=args.format, labels=labels, split=args.split, skip_bad=True)
    except (OSError, ValueError, KeyError) as e:
        problem(f"{name}: cannot open dataset {path}: {e}")
        return None
    if ds.skipped:
        problem(f"{name}: {len(ds.skipped)} bad entries skipped, e.g. {ds.skipped[0]}")
    excluded = ", ".join(f"{k} {v}" for k, v in sorted(ds.excluded.items()))
    if args.labels is None:
        ds = present_classes(ds)  # score on the classes the data holds, not the reader's default set
    if args.limit is not None:
        ds = ds.subset(interleaved_first(ds.targets, args.limit))
    if len(ds) == 0:
        problem(f"{name}: no samples in {path}")
        return None
    bar = tqdm(total=len(ds), desc=name, unit="img", file=sys.stderr, disable=args.no_progress or None)
    failures: list[str] = []
    outputs = run_model(
        model, ds, system=system, dataset_name=name, batch_size=args.batch_size, device=args.device,
        tta=args.tta, present_only=False,  # classes already settled above, before --limit
        detector=detector, no_face=args.no_face,
        on_error=lambda i, why: failures.append(f"{i}: {why}"), on_batch=bar.update,
    )
    bar.close()
    outputs.source = str(path)
    if failures:
        problem(f"{name}: {len(failures)} images could not be read or had no face (scored as failures), e.g. {failures[0]}")
    if excluded:
        outputs.notes.append(f"left out when reading the dataset (outside its label set): {excluded}")
    if args.limit is not None:
        outputs.notes.append(f"--limit {args.limit}: the first {len(ds)} samples, taking classes in turn")
    return outputs


def _read_file(spec: dict[str, str], known: dict[str, tuple[str, ...]], problem: Any) -> list[Any]:
    from ..evaluation import read_predictions

    try:
        return read_predictions(spec["path"], system=spec.get("system"), dataset=spec.get("dataset"), dataset_classes=known)
    except (OSError, ValueError) as e:
        problem(f"cannot read predictions {spec['path']}: {e}")
        return []


def _score(outputs: Any, ece_bins: int, problem: Any) -> Any:
    from ..evaluation import evaluate_outputs

    try:
        return evaluate_outputs(outputs, ece_bins=ece_bins)
    except ValueError as e:
        problem(f"{outputs.system} on {outputs.dataset}: {e}")
        return None


def _model_name(weights: str) -> str:
    """runs/x/best -> 'x/best'; a folder or file otherwise by its name."""
    p = Path(weights)
    name = p.name if p.is_dir() else p.stem
    return f"{p.parent.name}/{name}" if name in ("best", "last") and p.parent.name else name


def _system_name(weights: str, variant: str) -> str:
    """The model's name, with the fast-path variant unless it is the exact float32 model: 'x/best (int8)'."""
    name = _model_name(weights)
    return name if variant == "fp32" else f"{name} ({variant})"


def _shapes_only(classifier: Any) -> Any:
    """A MotivNet of the classifier's config (an ensemble's first member's) on the meta device,
    for the architecture criterion: an int8 or onnxruntime classifier has no float parameters to
    count, and shapes suffice."""
    if classifier is None:
        return None
    import torch

    from ..models import MotivNet

    with torch.device("meta"):
        return MotivNet(classifier.config)


def _model_info(model: Any, weights: str | None, system: str, backend: str, variant: str) -> dict[str, Any] | None:
    if model is None:
        return None
    cfg = model.config
    info = {
        "weights": str(weights), "system": system, "labels": list(cfg.labels),
        "encoder_name": cfg.encoder_name, "image_size": list(cfg.image_size), "backend": backend, "variant": variant,
    }
    if len(model) > 1:  # an ensemble: the fields above are its first member's
        info["ensemble_members"] = [
            {"weights": name, "encoder_name": c.config.encoder_name, "image_size": list(c.config.image_size)}
            for name, c in zip(model.names, model.classifiers)
        ]
    return info


def _options(args: argparse.Namespace, variant: str) -> dict[str, Any]:
    return {
        "batch_size": args.batch_size, "device": args.device, "limit": args.limit, "tta": args.tta,
        "detect": args.detect, "detector": args.detector if args.detect else None,
        "no_face": args.no_face if args.detect else None,
        "format": args.format, "labels": args.labels, "split": args.split, "ece_bins": args.ece_bins,
        "backend": args.backend, "bf16": args.bf16, "int8": args.int8, "compile": args.compile,
        "threads": args.threads, "variant": variant,
    }


def _command(args: argparse.Namespace) -> str:
    """The command line, rebuilt from the parsed arguments."""
    parts = ["motivnet", "evaluate"]
    if args.weights:
        parts += ["--weights", args.weights]
    for flag, value in (("--name", args.name), ("--limit", args.limit), ("--labels", args.labels),
                        ("--split", args.split), ("--out", args.out)):
        if value is not None:
            parts += [flag, str(value)]
    if args.format != "auto":
        parts += ["--format", args.format]
    if args.tta != "none":
        parts += ["--tta", args.tta]
    if args.detect:
        parts += ["--detect"] + (["--detector", args.detector] if args.detector != "auto" else [])
        parts += ["--no-face", args.no_face] if args.no_face != "error" else []
    if args.backend != "torch":
        parts += ["--backend", args.backend]
    parts += [f"--{flag}" for flag in ("bf16", "int8", "compile") if getattr(args, flag)]
    if args.threads is not None:
        parts += ["--threads", str(args.threads)]
    parts += args.datasets
    for spec in args.prediction_files:
        parts += ["--predictions", spec["path"]]
        parts += ["--system", spec["system"]] if "system" in spec else []
        parts += ["--dataset-name", spec["dataset"]] if "dataset" in spec else []
    return shlex.join(parts)
