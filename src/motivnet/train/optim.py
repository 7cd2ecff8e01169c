"""AdamW parameter groups (encoder/decoder learning rates, layer-wise decay, no weight decay
on biases and norms) and the CosineAnnealingWarmRestarts schedule."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..models import MotivNet
from .config import OptimConfig


def encoder_layer_id(name: str, depth: int) -> int:
    """0 for the patch/position embedding, i + 1 for block i, depth + 1 for the final norm."""
    if name.startswith(("patch_embed", "pos_embed")):
        return 0
    if name.startswith("layers."):
        return int(name.split(".")[1]) + 1
    return depth + 1


def no_weight_decay(name: str, p: torch.Tensor) -> bool:
    # Biases, norm scales (1-D) and the position embedding are not decayed, as in ViT recipes.
    return p.ndim <= 1 or name.endswith("pos_embed")


def param_groups(model: MotivNet, cfg: OptimConfig, train_encoder: bool) -> list[dict[str, Any]]:
    """Groups for AdamW. Each carries ``name`` (for logs) and its own ``lr``."""
    groups: dict[tuple[str, int, bool], dict[str, Any]] = {}

    def add(part: str, layer: int, lr: float, name: str, p: torch.Tensor) -> None:
        nd = no_weight_decay(name, p)
        g = groups.setdefault(
            (part, layer, nd),
            {"params": [], "lr": lr, "weight_decay": 0.0 if nd else cfg.weight_decay, "name": f"{part}.{layer}{'.nd' if nd else ''}"},
        )
        g["params"].append(p)

    if train_encoder:
        depth = len(model.encoder.layers)
        for name, p in model.encoder.named_parameters():
            if p.requires_grad:
                layer = encoder_layer_id(name, depth)
                add("encoder", layer, cfg.encoder_lr * cfg.layer_decay ** (depth + 1 - layer), name, p)
    for name, p in model.decoder.named_parameters():
        if p.requires_grad:
            add("decoder", 0, cfg.decoder_lr, name, p)
    return list(groups.values())


def build_optimizer(model: MotivNet, cfg: OptimConfig, train_encoder: bool) -> torch.optim.AdamW:
    return torch.optim.AdamW(param_groups(model, cfg, train_encoder), betas=tuple(cfg.betas))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig) -> torch.optim.lr_scheduler.LRScheduler | None:
    """CosineAnnealingWarmRestarts over epochs; the engine steps it with fractional epochs
    (epoch + done/steps_per_epoch) after every optimizer step."""
    if cfg.scheduler == "none":
        return None
    T_0 = max(1, int(round(cfg.T_0)))
    return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=T_0, T_mult=cfg.T_mult, eta_min=cfg.eta_min)


def schedule_lrs(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler | None,
                 position: float, step_epochs: float, warmup_epochs: float) -> None:
    """Set every group's lr for the optimizer step that ends at ``position + step_epochs`` epochs:
    the scheduler's value at ``position`` (the group's initial lr without one), times a linear
    warmup factor over the first ``warmup_epochs``. The scheduler recomputes from its base lrs, so
    this is stateless and a resumed run (whose optimizer holds scaled lrs) gets the same lrs."""
    if scheduler is not None:
        scheduler.step(position)
    if warmup_epochs <= 0:
        return
    factor = min(1.0, (position + step_epochs) / warmup_epochs)
    for g in optimizer.param_groups:
        base = g["lr"] if scheduler is not None else g.setdefault("initial_lr", g["lr"])
        g["lr"] = base * factor


def group_lrs(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Current lr of the first encoder group and the decoder group (for metrics.csv)."""
    out: dict[str, float] = {}
    for g in optimizer.param_groups:
        part = g.get("name", "decoder").split(".")[0]
        out[f"lr_{part}"] = max(out.get(f"lr_{part}", 0.0), float(g["lr"]))
    return out


def set_frozen(module: nn.Module, frozen: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(not frozen)


__all__ = ["build_optimizer", "build_scheduler", "encoder_layer_id", "group_lrs", "param_groups", "schedule_lrs", "set_frozen"]
