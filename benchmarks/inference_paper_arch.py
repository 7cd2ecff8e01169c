"""The paper's architecture (Sapiens-1B at 1024x768 + ML-Decoder, 7 classes) on one image: the
authors' float32 implementation against our CPU fast path, with identical random weights.

Reference = a faithful re-implementation of the authors' model (the one tests/test_checkpoints.py
checks the importer against): mmpretrain-style ViT attention with an explicit softmax(QK^T)V
(a 3072 x 3072 score matrix per head), and the public ML-Decoder with nn.MultiheadAttention
(sequence-first) and its Python-loop group FC. Ours = MotivNet with the same tensors (shared, not
copied: the authors' key layout goes through the checkpoint importer's remap), as these variants:

    fp32       torch float32, SDPA attention (flash kernel on CPU)
    bf16       predict's --bf16: a bfloat16 copy of the model (motivnet.backends.TorchClassifier),
               slower than fp32 on CPUs without native bf16
    bf16-compile   the same through torch.compile (predict's --bf16 --compile); compile time printed apart
    bf16-autocast  float32 weights under bfloat16 autocast (every weight re-cast on every call)
    int8       torch dynamic int8 Linear layers (motivnet.backends.quantize_int8)
    onnx       onnxruntime float32: our model through motivnet.export.export_onnx
    onnx-int8  onnxruntime dynamic int8: that export through motivnet.export.quantize_onnx

They run in that order whatever the order in --variants: int8 quantises the torch model in place,
so the (float32) ONNX export comes before it, and the torch model is freed before onnxruntime
loads its own copy. The ONNX int8 quantisation runs before either onnxruntime session: a session
that has run leaves memory behind after it is closed (~2 GiB per timed run at 3072 tokens here).
The export and the quantisation are one-off costs, timed and printed apart; their files go to a
temporary folder (under TMPDIR; at full depth ~9 GB of disk while the float32 export is written,
~5.5 GB after), deleted at the end.

    nice -n 10 python benchmarks/inference_paper_arch.py                 # full depth 40: minutes, ~10 GB
    nice -n 10 python benchmarks/inference_paper_arch.py --depth 4       # reduced depth, same width and tokens
    python benchmarks/inference_paper_arch.py --depth 4 --variants fp32,int8,onnx,onnx-int8

At full depth the ONNX variants need far more memory than the torch ones: the export peaks at ~4x
the float32 weights (~18 GiB for the 4.4 GiB model, extrapolated from depths 1-2 and a 20-block
export), the int8 quantisation at ~3x.

Prints seconds/image for each (best of --iters runs, no warm-up, the same for every variant), the
speed-up over the reference, the max |logit difference| and each step's peak resident memory with
the memory it started from (Linux: the peak is reset before each step, so it is that step's own).
Random weights: numbers measure speed and numerical agreement, not accuracy.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import functools
import gc
import json
import math
import resource
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from motivnet.backends import InferenceOptions, OnnxClassifier, TorchClassifier, cpu_has_native_bf16, quantize_int8
from motivnet.checkpoints.layouts import remap
from motivnet.export import export_onnx, quantize_onnx, sidecar
from motivnet.flops import model_flops
from motivnet.labels import AFFECTNET7
from motivnet.models import MLDecoderConfig, MotivNet, MotivNetConfig, SapiensConfig, load_state_dict_strict
from motivnet.perf import cpu_info, measured_peak_flops
from motivnet.reference.authors import RefMotivNet as AuthorsModel

#: Also the order they run in (see the module docstring).
VARIANTS = ("fp32", "bf16-autocast", "bf16", "bf16-compile", "int8", "onnx", "onnx-int8")
TORCH_FLOAT_VARIANTS = ("fp32", "bf16-autocast", "bf16", "bf16-compile")
ONNX_VARIANTS = ("onnx", "onnx-int8")


def RefMotivNet(depth: int, image_size: tuple[int, int]) -> AuthorsModel:  # noqa: N802 - reads like the class
    """The authors' float32 implementation at Sapiens-1B width (motivnet.reference.authors)."""
    return AuthorsModel(1536, depth, 24, (image_size[0] // 16, image_size[1] // 16), len(AFFECTNET7.classes), len(AFFECTNET7.classes))


def init_like_trained(model: nn.Module, seed: int) -> nn.Module:
    """Random weights with trained-network scales (Linear/conv std 0.02, norms near 1), so logits
    are O(1) and a logit difference means something."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=True).items():
            noise = torch.randn(t.shape, generator=gen)
            if "norm" in name or ".ln" in name or name.startswith("ln"):
                t.copy_(1 + 0.1 * noise if name.endswith("weight") else 0.02 * noise)
            elif "query_embed" in name:
                t.copy_(noise)
            elif "duplicate_pooling" in name and not name.endswith("bias"):
                t.copy_(noise / math.sqrt(t.shape[1]))
            else:
                t.copy_(0.02 * noise)
    return model.eval()


def ours_sharing(ref: AuthorsModel, depth: int, image_size: tuple[int, int]) -> MotivNet:
    """Our MotivNet holding the reference's tensors (no copy), through the importer's key table."""
    enc = SapiensConfig(embed_dim=1536, depth=depth, num_heads=24, image_size=image_size)
    dec = MLDecoderConfig(num_classes=7, in_dim=1536, embed_dim=1152, num_layers=2, num_heads=8, ffn_dim=2048)
    cfg = MotivNetConfig(encoder=enc, decoder=dec, labels=AFFECTNET7.classes, encoder_name="sapiens-1b")
    state, _ = remap(ref.state_dict(), "authors")
    with torch.device("meta"):
        model = MotivNet(cfg)
    load_state_dict_strict(model, state, source="reference", assign=True)
    return model.eval()


def run_once(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, iters: int) -> tuple[float, torch.Tensor]:
    """Best seconds of ``iters`` calls (no warm-up) and the last output, as float32."""
    best, out = float("inf"), None
    for _ in range(iters):
        t = time.perf_counter()
        with torch.inference_mode():
            out = fn(x)
        best = min(best, time.perf_counter() - t)
        gc.collect()
    return best, out.float()  # type: ignore[union-attr]


def reset_peak_rss() -> None:
    """Restart this process's peak-RSS count (Linux: ``5`` to /proc/self/clear_refs); elsewhere a
    no-op, and :func:`peak_rss_gib` then gives the peak since the start."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_gib() -> float:
    """Peak resident memory since :func:`reset_peak_rss`, GiB (ru_maxrss is in kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so that the next step's
    peak RSS is not inflated by the previous step's leftovers."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def new_step() -> float:
    """Start a measured step: free what the last one left, restart the peak-RSS count; -> the
    resident memory it starts from, GiB (right after a reset the peak is the current RSS)."""
    release_memory()
    reset_peak_rss()
    return peak_rss_gib()


def rss_note(start: float) -> tuple[str, dict[str, float]]:
    """The peak RSS of a step that began at ``start`` GiB, for the printed line and the JSON."""
    peak = peak_rss_gib()
    return f"peak RSS {peak:.2f} GiB ({start:.2f} at start)", {"peak_rss_gib": peak, "rss_at_start_gib": start}


def parse_variants(spec: str) -> list[str]:
    """``"onnx,fp32"`` -> the requested variants in run order (:data:`VARIANTS`)."""
    asked = {v.strip() for v in spec.split(",") if v.strip()}
    unknown = sorted(asked - set(VARIANTS))
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; choose from {','.join(VARIANTS)}")
    return [v for v in VARIANTS if v in asked]


@dataclass
class Baseline:
    """The reference's seconds/image and logits, which every variant is compared with."""

    seconds: float
    logits: torch.Tensor
    flops: float

    def compare(self, name: str, seconds: float, logits: torch.Tensor, start_rss: float, **extra: float) -> dict[str, Any]:
        """Print one variant's line and return its JSON entry (``start_rss``: from :func:`new_step`)."""
        diff = (logits - self.logits).abs().max().item()
        scale = self.logits.abs().max().item()
        same = bool((logits.argmax(-1) == self.logits.argmax(-1)).all())
        note, rss = rss_note(start_rss)
        print(f"ours {name:>9}: {seconds:.2f} s/image, {self.seconds / seconds:.2f}x the reference, max |logit diff| "
              f"{diff:.2e} (max |logit| {scale:.2f}), same argmax: {same}, {note}", flush=True)
        return {"s_per_image": seconds, "speedup": self.seconds / seconds, "max_abs_logit_diff": diff, "max_abs_ref_logit": scale,
                "same_argmax": same, "gflops": self.flops / seconds / 1e9, **rss, **extra}


def torch_variant(name: str, model: MotivNet) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model`` as a torch variant (int8 quantises ``model`` itself: run it last)."""
    if name == "fp32":
        return model
    if name == "bf16-autocast":
        def run(t: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return model(t)
        return run
    if name in ("bf16", "bf16-compile"):  # a bf16 copy: the float32 model stays for later variants
        return TorchClassifier(model, InferenceOptions(bf16=True, compile=name == "bf16-compile"))
    return quantize_int8(model, inplace=True)


def time_torch(name: str, model: MotivNet, x: torch.Tensor, base: Baseline, iters: int) -> dict[str, Any]:
    start = new_step()
    fn = torch_variant(name, model)
    extra: dict[str, Any] = {}
    if name.endswith("compile"):  # the first call compiles: a one-off cost, timed apart
        t = time.perf_counter()
        with torch.inference_mode():
            fn(x)
        extra["compile_s"] = time.perf_counter() - t
        print(f"ours {name}: first call (compiles) {extra['compile_s']:.1f} s", flush=True)
    t, logits = run_once(fn, x, iters)
    return {**base.compare(name, t, logits, start), **extra}


def onnx_gib(path: Path) -> float:
    """Size on disk of an ONNX file plus its external-data sidecar, if any, GiB."""
    return sum(p.stat().st_size for p in (path, sidecar(path)) if p.exists()) / 2**30


def one_off(what: str, make: Callable[[], Path]) -> tuple[Path, dict[str, float]]:
    """Run a one-off step that writes an ONNX file; print and return its time, size and peak RSS."""
    start = new_step()
    t = time.perf_counter()
    path = make()
    seconds = time.perf_counter() - t
    note, rss = rss_note(start)
    print(f"{what} (one-off): {seconds:.1f} s, {onnx_gib(path):.2f} GiB on disk, {note}", flush=True)
    return path, {"s": seconds, "gib_on_disk": onnx_gib(path), **rss}


def export_step(model: MotivNet, folder: Path) -> tuple[Path, dict[str, float]]:
    """Export ``model`` (float32) to ``folder``/ours.onnx, timed; keeps no reference to ``model``."""
    return one_off("ONNX export", functools.partial(export_onnx, model, folder / "ours.onnx"))


def time_onnx(path: Path, x: torch.Tensor, iters: int, threads: int | None) -> tuple[float, torch.Tensor, float]:
    """Load ``path`` into onnxruntime and time it like the torch variants; -> (best s, logits, load s).
    The session, and with it onnxruntime's copy of the weights, goes when this returns."""
    t = time.perf_counter()
    session = OnnxClassifier(path, threads)
    load = time.perf_counter() - t
    best, logits = run_once(session, x, iters)
    return best, logits, load


def run_onnx(fp32_path: Path, names: list[str], x: torch.Tensor, base: Baseline, args: argparse.Namespace) -> dict[str, Any]:
    """The ONNX variants from an exported float32 file. The int8 quantisation comes first: once a
    session has run, part of its memory stays with the process after the session is gone."""
    out: dict[str, Any] = {}
    paths = {"onnx": fp32_path}
    if "onnx-int8" in names:
        paths["onnx-int8"], out["onnx_int8_quantisation"] = one_off(
            "onnxruntime int8 quantisation", functools.partial(quantize_onnx, fp32_path, fp32_path.with_name("ours.int8.onnx")))
    for name in names:
        start = new_step()
        t, logits, load = time_onnx(paths[name], x, args.iters, args.threads)
        out[f"ours_{name}"] = base.compare(name, t, logits, start, load_s=load)
    return out


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depth", type=int, default=40, help="encoder layers (Sapiens-1B: 40); fewer for a quick run")
    p.add_argument("--image-size", type=int, nargs=2, default=(1024, 768), metavar=("H", "W"))
    p.add_argument("--variants", default="fp32,int8",
                   help=f"our variants to time, from {','.join(VARIANTS)}; they run in that order (default: %(default)s)")
    p.add_argument("--iters", type=int, default=1, help="timed runs each, best kept (default: %(default)s)")
    p.add_argument("--threads", type=int, help="torch threads, and onnxruntime intra-op threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="also print all results as JSON at the end")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    variants = parse_variants(args.variants)
    if args.threads:
        torch.set_num_threads(args.threads)
    size = tuple(args.image_size)
    torch.manual_seed(args.seed)
    ref = init_like_trained(RefMotivNet(args.depth, size), args.seed)
    ours = ours_sharing(ref, args.depth, size)
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(args.seed + 1))
    flops = model_flops(ours.config)["total"]
    result: dict = {"depth": args.depth, "image_size": list(size), "gflop_per_image": flops / 1e9, "machine": cpu_info(),
                    "native_bf16": cpu_has_native_bf16(), "peak_measured_gflops": measured_peak_flops() / 1e9}

    start = new_step()
    t_ref, logits_ref = run_once(ref, x, args.iters)
    del ref  # ours holds the same tensors; nothing else needs the reference
    base = Baseline(t_ref, logits_ref, flops)
    note, rss = rss_note(start)
    result["reference_fp32"] = {"s_per_image": t_ref, "gflops": flops / t_ref / 1e9, "logits": logits_ref[0].tolist(), **rss}
    print(f"reference (authors', float32): {t_ref:.2f} s/image ({flops / t_ref / 1e9:.1f} GFLOP/s), {note}", flush=True)

    onnx_names = [v for v in variants if v in ONNX_VARIANTS]
    with tempfile.TemporaryDirectory(prefix="motivnet-paper-arch-") as tmp:
        for name in [v for v in variants if v in TORCH_FLOAT_VARIANTS]:
            result[f"ours_{name}"] = time_torch(name, ours, x, base, args.iters)
        if onnx_names:  # from the float32 model, so before int8 quantises it in place
            fp32_path, result["onnx_export"] = export_step(ours, Path(tmp))
        if "int8" in variants:
            result["ours_int8"] = time_torch("int8", ours, x, base, args.iters)
        del ours  # onnxruntime loads its own copy of the weights
        if onnx_names:
            result.update(run_onnx(fp32_path, onnx_names, x, base, args))
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
