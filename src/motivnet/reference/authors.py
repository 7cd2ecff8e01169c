"""The MotivNet authors' model, re-implemented from plain torch ops and the public ML-Decoder code.

It has their checkpoint's key layout (``pose_encoder.*`` + ``decoder.decoder.*``) and their
numerics: explicit-softmax mmpretrain attention, ``nn.TransformerDecoder`` over
``nn.MultiheadAttention`` and the group FC as a Python loop. It is deliberately independent of
``motivnet.models``: tests check the checkpoint importer against it, and
``benchmarks/inference_paper_arch.py`` uses it as the float32 baseline. Not for real use.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class RefBlock(nn.Module):
    """mmpretrain ViT block, key layout ln1/attn.qkv/attn.proj/ln2/ffn.layers.0.0/ffn.layers.1."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv, self.attn.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ffn = nn.Module()
        self.ffn.layers = nn.Sequential(nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU()), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, N, C) -> (B, N, C)."""
        b, n, c = x.shape
        hd = c // self.heads
        qkv = self.attn.qkv(self.ln1(x)).reshape(b, n, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-2, -1) / math.sqrt(hd)).softmax(dim=-1)  # (B, heads, N, N)
        x = x + self.attn.proj((att @ v).transpose(1, 2).reshape(b, n, c))
        return x + self.ffn.layers(self.ln2(x))


class RefEncoder(nn.Module):
    """The authors' ``pose_encoder``: no ``patch_embed`` level in their key names."""

    def __init__(self, dim: int, depth: int, heads: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.projection = nn.Conv2d(3, dim, 16, stride=16, padding=2)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid[0] * grid[1], dim))
        self.layers = nn.ModuleList(RefBlock(dim, heads) for _ in range(depth))
        self.ln1 = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H, W) -> (B, C, H/16, W/16)."""
        x = self.projection(x)
        b, c, h, w = x.shape
        x = x.flatten(2).transpose(1, 2) + self.pos_embed
        for layer in self.layers:
            x = layer(x)
        return self.ln1(x).transpose(1, 2).reshape(b, c, h, w)


class TransformerDecoderLayerOptimal(nn.Module):
    """ML-Decoder's layer (Alibaba-MIIL/ML_Decoder). Upstream names the attention ``multihead_attn``;
    the authors' file (and torch 2.x's TransformerDecoder, which reads ``layers[0].self_attn``)
    call it ``self_attn``."""

    def __init__(self, d_model: int, nhead: int = 8, dim_feedforward: int = 2048, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.dropout, self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(4))
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,  # noqa: ANN001
                memory_key_padding_mask=None, **kwargs):  # noqa: ANN001, ANN003, ANN201 - newer torch passes *_is_causal
        tgt = self.norm1(tgt + self.dropout1(tgt))
        tgt = self.norm2(tgt + self.dropout2(self.self_attn(tgt, memory, memory)[0]))
        tgt2 = self.linear2(self.dropout(F.relu(self.linear1(tgt))))
        return self.norm3(tgt + self.dropout3(tgt2))


class GroupFC:
    """The upstream group FC: a Python loop, one matmul per group."""

    def __init__(self, embed_len_decoder: int) -> None:
        self.embed_len_decoder = embed_len_decoder

    def __call__(self, h: torch.Tensor, duplicate_pooling: torch.Tensor, out_extrap: torch.Tensor) -> None:
        for i in range(self.embed_len_decoder):
            out_extrap[:, i, :] = h[:, i, :] @ duplicate_pooling[i, :, :]


class RefMLDecoder(nn.Module):
    """ML-Decoder as in Alibaba-MIIL/ML_Decoder, with configurable depth and FFN width."""

    def __init__(self, num_classes: int, num_of_groups: int, decoder_embedding: int, initial_num_features: int,
                 num_layers: int = 2, dim_feedforward: int = 2048) -> None:
        super().__init__()
        groups = min(num_of_groups, num_classes)
        layer = TransformerDecoderLayerOptimal(decoder_embedding, dim_feedforward=dim_feedforward)
        self.decoder = nn.TransformerDecoder(layer, num_layers=num_layers)
        self.decoder.embed_standart = nn.Linear(initial_num_features, decoder_embedding)
        self.decoder.query_embed = nn.Embedding(groups, decoder_embedding).requires_grad_(False)
        self.decoder.num_classes = num_classes
        self.decoder.duplicate_factor = int(num_classes / groups + 0.999)
        self.decoder.duplicate_pooling = nn.Parameter(torch.empty(groups, decoder_embedding, self.decoder.duplicate_factor))
        self.decoder.duplicate_pooling_bias = nn.Parameter(torch.zeros(num_classes))
        nn.init.xavier_normal_(self.decoder.duplicate_pooling)
        self.decoder.group_fc = GroupFC(groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, h, w) or (B, N, C) -> logits (B, num_classes)."""
        spatial = x.flatten(2).transpose(1, 2) if x.ndim == 4 else x
        spatial = F.relu(self.decoder.embed_standart(spatial), inplace=True)
        tgt = self.decoder.query_embed.weight.unsqueeze(1).expand(-1, spatial.shape[0], -1)
        h = self.decoder(tgt, spatial.transpose(0, 1)).transpose(0, 1)  # seq-first inside
        out = torch.zeros(h.shape[0], h.shape[1], self.decoder.duplicate_factor, dtype=h.dtype)
        self.decoder.group_fc(h, self.decoder.duplicate_pooling, out)
        return out.flatten(1)[:, : self.decoder.num_classes] + self.decoder.duplicate_pooling_bias


class RefMotivNet(nn.Module):
    """pose_encoder + decoder, as in the authors' MotivNet.pth. Defaults: Sapiens-1B, 1024x768, 7 classes."""

    def __init__(self, dim: int = 1536, depth: int = 40, heads: int = 24, grid: tuple[int, int] = (64, 48),
                 num_classes: int = 7, groups: int = 7, dec_dim: int = 1152, dec_ffn: int = 2048,
                 dec_layers: int = 2) -> None:
        super().__init__()
        self.pose_encoder = RefEncoder(dim, depth, heads, grid)
        self.decoder = RefMLDecoder(num_classes, groups, dec_dim, dim, dec_layers, dec_ffn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H, W) normalised -> logits (B, num_classes)."""
        return self.decoder(self.pose_encoder(x))
