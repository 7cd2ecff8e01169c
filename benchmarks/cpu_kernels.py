"""Throughput of the kernels that decide the paper architecture's CPU speed, at its shapes
(Sapiens-1B: 3,072 tokens of width 1536, 24 heads of 64): matmul, Linear in float32 / bfloat16 /
dynamic int8, and SDPA attention in float32 / bfloat16. Prints measured numbers; not a test.

    python benchmarks/cpu_kernels.py [--tokens 3072] [--dim 1536] [--heads 24] [--repeats 5]

Each figure is the best of --repeats calls after one warm-up call (2 FLOPs per multiply-add;
int8 in GOP/s). Which of them is fast depends on the CPU: native bf16 (AVX512_BF16/AMX) roughly
doubles bf16 matmuls, VNNI speeds up int8.
"""
from __future__ import annotations

import argparse
import time
import warnings
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from motivnet.backends import cpu_has_native_bf16, quantize_int8


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=int, default=3072)
    ap.add_argument("--dim", type=int, default=1536)
    ap.add_argument("--heads", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n, c, r = args.tokens, args.dim, args.repeats
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, SIMD {torch.backends.cpu.get_cpu_capability()}, "
          f"native bf16: {cpu_has_native_bf16()}")
    torch.manual_seed(0)
    with torch.inference_mode():
        for dtype in (torch.float32, torch.bfloat16):
            a, b = torch.randn(2048, 2048, dtype=dtype), torch.randn(2048, 2048, dtype=dtype)
            t = best_seconds(lambda: a @ b, r)
            print(f"matmul 2048^3 {str(dtype)[6:]:>8}: {2 * 2048**3 / t / 1e9:6.0f} GFLOP/s")
        for fan_in, fan_out, what in ((c, 3 * c, "qkv"), (c, 4 * c, "fc1"), (4 * c, c, "fc2")):
            x = torch.randn(1, n, fan_in)
            lin = nn.Linear(fan_in, fan_out)
            flop = 2 * n * fan_in * fan_out
            half, xh = nn.Linear(fan_in, fan_out).to(torch.bfloat16), x.to(torch.bfloat16)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                q = quantize_int8(nn.Sequential(lin))
            rates = [flop / best_seconds(f, r) / 1e9 for f in (lambda: lin(x), lambda: half(xh), lambda: q(x))]
            print(f"Linear {what} {n}x{fan_in}->{fan_out}: float32 {rates[0]:4.0f}, bfloat16 {rates[1]:4.0f} GFLOP/s, "
                  f"int8 dynamic {rates[2]:4.0f} GOP/s")
        d = c // args.heads
        flop = 4 * args.heads * n * n * d
        for dtype in (torch.float32, torch.bfloat16):
            q, k, v = (torch.randn(1, args.heads, n, d, dtype=dtype) for _ in range(3))
            t = best_seconds(lambda: F.scaled_dot_product_attention(q, k, v), r)
            print(f"SDPA {args.heads} heads x {n} tokens x {d} {str(dtype)[6:]:>8}: {t * 1e3:6.0f} ms, {flop / t / 1e9:4.0f} GFLOP/s")


if __name__ == "__main__":
    main()
