"""ML-Decoder classification head (Ridnik et al. 2023), in the configuration MotivNet uses.

Spatial tokens are projected (Linear + ReLU) to ``embed_dim``; one fixed query per group
cross-attends to them through ``num_layers`` post-norm decoder layers that have no
self-attention; a group fully-connected layer turns each query into its class logit(s).

Numerics follow the reference ``TransformerDecoderLayerOptimal``, including its
``tgt = norm1(tgt + dropout(tgt))`` opening step, so that the authors' checkpoint gives
the authors' logits. The group FC is one batched einsum instead of their Python loop.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class MLDecoderConfig:
    num_classes: int = 8
    in_dim: int = 1536
    embed_dim: int = 1152
    num_layers: int = 2
    num_heads: int = 8
    ffn_dim: int = 2048
    dropout: float = 0.1
    num_groups: int | None = None  # None: one query per class, as the authors use
    ln_eps: float = 1e-5

    def __post_init__(self) -> None:
        if self.num_groups is None:
            self.num_groups = self.num_classes
        if self.num_groups > self.num_classes:
            raise ValueError(f"num_groups {self.num_groups} > num_classes {self.num_classes}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")

    @property
    def duplicate_factor(self) -> int:
        """Logits per group: ceil(num_classes / num_groups)."""
        return -(-self.num_classes // self.num_groups)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MLDecoderConfig":
        return cls(**d)


class CrossAttention(nn.Module):
    """Multi-head attention of queries over memory, through SDPA.

    Its parameters (``in_proj_weight`` (3D, D), ``in_proj_bias`` (3D,), ``out_proj``) have
    ``nn.MultiheadAttention``'s layout, so reference checkpoints map onto it one to one.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, query: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """query: (B, G, D), memory: (B, N, D) -> (B, G, D)."""
        b, g, d = query.shape
        h = self.num_heads
        wq, wkv = self.in_proj_weight.split([d, 2 * d])
        bq, bkv = self.in_proj_bias.split([d, 2 * d])
        q = F.linear(query, wq, bq).reshape(b, g, h, d // h).transpose(1, 2)
        kv = F.linear(memory, wkv, bkv).reshape(b, -1, 2, h, d // h).permute(2, 0, 3, 1, 4)
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, kv[0], kv[1], dropout_p=p)
        return self.out_proj(out.transpose(1, 2).reshape(b, g, d))


class DecoderLayer(nn.Module):
    """Post-norm decoder layer without self-attention (ML-Decoder's 'optimal' layer)."""

    def __init__(self, cfg: MLDecoderConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        # The authors' checkpoint names this module ``self_attn``; it is cross-attention.
        self.cross_attn = CrossAttention(d, cfg.num_heads, cfg.dropout)
        self.linear1 = nn.Linear(d, cfg.ffn_dim)
        self.linear2 = nn.Linear(cfg.ffn_dim, d)
        self.norm1 = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.norm2 = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.norm3 = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """tgt: (B, G, D), memory: (B, N, D) -> (B, G, D)."""
        tgt = self.norm1(tgt + self.dropout(tgt))  # the reference's step: 2*tgt at eval time
        tgt = self.norm2(tgt + self.dropout(self.cross_attn(tgt, memory)))
        ffn = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout(ffn))


class MLDecoder(nn.Module):
    """Features (B, C, h, w) or tokens (B, N, C) -> logits (B, num_classes)."""

    def __init__(self, cfg: MLDecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        g, d, k = cfg.num_groups, cfg.embed_dim, cfg.duplicate_factor
        self.proj = nn.Linear(cfg.in_dim, d)
        # Fixed queries: a buffer, so no optimiser touches them, yet they are saved and loaded.
        self.register_buffer("queries", torch.randn(g, d))
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_layers))
        self.group_fc_weight = nn.Parameter(torch.empty(g, d, k))
        self.group_fc_bias = nn.Parameter(torch.zeros(cfg.num_classes))
        nn.init.xavier_normal_(self.group_fc_weight)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim == 4:
            features = features.flatten(2).transpose(1, 2)
        memory = F.relu(self.proj(features))  # (B, N, D)
        tgt = self.queries.to(memory.dtype).unsqueeze(0).expand(memory.shape[0], -1, -1)  # (B, G, D)
        for layer in self.layers:
            tgt = layer(tgt, memory)
        # Group FC: each group's query through its own (D, K) matrix, all groups at once.
        logits = torch.einsum("bgd,gdk->bgk", tgt, self.group_fc_weight.to(tgt.dtype))
        return logits.flatten(1)[:, : self.cfg.num_classes] + self.group_fc_bias.to(tgt.dtype)


__all__ = ["MLDecoder", "MLDecoderConfig"]
