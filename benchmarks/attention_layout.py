"""Does making q, k, v contiguous before SDPA speed up the encoder's attention on this CPU?

Two layouts of the same computation, both fed to ``F.scaled_dot_product_attention``:

* ``strided``: q, k, v are views into the fused qkv output (B, N, 3, heads, hd) permuted to
  (3, B, heads, N, hd), i.e. SDPA reads them with strides (N: 3*C, hd: 1);
* ``contiguous``: one copy of that permuted tensor, so q, k, v are each dense (B, heads, N, hd).

For each shape it times the SDPA call alone (on the views vs on ready dense tensors, i.e. without
the copy), the attention module and one whole ``Block`` (attention + FFN), both layouts
interleaved in every repeat (so drift in the load of a shared CPU hits both alike), and prints
the median ms per forward and the median of the per-repeat ratios (< 1: contiguous is faster):

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/attention_layout.py [--repeats 15] [--threads 1]

Shapes: sapiens-tiny (C 192, 3 heads) at the default model's 64x64 (16 tokens) and at 112x112
(49 tokens), batch 1 and 32; sapiens-0.3b width (C 1024, 16 heads) at 256x192 (192 tokens,
batch 8) and 512x384 (768 tokens, batch 1). ``--large`` adds 0.3b at 1024x768 (3072 tokens).
Also checks that both layouts give the same output (max |diff|).
"""
from __future__ import annotations

import argparse
import statistics
import time
import types
from typing import Callable

import torch
import torch.nn.functional as F

from motivnet.models.sapiens import Attention, Block, sapiens_config

AttnForward = Callable[[Attention, torch.Tensor], torch.Tensor]


def strided(self: Attention, x: torch.Tensor) -> torch.Tensor:
    """x: (B, N, C) -> (B, N, C); q, k, v as strided views of the qkv output."""
    b, n, c = x.shape
    qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
    x = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
    return self.proj(x.transpose(1, 2).reshape(b, n, c))


def contiguous(self: Attention, x: torch.Tensor) -> torch.Tensor:
    """x: (B, N, C) -> (B, N, C); q, k, v each dense (B, heads, N, hd) after one copy."""
    b, n, c = x.shape
    qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4).contiguous()
    x = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
    return self.proj(x.transpose(1, 2).reshape(b, n, c))


LAYOUTS: dict[str, AttnForward] = {"strided": strided, "contiguous": contiguous}

# (label, encoder, image size (H, W), batch)
SHAPES = [
    ("tiny 64x64 (16 tok) b1", "tiny", (64, 64), 1),
    ("tiny 64x64 (16 tok) b32", "tiny", (64, 64), 32),
    ("tiny 112x112 (49 tok) b1", "tiny", (112, 112), 1),
    ("tiny 112x112 (49 tok) b32", "tiny", (112, 112), 32),
    ("0.3b 256x192 (192 tok) b8", "0.3b", (256, 192), 8),
    ("0.3b 512x384 (768 tok) b1", "0.3b", (512, 384), 1),
]
LARGE = [("0.3b 1024x768 (3072 tok) b1", "0.3b", (1024, 768), 1)]


def ms_per_call(fn: Callable[[], object], min_seconds: float) -> float:
    """Milliseconds per call, timing as many calls as fill ``min_seconds`` (at least 2)."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        spent = time.perf_counter() - start
        if calls >= 2 and spent >= min_seconds:
            return 1e3 * spent / calls


def measure(block: Block, x: torch.Tensor, repeats: int, min_seconds: float) -> dict[str, dict[str, list[float]]]:
    """{"sdpa"|"attn"|"block": {layout: [ms per forward, one per repeat]}}; layouts interleaved per repeat."""
    parts = ("sdpa", "attn", "block")
    times: dict[str, dict[str, list[float]]] = {part: {name: [] for name in LAYOUTS} for part in parts}
    with torch.inference_mode():
        tokens = block.ln1(x)
        b, n, c = x.shape
        views = block.attn.qkv(tokens).reshape(b, n, 3, block.attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        qkv = {"strided": views, "contiguous": views.contiguous()}  # (3, B, heads, N, hd) each
        for r in range(repeats + 1):  # repeat 0 warms up and is dropped
            order = list(LAYOUTS) if r % 2 else list(reversed(LAYOUTS))
            for name in order:
                block.attn.forward = types.MethodType(LAYOUTS[name], block.attn)
                q, k, v = qkv[name]
                spent = (
                    ms_per_call(lambda: F.scaled_dot_product_attention(q, k, v), min_seconds),
                    ms_per_call(lambda: block.attn(tokens), min_seconds),
                    ms_per_call(lambda: block(x), min_seconds),
                )
                if r:
                    for part, ms in zip(parts, spent):
                        times[part][name].append(ms)
    return times


def max_diff(block: Block, x: torch.Tensor) -> float:
    outs = []
    with torch.inference_mode():
        for fn in LAYOUTS.values():
            block.attn.forward = types.MethodType(fn, block.attn)
            outs.append(block(x))
    return float((outs[0] - outs[1]).abs().max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=15, help="timed repeats per layout (median reported)")
    p.add_argument("--min-seconds", type=float, default=0.2, help="time per measurement (several calls)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    p.add_argument("--large", action="store_true", help="also 0.3b width at 1024x768 (3072 tokens; slow)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} thread(s), "
          f"{args.repeats} repeats, median ms per forward")
    print(f"{'shape':<30} {'part':<6} {'strided':>10} {'contiguous':>11} {'ratio':>7}  max|diff|")
    for label, encoder, size, batch in SHAPES + (LARGE if args.large else []):
        cfg = sapiens_config(encoder, image_size=size)
        block = Block(cfg).eval()
        n = (size[0] // cfg.patch_size) * (size[1] // cfg.patch_size)
        x = torch.randn(batch, n, cfg.embed_dim)
        diff = max_diff(block, x)
        times = measure(block, x, args.repeats, args.min_seconds)
        for part, by_layout in times.items():
            a, b = by_layout["strided"], by_layout["contiguous"]
            ratio = statistics.median(cb / sa for sa, cb in zip(a, b))  # < 1: contiguous is faster
            print(f"{label:<30} {part:<6} {statistics.median(a):10.3f} {statistics.median(b):11.3f} {ratio:7.3f}  {diff:.1e}",
                  flush=True)


if __name__ == "__main__":
    main()
