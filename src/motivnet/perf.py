"""Timing helpers for benchmarks: repeatable wall-clock timing and the machine's peak FLOP/s.

Peak is *measured*, not looked up: the best rate of a large float32 matmul (torch, the same
threads) on the spot. It is the practical ceiling for the float32 model on this machine at this
moment (a busy machine lowers it). :func:`theoretical_peak` adds the paper figure from the CPU's
flags and clock where /proc/cpuinfo allows.
"""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch


@dataclass
class Timing:
    """Seconds per call over ``iters`` timed calls (after ``warmup`` untimed ones)."""

    median: float
    best: float
    mean: float
    iters: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def time_calls(fn: Callable[[], object], warmup: int = 2, iters: int = 10) -> Timing:
    """Call ``fn`` ``warmup`` times, then time ``iters`` calls one by one."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, iters)):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return Timing(statistics.median(times), min(times), statistics.fmean(times), len(times))


def measured_peak_flops(n: int = 2048, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of the best of ``repeats`` (n x n) @ (n x n) matmuls (2 n^3 FLOPs each) in ``dtype``
    (bfloat16 for a bf16 model: on CPUs with AVX512_BF16 its peak is 2-3x float32's)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    with torch.inference_mode():
        a @ b  # first call: allocation, oneDNN/MKL dispatch
        best = min(_once(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best


def _once(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def cpu_info() -> dict[str, Any]:
    """What the numbers depend on: model name, cores, SIMD level, clock, load."""
    info: dict[str, Any] = {
        "cpu": _cpuinfo_field("model name") or "unknown",
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "simd": torch.backends.cpu.get_cpu_capability(),
    }
    mhz = _cpuinfo_field("cpu MHz")
    info["mhz"] = float(mhz) if mhz else None
    try:
        info["load_avg_1min"] = round(os.getloadavg()[0], 2)
    except OSError:
        info["load_avg_1min"] = None
    return info


def theoretical_peak(threads: int | None = None) -> tuple[float, str] | None:
    """(FLOP/s, how) from /proc/cpuinfo: cores x clock x FP32 FLOPs/cycle, assuming two FMA
    units per core (Zen 2-4, Skylake-SP and later); None when the clock or flags are unknown."""
    flags = set((_cpuinfo_field("flags") or "").split())
    mhz = _cpuinfo_field("cpu MHz")
    if not flags or not mhz or "fma" not in flags:
        return None
    lanes = 16 if "avx512f" in flags else 8  # FP32 lanes per FMA instruction
    per_cycle = 2 * lanes * 2  # 2 FMA units x lanes x (multiply + add)
    cores = threads or torch.get_num_threads()
    flops = cores * float(mhz) * 1e6 * per_cycle
    simd = "AVX-512" if lanes == 16 else "AVX2"
    return flops, f"{cores} cores x {float(mhz):.0f} MHz x {per_cycle} FP32 FLOP/cycle ({simd} FMA, 2 units assumed)"


def _cpuinfo_field(name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() == name:
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


__all__ = ["Timing", "cpu_info", "measured_peak_flops", "theoretical_peak", "time_calls"]
