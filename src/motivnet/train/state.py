"""The resumable training state: one file, written atomically, loaded without unpickling
code (``torch.load(weights_only=True)``: tensors and primitive containers only)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..fileio import atomic_write

STATE_NAME = "state.pt"
STATE_VERSION = 1


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """``state`` holds model/optimizer/scheduler state dicts, counters, history and config."""
    state = {"version": STATE_VERSION, **state}
    return atomic_write(path, lambda p: torch.save(state, p))


def load_state(path: str | os.PathLike) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / STATE_NAME
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no training state to resume from")
    state = torch.load(p, map_location="cpu", weights_only=True)
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"{p}: training state version {state.get('version')!r}, expected {STATE_VERSION}")
    return state


__all__ = ["STATE_NAME", "load_state", "save_state"]
