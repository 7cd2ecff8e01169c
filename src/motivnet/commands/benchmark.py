"""``motivnet benchmark``: images/s and ms/image of the model alone and end to end, FLOPs and the
share of the machine's (measured) peak it reaches."""
from __future__ import annotations

import argparse
import json
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from .predict import add_fast_path_options

SAMPLE_IMAGE = Path(__file__).resolve().parents[3] / "samples" / "astronaut.jpg"
DEFAULT_CONFIG = "default-p16"  # the small default model's training config (random weights)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "benchmark",
        help="measure inference speed, FLOPs and the share of peak reached",
        description="Time the classifier alone (batch 1 and batched) and the whole pipeline "
        "(decode + detect + align + classify), count the model's FLOPs and compare with the "
        "machine's peak, measured on the spot with a large float32 matmul.",
    )
    src = p.add_argument_group("model (default: the bundled default model; without one, --config default-p16 with random weights)")
    src.add_argument("--weights", "-w", help="model folder, checkpoint, ensemble folder, bundled model name or .onnx file")
    src.add_argument("--config", help="a training config (bundled name such as default-p16 or paper, or a YAML file): random weights")
    src.add_argument("--encoder", help="encoder name (sapiens-tiny ... sapiens-2b): random weights")
    src.add_argument("--image-size", type=int, nargs=2, metavar=("H", "W"), help="input size (random-weight models only)")
    src.add_argument("--decoder-dim", type=int, help="decoder width with --encoder (default: 1152, the paper's)")
    p.add_argument("--batch-size", type=int, default=32, help="batch for the batched measurement (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before timing (default: %(default)s)")
    p.add_argument("--iters", type=int, default=10, help="timed calls per measurement (default: %(default)s)")
    p.add_argument("--images", nargs="+", type=Path, metavar="PATH", help="images for the end-to-end run (default: samples/astronaut.jpg)")
    p.add_argument("--detector", default="auto", help="face detector for the end-to-end run (default: %(default)s)")
    p.add_argument("--no-detect", action="store_true", help="end to end without detection (whole images are faces)")
    p.add_argument("--skip-e2e", action="store_true", help="time the model alone only")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--peak-size", type=int, default=2048, metavar="N", help="side of the matmul that measures peak (default: %(default)s)")
    add_fast_path_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..backends import InferenceOptions, attention_kernels, build_classifier, cpu_has_native_bf16
    from ..ensemble import Ensemble, load_ensemble
    from ..flops import counted_flops, model_flops
    from ..perf import cpu_info, measured_peak_flops, theoretical_peak, time_calls

    if args.iters < 1 or args.warmup < 0 or args.batch_size < 1:
        raise ValueError("--iters and --batch-size must be >= 1, --warmup >= 0")
    options = InferenceOptions(bf16=args.bf16, int8=args.int8, compile=args.compile, threads=args.threads)
    if args.threads:
        torch.set_num_threads(args.threads)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        weights = args.weights or (None if (args.encoder or args.config or args.image_size) else _bundled())
        if weights:
            if args.encoder or args.config or args.image_size:
                raise ValueError("--weights fixes the model: drop --config/--encoder/--image-size")
            ensemble = load_ensemble(weights, args.backend, options)  # one model is an ensemble of one
            source, random_weights = str(weights), False
        else:
            ensemble = Ensemble([build_classifier(_random_model(args), args.backend, options)])
            source, random_weights = _random_source(args), True
    notes = [str(w.message) for w in caught]
    members = ensemble.classifiers
    configs = [c.config for c in members]
    # An ensemble runs every member on each face: its FLOPs are their sum.
    flops = model_flops(configs[0]) if len(members) == 1 else {n: model_flops(c)["total"] for n, c in zip(ensemble.names, configs)}
    flops["total"] = sum(model_flops(c)["total"] for c in configs)
    counted = sum(counted_flops(c) for c in configs)
    report: dict[str, Any] = {
        "model": source,
        "random_weights": random_weights,
        "config": _describe(configs[0]),
        "backend": args.backend,
        "options": options.describe(),
        "machine": cpu_info(),
        "native_bf16": cpu_has_native_bf16(),
        "notes": notes,
        "flops_per_image": flops["total"],
        "flops_by_part": flops,
        "flops_counted": counted,
    }
    if len(members) > 1:
        report["ensemble_members"] = [{"weights": n, **_describe(c)} for n, c in zip(ensemble.names, configs)]
    if args.backend == "torch":
        kernels: Counter[str] = Counter()
        for c in members:
            h, w = c.config.image_size
            kernels.update(attention_kernels(c.model, torch.zeros(1, 3, h, w)))  # type: ignore[attr-defined]
        report["attention_kernels"] = dict(kernels)
    # A bf16 model is measured against the bf16 matmul peak, everything else against float32's.
    peak_dtype = torch.bfloat16 if options.bf16 and args.backend == "torch" else torch.float32
    peak = measured_peak_flops(args.peak_size, dtype=peak_dtype)
    theory = theoretical_peak()
    report["peak_measured_flops"] = peak
    n = args.peak_size
    dtype_name = str(peak_dtype).removeprefix("torch.")
    report["peak_how"] = (f"best {dtype_name} {n}x{n} @ {n}x{n} matmul in torch, {torch.get_num_threads()} threads, "
                          "measured before and after the model runs")
    report["peak_theoretical_flops"], report["peak_theoretical_how"] = theory if theory else (None, None)

    gen = torch.Generator().manual_seed(0)
    model_runs = {}
    for batch in sorted({1, args.batch_size}):
        xs = [torch.randn(batch, 3, *c.image_size, generator=gen) for c in configs]
        t = time_calls(lambda xs=xs: [m(x) for m, x in zip(members, xs)], args.warmup, args.iters)
        per_image = t.median / batch
        model_runs[f"batch_{batch}"] = {
            "batch": batch,
            "ms_per_image": per_image * 1e3,
            "ms_per_batch": t.median * 1e3,
            "images_per_s": 1 / per_image,
            "gflops_per_s": flops["total"] / per_image / 1e9,
            "fraction_of_measured_peak": flops["total"] / per_image / peak,
            "timing": t.to_dict(),
        }
    # Peak again after the runs, keeping the best: another process may have held a core at first.
    peak = max(peak, measured_peak_flops(args.peak_size, dtype=peak_dtype))
    report["peak_measured_flops"] = peak
    for run in model_runs.values():
        run["fraction_of_measured_peak"] = run["gflops_per_s"] * 1e9 / peak
    report["model_alone"] = model_runs
    if not args.skip_e2e:
        report["end_to_end"] = _end_to_end(args, ensemble, time_calls)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_text(report))
    return 0


def _bundled() -> Path | None:
    from ..bundled import NoDefaultModelError, default_weights

    try:
        return default_weights()
    except NoDefaultModelError:
        return None


def _random_model(args: argparse.Namespace) -> "torch.nn.Module":
    from ..models import MotivNet, MotivNetConfig

    torch.manual_seed(0)
    if args.encoder:
        if args.config:
            raise ValueError("give --config or --encoder, not both")
        kwargs = {"decoder_dim": args.decoder_dim} if args.decoder_dim else {}
        cfg = MotivNetConfig.build(args.encoder, image_size=tuple(args.image_size) if args.image_size else None, **kwargs)
        return MotivNet(cfg).eval()
    from ..train.config import load_config
    from ..train.setup import build_model

    overrides = [f"model.image_size=[{args.image_size[0]},{args.image_size[1]}]"] if args.image_size else []
    model_cfg = load_config(args.config or DEFAULT_CONFIG, overrides).model
    model_cfg.init_from = None
    return build_model(model_cfg).eval()


def _random_source(args: argparse.Namespace) -> str:
    if args.encoder:
        return f"--encoder {args.encoder}" + (f" --image-size {args.image_size[0]} {args.image_size[1]}" if args.image_size else "")
    return f"--config {args.config or DEFAULT_CONFIG}"


def _describe(config: Any) -> dict[str, Any]:
    enc, dec = config.encoder, config.decoder
    gh, gw = enc.image_size[0] // enc.patch_size, enc.image_size[1] // enc.patch_size
    return {
        "encoder": config.encoder_name or "custom",
        "embed_dim": enc.embed_dim,
        "depth": enc.depth,
        "heads": enc.num_heads,
        "patch": enc.patch_size,
        "image_size": list(enc.image_size),
        "tokens": gh * gw,
        "decoder_dim": dec.embed_dim,
        "decoder_layers": dec.num_layers,
        "classes": len(config.labels),
        "parameters": _param_count(config),
    }


def _param_count(config: Any) -> int:
    from ..models import MotivNet

    with torch.device("meta"):
        return sum(p.numel() for p in MotivNet(config).parameters())


def _end_to_end(args: argparse.Namespace, ensemble: Any, time_calls: Any) -> dict[str, Any]:
    """Whole pipeline on files, then each stage alone (ms/image), in the recognizer's order."""
    import time

    from ..faces import align_face
    from ..preprocess import decode_image
    from ..recognizer import EmotionRecognizer

    images = args.images or [SAMPLE_IMAGE]
    for path in images:
        if not Path(path).is_file():
            raise FileNotFoundError(f"{path}: no such image for the end-to-end run (give --images PATH...)")
    rec = EmotionRecognizer(ensemble, detector=None if args.no_detect else args.detector, batch_size=args.batch_size)
    paths = [str(p) for p in images]
    records = rec.predict(paths)
    faces = sum(r.ok for r in records)
    t = time_calls(lambda: rec.predict(paths), max(1, args.warmup), args.iters)
    stages = {"decode": 0.0, "detect": 0.0, "align": 0.0, "preprocess": 0.0, "classify": 0.0}
    for _ in range(args.iters):
        crops = []
        for p in paths:
            t0 = time.perf_counter()
            rgb = decode_image(p)
            t1 = time.perf_counter()
            found = rec.detector.detect(rgb) if rec.detector is not None else None
            t2 = time.perf_counter()
            crops += [align_face(rgb, f) for f in found] if found is not None else [rgb]
            t3 = time.perf_counter()
            stages["decode"] += t1 - t0
            stages["detect"] += t2 - t1
            stages["align"] += t3 - t2
        if crops:
            t0 = time.perf_counter()
            views = rec.views(crops)  # per model, (B, 1, 3, H, W)
            t1 = time.perf_counter()
            rec.ensemble.log_probs(views)
            t2 = time.perf_counter()
            stages["preprocess"] += t1 - t0
            stages["classify"] += t2 - t1
    n = len(paths) * args.iters
    return {
        "images": paths,
        "faces": faces,
        "detector": "none (--no-detect)" if args.no_detect else args.detector,
        "ms_per_image": t.median / len(paths) * 1e3,
        "images_per_s": len(paths) / t.median,
        "faces_per_s": faces / t.median,
        "stage_ms_per_image": {k: v / n * 1e3 for k, v in stages.items()},
        "timing": t.to_dict(),
    }


def _text(r: dict[str, Any]) -> str:
    c, m = r["config"], r["machine"]
    lines = []
    if r["random_weights"]:
        lines.append(f"model: {r['model']} with RANDOM weights: for benchmarking only, its predictions mean nothing")
    else:
        lines.append(f"model: {r['model']}")
    members = r.get("ensemble_members")
    if members:
        lines.append(f"ensemble of {len(members)} models (each face: the mean of their probabilities; every number below covers them all):")
    for c in members or [c]:
        lines.append(
            f"{'  ' + c['weights'] + ': ' if members else 'config: '}{c['encoder']} {c['embed_dim']}x{c['depth']} ({c['heads']} heads, "
            f"patch {c['patch']}), input {c['image_size'][0]}x{c['image_size'][1]} = {c['tokens']} tokens, decoder "
            f"{c['decoder_dim']}x{c['decoder_layers']}, {c['classes']} classes, {c['parameters'] / 1e6:.2f} M parameters"
        )
    lines.append(
        f"backend: {r['backend']} ({r['options']}); machine: {m['cpu']}, {m['torch_threads']} torch threads, SIMD {m['simd']}, "
        f"native bf16: {'yes' if r['native_bf16'] else 'no'}, load average {m['load_avg_1min']} "
        "(other processes slow every number below)"
    )
    for note in r["notes"]:
        lines.append(f"note: {note}")
    if "attention_kernels" in r:
        kernels = ", ".join(f"{k} x{v}" for k, v in r["attention_kernels"].items()) or "none found"
        lines.append(f"attention kernels (torch profiler, one forward): {kernels}")
    same = "FlopCounterMode agrees" if r["flops_counted"] == r["flops_per_image"] else f"FlopCounterMode: {r['flops_counted'] / 1e9:.4g}"
    lines.append(f"FLOPs per image: {r['flops_per_image'] / 1e9:.4g} GFLOP (analytic from the config; {same})")
    peak = f"peak: measured {r['peak_measured_flops'] / 1e9:.1f} GFLOP/s ({r['peak_how']})"
    if r["peak_theoretical_flops"]:
        peak += f"; theoretical {r['peak_theoretical_flops'] / 1e9:.0f} GFLOP/s ({r['peak_theoretical_how']})"
    lines.append(peak)
    lines.append("model alone (random normalised input, preprocessing excluded):")
    for run in r["model_alone"].values():
        lines.append(
            f"  batch {run['batch']:>3}: {run['ms_per_image']:8.2f} ms/image  {run['images_per_s']:9.1f} images/s  "
            f"{run['gflops_per_s']:7.1f} GFLOP/s  {100 * run['fraction_of_measured_peak']:5.1f}% of measured peak"
        )
    e = r.get("end_to_end")
    if e:
        lines.append(f"end to end (decode + detect + align + classify; detector {e['detector']}), {len(e['images'])} image(s), {e['faces']} face(s):")
        lines.append(f"  {e['ms_per_image']:.1f} ms/image  {e['images_per_s']:.2f} images/s  {e['faces_per_s']:.2f} faces/s")
        lines.append("  stages, ms/image: " + ", ".join(f"{k} {v:.1f}" for k, v in e["stage_ms_per_image"].items()))
    return "\n".join(lines)
