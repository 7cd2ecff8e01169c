"""Mixed precision shared by ``motivnet train`` and ``motivnet pretrain``: the ``amp`` setting's
values, its autocast context and its gradient scaler."""
from __future__ import annotations

import contextlib

import torch

AMP_MODES = ("none", "bf16", "fp16")


def check_amp(amp: str) -> None:
    if amp not in AMP_MODES:
        raise ValueError(f"amp must be none, bf16 or fp16, not {amp!r}")


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def autocast(amp: str) -> contextlib.AbstractContextManager:
    """The forward pass's autocast for ``amp`` (a no-op for "none")."""
    if amp == "none":
        return contextlib.nullcontext()
    return torch.autocast(device_type=_device(), dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def amp_warning(amp: str) -> str | None:
    """A one-line warning when ``amp`` would be emulated here (bf16 autocast on a CPU without
    AVX512_BF16/AMX runs far slower than float32: stage 18's second start on a 2-core Zen 3 took 158 s
    a training step in bf16 against 5.1 s in float32), else None."""
    if amp != "bf16" or _device() != "cpu":
        return None
    # predict's --bf16 warning says it the same way
    from ..backends import emulated_bf16_note

    note = emulated_bf16_note()
    if note is None:
        return None
    return f"amp bf16: {note}: it is emulated and much slower than float32; consider --set amp=none"


def grad_scaler(amp: str) -> torch.amp.GradScaler:
    """Loss scaling for fp16; disabled (a pass-through) otherwise: bf16 has float32's range."""
    return torch.amp.GradScaler(_device(), enabled=amp == "fp16")


__all__ = ["AMP_MODES", "amp_warning", "autocast", "check_amp", "grad_scaler"]
