"""Masked-autoencoder pretraining (He et al. 2022) of a Sapiens encoder, as Sapiens itself was made.

``MAE`` wraps a ``SapiensViT`` and uses its own modules (patch embedding, position embedding,
blocks, final ``ln1``): only the visible tokens go through the encoder; a light transformer
decoder fills the masked positions with a learned mask token and predicts their pixels.

Reconstruction targets. Sapiens' patch embedding is a 16x16 convolution with stride 16 and
padding 2, so token (i, j) sees the input pixels [16i - 2, 16i + 14) x [16j - 2, 16j + 14), not
the aligned block [16i, 16i + 16). The target of a token is exactly what its convolution sees:
the (normalised) input is zero-padded by ``patch_padding`` and cut into non-overlapping
``patch_size`` windows (``F.unfold`` with kernel = stride = patch). The windows are the
convolution's own, so (a) there is one target per token for any padding and (b) no visible
token sees a single pixel of a masked token's target (an aligned grid would leak 2 rows and
columns of every masked patch into its visible neighbours). Border targets hold the 2-pixel zero
padding (the mean colour) the convolution sees; the last 2 rows/columns of the image are in no
window, as they are in no token.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..models.sapiens import Block, SapiensViT, resize_pos_embed

POS_EMBEDS = ("sincos", "learned")


@dataclass
class MAEDecoderConfig:
    """The reconstruction decoder: thrown away after pretraining, so it is kept small."""

    embed_dim: int = 256
    depth: int = 4
    num_heads: int = 8
    mlp_ratio: float = 4.0
    pos_embed: str = "sincos"  # fixed 2-D sin-cos (MAE's choice) or "learned"
    norm_pix_loss: bool = True  # targets normalised by each patch's own mean and variance

    def __post_init__(self) -> None:
        if self.pos_embed not in POS_EMBEDS:
            raise ValueError(f"decoder pos_embed must be one of {POS_EMBEDS}, not {self.pos_embed!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"decoder embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if self.pos_embed == "sincos" and self.embed_dim % 4:
            raise ValueError(f"a sin-cos position embedding needs a decoder embed_dim divisible by 4, not {self.embed_dim}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MAEOutput(NamedTuple):
    loss: torch.Tensor  # () mean squared error over the masked patches
    pred: torch.Tensor  # (B, N, P) predicted pixels of every patch, P = 3 * patch * patch
    target: torch.Tensor  # (B, N, P) the targets the loss used (normalised per patch if norm_pix_loss)
    mask: torch.Tensor  # (B, N) 1.0 where the token was masked, 0.0 where it was visible


def num_visible(num_tokens: int, mask_ratio: float) -> int:
    """How many tokens ``random_masking`` keeps per sample."""
    return min(max(int(num_tokens * (1 - mask_ratio)), 1), num_tokens - 1)


def random_masking(
    tokens: torch.Tensor, mask_ratio: float, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep a random ``1 - mask_ratio`` of the tokens of each sample (MAE's shuffle-and-slice).

    tokens: (B, N, C); noise: optional (B, N) uniform values that decide the order (the lowest
    are kept), else drawn from the global RNG.
    Returns visible (B, K, C), mask (B, N) with 1 = masked, ids_restore (B, N) such that
    ``gather(cat(visible, masked), ids_restore)`` is the original order.
    K = int(N * (1 - mask_ratio)), at least 1 and at most N - 1 so there is something to predict.
    """
    b, n, c = tokens.shape
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), not {mask_ratio}")
    if n < 2:
        raise ValueError(f"masking needs at least 2 tokens, the image gives {n}")
    keep = num_visible(n, mask_ratio)
    if noise is None:
        noise = torch.rand(b, n, device=tokens.device)
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :keep]
    visible = torch.gather(tokens, 1, ids_keep[..., None].expand(-1, -1, c))
    mask = torch.ones(b, n, device=tokens.device)
    mask[:, :keep] = 0
    return visible, torch.gather(mask, 1, ids_restore), ids_restore


def patchify(images: torch.Tensor, patch: int, padding: int) -> torch.Tensor:
    """The pixels each token's patch-embedding window sees (see the module docstring).

    images: (B, 3, H, W) -> (B, N, 3 * patch * patch), N = the token grid's h * w, tokens in
    row-major order; each vector is channel-major (c, y, x), as ``F.unfold`` lays it out.
    """
    x = F.pad(images, (padding,) * 4) if padding else images
    return F.unfold(x, kernel_size=patch, stride=patch).transpose(1, 2)


def mae_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, norm_pix: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean squared error on the masked patches only.

    pred, target: (B, N, P); mask: (B, N), 1 = masked. With ``norm_pix`` each target patch is
    normalised by its own mean and variance (MAE's better-representations variant).
    Returns (loss (), the target used (B, N, P)).
    """
    if norm_pix:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)
        target = (target - mean) / (var + 1e-6).sqrt()
    per_patch = ((pred - target) ** 2).mean(dim=-1)  # (B, N)
    return (per_patch * mask).sum() / mask.sum(), target


def sincos_pos_embed(dim: int, grid: tuple[int, int]) -> torch.Tensor:
    """MAE's fixed 2-D sin-cos position embedding: (1, h*w, dim); half the channels encode the
    row, half the column."""
    h, w = grid
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))

    def encode(pos: torch.Tensor) -> torch.Tensor:
        out = pos.reshape(-1, 1) * omega[None]
        return torch.cat([out.sin(), out.cos()], dim=1)

    return torch.cat([encode(ys), encode(xs)], dim=1).float()[None]


class MAE(nn.Module):
    """Normalised images (B, 3, H, W) -> ``MAEOutput`` (loss on masked patches, predictions, mask).

    ``encoder`` is trained in place; after pretraining ``encoder.state_dict()`` is a plain
    Sapiens encoder (the keys ``motivnet train`` loads with ``model.init_encoder``).
    """

    def __init__(self, encoder: SapiensViT, decoder: MAEDecoderConfig | None = None, mask_ratio: float = 0.75) -> None:
        super().__init__()
        ecfg = encoder.cfg
        if 2 * ecfg.patch_padding >= ecfg.patch_size:
            # Then the convolution's grid is not H/patch and tokens would not match pos_embed.
            raise ValueError(f"patch_padding {ecfg.patch_padding} is too large for patch {ecfg.patch_size}")
        self.encoder = encoder
        self.decoder_cfg = dcfg = decoder or MAEDecoderConfig()
        self.mask_ratio = mask_ratio
        self.patch_dim = 3 * ecfg.patch_size**2
        # Decoder blocks are Sapiens blocks at the decoder's width (no drop path).
        block_cfg = replace(ecfg, embed_dim=dcfg.embed_dim, depth=dcfg.depth, num_heads=dcfg.num_heads,
                            mlp_ratio=dcfg.mlp_ratio, drop_path_rate=0.0)
        self.decoder_embed = nn.Linear(ecfg.embed_dim, dcfg.embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dcfg.embed_dim))
        gh, gw = ecfg.grid
        if dcfg.pos_embed == "learned":
            self.decoder_pos_embed = nn.Parameter(torch.zeros(1, gh * gw, dcfg.embed_dim))
        else:
            self.register_buffer("decoder_pos_embed", sincos_pos_embed(dcfg.embed_dim, (gh, gw)), persistent=False)
        self.decoder_layers = nn.ModuleList(Block(block_cfg) for _ in range(dcfg.depth))
        self.decoder_norm = nn.LayerNorm(dcfg.embed_dim, eps=ecfg.ln_eps)
        self.decoder_pred = nn.Linear(dcfg.embed_dim, self.patch_dim)
        self._init_decoder()

    def _init_decoder(self) -> None:
        # MAE's init for the new parts; the encoder keeps its own.
        nn.init.normal_(self.mask_token, std=0.02)
        if isinstance(self.decoder_pos_embed, nn.Parameter):
            nn.init.trunc_normal_(self.decoder_pos_embed, std=0.02)
        for name, m in self.named_modules():
            if name.startswith("encoder"):
                continue
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def decoder_pos_embed_for(self, grid: tuple[int, int]) -> torch.Tensor:
        """(1, h*w, D) for a token grid; other grids than the config's work like the encoder's."""
        if isinstance(self.decoder_pos_embed, nn.Parameter):
            return resize_pos_embed(self.decoder_pos_embed, self.encoder.cfg.grid, grid)
        if tuple(grid) == tuple(self.encoder.cfg.grid):
            return self.decoder_pos_embed
        return sincos_pos_embed(self.decoder_cfg.embed_dim, grid).to(self.decoder_pos_embed.device)

    def targets(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> raw pixel targets (B, N, 3 * patch * patch), one per token."""
        return patchify(images, self.encoder.cfg.patch_size, self.encoder.cfg.patch_padding)

    def decode(self, latent: torch.Tensor, ids_restore: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """latent (B, K, C) of the visible tokens -> predicted pixels (B, N, P) of every token."""
        x = self.decoder_embed(latent)
        b, k, d = x.shape
        n = ids_restore.shape[1]
        x = torch.cat([x, self.mask_token.expand(b, n - k, d)], dim=1)
        x = torch.gather(x, 1, ids_restore[..., None].expand(-1, -1, d))  # back to grid order
        x = x + self.decoder_pos_embed_for(grid)
        for layer in self.decoder_layers:
            x = layer(x)
        return self.decoder_pred(self.decoder_norm(x))

    def forward(self, images: torch.Tensor, noise: torch.Tensor | None = None, mask_ratio: float | None = None) -> MAEOutput:
        """images: (B, 3, H, W) normalised; noise: optional (B, N) to fix the masks (see ``random_masking``)."""
        tokens, grid = self.encoder.embed_tokens(images)
        visible, mask, ids_restore = random_masking(tokens, self.mask_ratio if mask_ratio is None else mask_ratio, noise)
        latent = self.encoder.encode_tokens(visible)
        pred = self.decode(latent, ids_restore, grid)
        target = self.targets(images)
        if target.shape[1] != pred.shape[1]:
            raise AssertionError(f"{target.shape[1]} target patches for {pred.shape[1]} tokens")
        loss, used = mae_loss(pred.float(), target.float(), mask, self.decoder_cfg.norm_pix_loss)
        return MAEOutput(loss, pred, used, mask)


__all__ = ["MAE", "MAEDecoderConfig", "MAEOutput", "mae_loss", "num_visible", "patchify", "random_masking", "sincos_pos_embed"]
