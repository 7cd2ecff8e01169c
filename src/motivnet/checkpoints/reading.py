"""Reading a checkpoint file or folder safely: sniff its format, return flat float32 tensors (RawCheckpoint)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import Tensor

from ..models.motivnet import CONFIG_NAME, WEIGHTS_NAME
from ._messages import first_line
from .archives import archive_format, read_archive
from .torch_load import load_tensor_dict


@dataclass
class RawCheckpoint:
    """What a file holds, before any layout mapping: flat float32 tensors and how they were read."""

    state: dict[str, Tensor]
    fmt: str  # "safetensors", "motivnet-folder", "torch.save", "torchscript", "torch.export"
    notes: list[str] = field(default_factory=list)
    config: dict[str, Any] | None = None  # our config.json, when one sits beside the weights


def read_checkpoint(path: str | Path) -> RawCheckpoint:
    """Tensors of a file or folder, without running any pickled code; floats come back float32."""
    path = Path(path)
    if path.is_dir():
        raw = _read_folder(path)
    elif not path.is_file():
        raise FileNotFoundError(f"{path}: no such file or folder")
    elif _is_safetensors(path):
        raw = RawCheckpoint(_load_safetensors(path), "safetensors", [], _sibling_config(path))
    elif (fmt := archive_format(path)) is not None:
        state, notes = read_archive(path, fmt)
        raw = RawCheckpoint(state, fmt, notes)
    else:
        notes = []
        raw = RawCheckpoint(load_tensor_dict(str(path), str(path), notes, hint_path=path), "torch.save", notes)
    raw.state = _normalise(raw.state, raw.notes)
    return raw


def _read_folder(path: Path) -> RawCheckpoint:
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(
            f"{path}: not a MotivNet folder: {WEIGHTS_NAME} is missing (expected {CONFIG_NAME} + {WEIGHTS_NAME})"
        )
    return RawCheckpoint(_load_safetensors(weights), "motivnet-folder", [], _sibling_config(weights))


def _sibling_config(weights: Path) -> dict[str, Any] | None:
    """Our config.json beside a model.safetensors, if there is one."""
    cfg = weights.parent / CONFIG_NAME
    if not cfg.is_file():
        return None
    try:
        data = json.loads(cfg.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{cfg}: unreadable config: {e}") from None
    return data if isinstance(data, dict) and data.get("model_type") == "motivnet" else None


def _is_safetensors(path: Path) -> bool:
    """By suffix, or by the header: an 8-byte little-endian length, then a JSON object."""
    if path.suffix == ".safetensors":
        return True
    with path.open("rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < path.stat().st_size


def _load_safetensors(path: Path) -> dict[str, Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a readable safetensors file: {first_line(e)}") from None


def _normalise(state: dict[str, Tensor], notes: list[str]) -> dict[str, Tensor]:
    """Strip a DataParallel ``module.`` prefix; floats to float32 (Sapiens ships bfloat16 .pt2)."""
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    cast = sorted({str(v.dtype) for v in state.values() if v.is_floating_point() and v.dtype != torch.float32})
    if cast:
        notes.append(f"cast {', '.join(cast)} weights to float32")
    return {k: (v.float() if v.is_floating_point() else v).detach() for k, v in state.items()}
