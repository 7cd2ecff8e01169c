"""FLOPs of one MotivNet forward pass: analytically from the config, or counted by torch.

FLOPs here are 2 x multiply-accumulates of the matmuls, convolutions and attention products,
as ``torch.utils.flop_counter.FlopCounterMode`` counts them; norms, softmax, GELU and adds are
left out (well under 1% of a ViT's total).
"""
from __future__ import annotations

import torch

from .models import MotivNet, MotivNetConfig


def model_flops(config: MotivNetConfig, image_size: tuple[int, int] | None = None) -> dict[str, int]:
    """FLOPs per image, by part: ``patch_embed``, ``encoder_linear``, ``encoder_attention``,
    ``decoder`` and ``total``."""
    enc, dec = config.encoder, config.decoder
    h, w = image_size or enc.image_size
    c, p = enc.embed_dim, enc.patch_size
    n = (h // p) * (w // p)  # patch tokens (padding 2 keeps the grid at H/16 x W/16)
    hidden = int(c * enc.mlp_ratio)
    patch = 2 * n * c * 3 * p * p
    linear = enc.depth * 2 * n * (3 * c * c + c * c + 2 * c * hidden)
    attention = enc.depth * 2 * 2 * n * n * c  # q @ k^T and attn @ v
    g, d, f = dec.num_groups, dec.embed_dim, dec.ffn_dim
    decoder = 2 * n * dec.in_dim * d  # token projection
    decoder += dec.num_layers * 2 * (g * d * d + n * d * 2 * d + 2 * g * n * d + g * d * d + 2 * g * d * f)
    decoder += 2 * g * d * dec.duplicate_factor  # group FC
    total = patch + linear + attention + decoder
    return {"patch_embed": patch, "encoder_linear": linear, "encoder_attention": attention, "decoder": decoder, "total": total}


def counted_flops(config: MotivNetConfig, batch: int = 1) -> int:
    """FLOPs of one forward pass of ``batch`` images, counted by FlopCounterMode on the meta
    device: no memory, no compute, so it is instant even for Sapiens-2B at 1024x768."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = MotivNet(config).eval()
        x = torch.empty(batch, 3, *config.image_size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    return int(counter.get_total_flops())


__all__ = ["counted_flops", "model_flops"]
