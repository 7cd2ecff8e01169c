"""Sapiens ViT encoder (Khirodkar et al. 2024), as used by the Sapiens pose models.

A plain pre-norm ViT with a padded 16x16 patch embedding, a learned position embedding
and no cls token. Parameter names follow mmpretrain's ``VisionTransformer`` (``layers.N.ln1``,
``attn.qkv``, ``ffn.layers.0.0``, final ``ln1``) so that Sapiens checkpoints load with only
their prefix stripped.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


@dataclass
class SapiensConfig:
    """Hyper-parameters of one Sapiens encoder.

    ``image_size`` (H, W) is the input size the stored position embedding is laid out for;
    other sizes divisible by ``patch_size`` work and resize the embedding on the fly.
    """

    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    patch_size: int = 16
    patch_padding: int = 2
    image_size: tuple[int, int] = (1024, 768)
    ln_eps: float = 1e-6
    drop_path_rate: float = 0.0

    def __post_init__(self) -> None:
        self.image_size = tuple(int(s) for s in self.image_size)  # type: ignore[assignment]
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        for s in self.image_size:
            if s % self.patch_size:
                raise ValueError(f"image_size {self.image_size} is not divisible by patch {self.patch_size}")

    @property
    def grid(self) -> tuple[int, int]:
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SapiensConfig":
        return cls(**d)


# Named sizes. The four paper sizes are exactly Sapiens'; tiny/small are CPU-sized models of
# the same structure (ViT-Ti/S widths), at a face-crop input size.
SAPIENS_CONFIGS: dict[str, SapiensConfig] = {
    "sapiens-0.3b": SapiensConfig(embed_dim=1024, depth=24, num_heads=16),
    "sapiens-0.6b": SapiensConfig(embed_dim=1280, depth=32, num_heads=16),
    "sapiens-1b": SapiensConfig(embed_dim=1536, depth=40, num_heads=24),
    "sapiens-2b": SapiensConfig(embed_dim=1920, depth=48, num_heads=32),
    "sapiens-small": SapiensConfig(embed_dim=384, depth=12, num_heads=6, image_size=(224, 224)),
    "sapiens-tiny": SapiensConfig(embed_dim=192, depth=12, num_heads=3, image_size=(112, 112)),
}


def sapiens_config(name: str, **overrides: Any) -> SapiensConfig:
    """A copy of the named config, with any field overridden (e.g. ``image_size=(256, 192)``)."""
    key = name if name.startswith("sapiens-") else f"sapiens-{name}"
    if key not in SAPIENS_CONFIGS:
        raise KeyError(f"unknown encoder {name!r}; known: {', '.join(SAPIENS_CONFIGS)}")
    return replace(SAPIENS_CONFIGS[key], **overrides)


def resize_pos_embed(
    pos_embed: torch.Tensor,
    src_shape: tuple[int, int],
    dst_shape: tuple[int, int],
    num_extra_tokens: int = 0,
    mode: str = "bicubic",
) -> torch.Tensor:
    """Resize a learned position embedding between patch grids, as mmpretrain does.

    pos_embed: (1, extra + Hs*Ws, C) -> (1, extra + Hd*Wd, C). Interpolation runs in float32
    (bicubic is not implemented for half types) and the result keeps the input dtype.
    """
    if tuple(src_shape) == tuple(dst_shape):
        return pos_embed
    _, length, channels = pos_embed.shape
    hs, ws = src_shape
    if length != hs * ws + num_extra_tokens:
        raise ValueError(f"pos_embed has {length} tokens, expected {hs}*{ws}+{num_extra_tokens}")
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    grid = grid.reshape(1, hs, ws, channels).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=tuple(dst_shape), mode=mode, align_corners=False)
    grid = grid.flatten(2).transpose(1, 2).to(pos_embed.dtype)
    return torch.cat([extra, grid], dim=1)


class PatchEmbed(nn.Module):
    """(B, 3, H, W) -> (B, H/16 * W/16, C). Padding 2 keeps the grid at H/16 x W/16."""

    def __init__(self, cfg: SapiensConfig) -> None:
        super().__init__()
        self.projection = nn.Conv2d(
            3, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size, padding=cfg.patch_padding
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.projection(x)
        grid = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), grid


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection, through SDPA."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) -> (B, N, C)."""
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        # q, k, v stay strided views (3, B, heads, N, hd): dense copies make SDPA itself ~5% faster
        # on a CPU, but the copy costs more than that (benchmarks/attention_layout.py).
        x = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class FFN(nn.Module):
    """mmcv's FFN layout: ``layers.0.0`` Linear, ``layers.0.1`` GELU, ``layers.1`` Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(dim, hidden), nn.GELU()), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth per sample: x (B, ...) -> x with some samples' residuals zeroed."""
    if p == 0.0 or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - p)
    return x * keep / (1 - p)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln1(x)); x + ffn(ln2(x))."""

    def __init__(self, cfg: SapiensConfig, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        self.attn = Attention(cfg.embed_dim, cfg.num_heads)
        self.ln2 = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        self.ffn = FFN(cfg.embed_dim, int(cfg.embed_dim * cfg.mlp_ratio))
        self.drop_path_rate = drop_path_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.attn(self.ln1(x)), self.drop_path_rate, self.training)
        return x + drop_path(self.ffn(self.ln2(x)), self.drop_path_rate, self.training)


class SapiensViT(nn.Module):
    """Sapiens encoder: images (B, 3, H, W), normalised -> feature map (B, C, H/16, W/16)."""

    def __init__(self, cfg: SapiensConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg)
        gh, gw = cfg.grid
        self.pos_embed = nn.Parameter(torch.zeros(1, gh * gw, cfg.embed_dim))
        # Stochastic depth rises linearly with depth; plain Python so meta-device builds work.
        rates = [cfg.drop_path_rate * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.layers = nn.ModuleList(Block(cfg, r) for r in rates)
        self.ln1 = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        self.grad_checkpointing = False
        self._init_weights()

    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in the backward pass: activation memory O(1) in depth."""
        self.grad_checkpointing = enable

    def pos_embed_for(self, grid: tuple[int, int]) -> torch.Tensor:
        """The position embedding for a patch grid (h, w): (1, h*w, C)."""
        return resize_pos_embed(self.pos_embed, self.cfg.grid, grid)

    def embed_tokens(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """x: (B, 3, H, W) -> patch tokens + position embedding (B, h*w, C) and the grid (h, w).

        Split out of ``forward`` so that masked-autoencoder pretraining can drop tokens between
        the embedding and the blocks."""
        if x.shape[-2] % self.cfg.patch_size or x.shape[-1] % self.cfg.patch_size:
            raise ValueError(f"input {tuple(x.shape[-2:])} is not divisible by patch {self.cfg.patch_size}")
        x, grid = self.patch_embed(x)
        return x + self.pos_embed_for(grid), grid

    def encode_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """The blocks and the final norm on any token sequence: (B, N, C) -> (B, N, C)."""
        for layer in self.layers:
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        return self.ln1(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H, W) with H, W divisible by 16 -> (B, C, H/16, W/16)."""
        x, grid = self.embed_tokens(x)
        x = self.encode_tokens(x)
        return x.transpose(1, 2).reshape(x.shape[0], -1, *grid)


def sapiens_vit(name: str, **overrides: Any) -> SapiensViT:
    """Build a named encoder, e.g. ``sapiens_vit("sapiens-1b")`` or ``sapiens_vit("tiny")``."""
    return SapiensViT(sapiens_config(name, **overrides))


__all__ = ["SAPIENS_CONFIGS", "SapiensConfig", "SapiensViT", "resize_pos_embed", "sapiens_config", "sapiens_vit"]
