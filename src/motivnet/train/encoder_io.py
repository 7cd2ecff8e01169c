"""Encoder-only folders (``motivnet pretrain``'s ``RUN_DIR/encoder/``) and loading encoder
weights into a fresh MotivNet (``model.init_encoder``).

An encoder folder holds ``config.json`` (``{"model_type": "sapiens_encoder", "encoder":
SapiensConfig fields, "made_by": ...}``) and ``model.safetensors`` with ``SapiensViT``'s own
key names (``patch_embed.projection.weight``, ``pos_embed``, ``layers.N...``, ``ln1.*``).
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import torch
from safetensors.torch import load_file, save_file

from ..models.motivnet import CONFIG_NAME, WEIGHTS_NAME, load_state_dict_strict
from ..models.sapiens import SapiensConfig, SapiensViT, resize_pos_embed

ENCODER_MODEL_TYPE = "sapiens_encoder"
ENCODER_DIR = "encoder"


def save_encoder(encoder: SapiensViT, directory: str | os.PathLike, info: dict[str, Any]) -> Path:
    """Write an encoder folder: built beside ``directory`` then swapped in, so a reader (or a
    kill) never leaves a half-written one. ``info`` (name, how it was made) goes into config.json."""
    final = Path(directory)
    tmp, old = final.with_name(f".{final.name}.new"), final.with_name(f".{final.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items()}
    save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
    config = {"model_type": ENCODER_MODEL_TYPE, "encoder": encoder.cfg.to_dict(), **info}
    (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def read_encoder_weights(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], SapiensConfig | None, Path]:
    """Encoder tensors (SapiensViT key names) from a ``motivnet pretrain`` run dir, an encoder
    folder, or a MotivNet folder (its ``encoder.*`` weights). Returns (state, the source's
    encoder config if it has one, the weights file)."""
    p = Path(path).expanduser()
    if (p / ENCODER_DIR / WEIGHTS_NAME).is_file():  # a pretrain run dir
        p = p / ENCODER_DIR
    weights = p / WEIGHTS_NAME
    if not weights.is_file():
        raise FileNotFoundError(
            f"{path}: no encoder weights: expected a `motivnet pretrain` run folder (with {ENCODER_DIR}/), "
            f"an {ENCODER_DIR}/ folder or a MotivNet folder, each holding {WEIGHTS_NAME}"
        )
    state = load_file(str(weights))
    if any(k.startswith("encoder.") for k in state):  # a whole MotivNet: keep the encoder only
        state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    config = None
    cfg_file = p / CONFIG_NAME
    if cfg_file.is_file():
        d = json.loads(cfg_file.read_text())
        if isinstance(d, dict) and isinstance(d.get("encoder"), dict):
            config = SapiensConfig.from_dict(d["encoder"])
    return state, config, weights


def load_encoder_weights(encoder: SapiensViT, path: str | os.PathLike, log: Callable[[str], None] | None = None) -> None:
    """Fill ``encoder`` with the weights at ``path`` (see ``read_encoder_weights``), resizing the
    position embedding bicubically when the source's patch grid differs. Raises ValueError
    naming every missing, unexpected and mis-shaped key when the architecture differs."""
    state, src_cfg, weights = read_encoder_weights(path)
    pos = state.get("pos_embed")
    dst_grid = encoder.cfg.grid
    if pos is not None and pos.shape[1] != dst_grid[0] * dst_grid[1] and pos.shape[-1] == encoder.embed_dim:
        src_grid = src_cfg.grid if src_cfg is not None else _square_grid(pos.shape[1], weights)
        state = {**state, "pos_embed": resize_pos_embed(pos, src_grid, dst_grid)}
        if log:
            log(f"init_encoder: position embedding resized from a {src_grid[0]}x{src_grid[1]} to a "
                f"{dst_grid[0]}x{dst_grid[1]} patch grid (bicubic)")
    try:
        load_state_dict_strict(encoder, state, source=str(weights))
    except ValueError as e:
        hint = ""
        if src_cfg is not None:
            hint = (f" (that encoder: embed_dim {src_cfg.embed_dim}, depth {src_cfg.depth}, patch {src_cfg.patch_size}; "
                    f"this model's: embed_dim {encoder.cfg.embed_dim}, depth {encoder.cfg.depth}, patch {encoder.cfg.patch_size}: "
                    "set model.encoder or model.encoder_config to match)")
        raise ValueError(f"init_encoder: {e}{hint}") from None
    if log:
        log(f"init_encoder: encoder weights from {weights} ({len(state)} tensors); the decoder is freshly initialised")


def _square_grid(tokens: int, source: Path) -> tuple[int, int]:
    side = math.isqrt(tokens)
    if side * side != tokens:
        raise ValueError(f"{source}: pos_embed has {tokens} tokens and no config.json gives its grid")
    return side, side


__all__ = ["ENCODER_DIR", "ENCODER_MODEL_TYPE", "load_encoder_weights", "read_encoder_weights", "save_encoder"]
