"""The paper's architecture (Sapiens-1B at 1024x768 + ML-Decoder, 7 classes) on one image: the
authors' float32 implementation against our CPU fast path, with identical random weights.

Reference = a faithful re-implementation of the authors' model (the one tests/test_checkpoints.py
checks the importer against): mmpretrain-style ViT attention with an explicit softmax(QK^T)V
(a 3072 x 3072 score matrix per head), and the public ML-Decoder with nn.MultiheadAttention
(sequence-first) and its Python-loop group FC. Ours = MotivNet with the same tensors (shared, not
copied: the authors' key layout goes through the checkpoint importer's remap), running SDPA
(flash kernel on CPU), optionally dynamic int8 Linear layers and/or bf16 autocast.

    nice -n 10 python benchmarks/inference_paper_arch.py                 # full depth 40: minutes, ~10 GB
    nice -n 10 python benchmarks/inference_paper_arch.py --depth 4       # reduced depth, same width and tokens
    python benchmarks/inference_paper_arch.py --depth 4 --variants fp32,int8,bf16

Prints seconds/image for each, the speed-up over the reference and the max |logit difference|.
Random weights: numbers measure speed and numerical agreement, not accuracy.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import time

import torch
from torch import nn

from motivnet.backends import cpu_has_native_bf16, quantize_int8
from motivnet.checkpoints.layouts import remap
from motivnet.flops import model_flops
from motivnet.labels import AFFECTNET7
from motivnet.models import MLDecoderConfig, MotivNet, MotivNetConfig, SapiensConfig, load_state_dict_strict
from motivnet.perf import cpu_info, measured_peak_flops
from motivnet.reference.authors import RefMotivNet as AuthorsModel

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


def run_once(fn, x: torch.Tensor, iters: int) -> tuple[float, torch.Tensor]:  # noqa: ANN001
    best, out = float("inf"), None
    for _ in range(iters):
        t = time.perf_counter()
        with torch.inference_mode():
            out = fn(x)
        best = min(best, time.perf_counter() - t)
        gc.collect()
    return best, out.float()  # type: ignore[union-attr]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--depth", type=int, default=40, help="encoder layers (Sapiens-1B: 40); fewer for a quick run")
    p.add_argument("--image-size", type=int, nargs=2, default=(1024, 768), metavar=("H", "W"))
    p.add_argument("--variants", default="fp32,int8", help="our variants to time, from fp32,int8,bf16 (default: %(default)s)")
    p.add_argument("--iters", type=int, default=1, help="timed runs each, best kept (default: %(default)s)")
    p.add_argument("--threads", type=int, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
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

    t_ref, logits_ref = run_once(ref, x, args.iters)
    result["reference_fp32"] = {"s_per_image": t_ref, "gflops": flops / t_ref / 1e9, "logits": logits_ref[0].tolist()}
    print(f"reference (authors', float32): {t_ref:.2f} s/image ({flops / t_ref / 1e9:.1f} GFLOP/s)", flush=True)

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for name in variants:
        if name == "fp32":
            fn = ours
        elif name == "bf16":
            def fn(t: torch.Tensor, m: nn.Module = ours) -> torch.Tensor:
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return m(t)
        elif name == "int8":
            del ref  # the int8 copy replaces the float Linear weights; free the reference's first
            gc.collect()
            fn = quantize_int8(ours, inplace=True)
        else:
            raise SystemExit(f"unknown variant {name!r}")
        t, logits = run_once(fn, x, args.iters)
        diff = (logits - logits_ref).abs().max().item()
        scale = logits_ref.abs().max().item()
        same = bool((logits.argmax(-1) == logits_ref.argmax(-1)).all())
        result[f"ours_{name}"] = {"s_per_image": t, "speedup": t_ref / t, "max_abs_logit_diff": diff,
                                  "max_abs_ref_logit": scale, "same_argmax": same, "gflops": flops / t / 1e9}
        print(f"ours {name:>5}: {t:.2f} s/image, {t_ref / t:.2f}x the reference, max |logit diff| {diff:.2e} "
              f"(max |logit| {scale:.2f}), same argmax: {same}", flush=True)
        if name == "int8":
            break  # the model is quantised in place from here on
    if args.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
