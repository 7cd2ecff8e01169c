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
import torch.nn.functional as F
from torch import nn

from motivnet.backends import cpu_has_native_bf16, quantize_int8
from motivnet.checkpoints.layouts import remap
from motivnet.flops import model_flops
from motivnet.labels import AFFECTNET7
from motivnet.models import MLDecoderConfig, MotivNet, MotivNetConfig, SapiensConfig, load_state_dict_strict
from motivnet.perf import cpu_info, measured_peak_flops

# --- the authors' implementation (float32), as in tests/test_checkpoints.py, at Sapiens-1B size ---------


class RefBlock(nn.Module):
    """mmpretrain ViT block: explicit softmax attention, key layout ln1/attn.qkv/attn.proj/ln2/ffn."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv, self.attn.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ffn = nn.Module()
        self.ffn.layers = nn.Sequential(nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU()), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) -> (B, N, C)."""
        b, n, c = x.shape
        hd = c // self.heads
        qkv = self.attn.qkv(self.ln1(x)).reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hd))  # (B, heads, N, N)
        x = x + self.attn.proj((att.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, c))
        return x + self.ffn.layers(self.ln2(x))


class RefEncoder(nn.Module):
    """Sapiens ViT as the authors' ``pose_encoder``: padded 16x16 patch conv, no cls token."""

    def __init__(self, dim: int, depth: int, heads: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.projection = nn.Conv2d(3, dim, 16, 16, padding=2)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid[0] * grid[1], dim))
        self.layers = nn.ModuleList(RefBlock(dim, heads) for _ in range(depth))
        self.ln1 = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H, W) -> (B, C, H/16, W/16)."""
        x = self.projection(x)
        b, c, h, w = x.shape
        x = x.flatten(2).transpose(1, 2) + self.pos_embed
        for layer in self.layers:
            x = layer(x)
        return self.ln1(x).transpose(1, 2).reshape(b, c, h, w)


class TransformerDecoderLayerOptimal(nn.Module):
    """ML-Decoder's layer (Alibaba-MIIL/ML_Decoder), attention named ``self_attn`` as in the authors' file."""

    def __init__(self, d_model: int, nhead: int = 8, dim_feedforward: int = 2048, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, eps=1e-5)
        self.dropout, self.dropout1 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm2 = nn.LayerNorm(d_model, eps=1e-5)
        self.norm3 = nn.LayerNorm(d_model, eps=1e-5)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,  # noqa: ANN001
                memory_key_padding_mask=None, **kwargs):  # noqa: ANN001, ANN003, ANN201
        tgt = self.norm1(tgt + self.dropout1(tgt))
        tgt = self.norm2(tgt + self.dropout2(self.self_attn(tgt, memory, memory)[0]))
        tgt2 = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


class GroupFC:
    def __init__(self, embed_len_decoder: int) -> None:
        self.embed_len_decoder = embed_len_decoder

    def __call__(self, h: torch.Tensor, duplicate_pooling: torch.Tensor, out_extrap: torch.Tensor) -> None:
        for i in range(self.embed_len_decoder):  # the upstream Python loop, one matmul per group
            out_extrap[:, i, :] = torch.matmul(h[:, i, :], duplicate_pooling[i, :, :])


class RefMLDecoder(nn.Module):
    def __init__(self, num_classes: int, dim: int, in_dim: int, layers: int = 2, ffn: int = 2048) -> None:
        super().__init__()
        layer = TransformerDecoderLayerOptimal(dim, dim_feedforward=ffn)
        self.decoder = nn.TransformerDecoder(layer, num_layers=layers)
        self.decoder.embed_standart = nn.Linear(in_dim, dim)
        self.decoder.query_embed = nn.Embedding(num_classes, dim).requires_grad_(False)
        self.decoder.num_classes = num_classes
        self.decoder.duplicate_factor = 1
        self.decoder.duplicate_pooling = nn.Parameter(torch.empty(num_classes, dim, 1))
        self.decoder.duplicate_pooling_bias = nn.Parameter(torch.empty(num_classes))
        self.decoder.group_fc = GroupFC(num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, h, w) -> logits (B, num_classes)."""
        spatial = F.relu(self.decoder.embed_standart(x.flatten(2).transpose(1, 2)), inplace=True)
        bs = spatial.shape[0]
        tgt = self.decoder.query_embed.weight.unsqueeze(1).expand(-1, bs, -1)
        h = self.decoder(tgt, spatial.transpose(0, 1)).transpose(0, 1)
        out = torch.zeros(h.shape[0], h.shape[1], self.decoder.duplicate_factor, dtype=h.dtype)
        self.decoder.group_fc(h, self.decoder.duplicate_pooling, out)
        return out.flatten(1)[:, : self.decoder.num_classes] + self.decoder.duplicate_pooling_bias


class RefMotivNet(nn.Module):
    def __init__(self, depth: int, image_size: tuple[int, int]) -> None:
        super().__init__()
        grid = (image_size[0] // 16, image_size[1] // 16)
        self.pose_encoder = RefEncoder(1536, depth, 24, grid)
        self.decoder = RefMLDecoder(len(AFFECTNET7.classes), 1152, 1536)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.pose_encoder(x))


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


def ours_sharing(ref: RefMotivNet, depth: int, image_size: tuple[int, int]) -> MotivNet:
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
