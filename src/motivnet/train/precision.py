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


def grad_scaler(amp: str) -> torch.amp.GradScaler:
    """Loss scaling for fp16; disabled (a pass-through) otherwise: bf16 has float32's range."""
    return torch.amp.GradScaler(_device(), enabled=amp == "fp16")


__all__ = ["AMP_MODES", "autocast", "check_amp", "grad_scaler"]
