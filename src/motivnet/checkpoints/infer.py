"""Config inference: the MotivNetConfig a remapped state describes (encoder and decoder shapes, grid, labels)."""
from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, replace
from typing import Any, Mapping

from torch import Tensor

from ..labels import AFFECTNET7, AFFECTNET8, LabelSet, label_set
from ..models.ml_decoder import MLDecoderConfig
from ..models.motivnet import CONFIG_NAME, MotivNetConfig
from ..models.sapiens import SAPIENS_CONFIGS, SapiensConfig, resize_pos_embed, sapiens_config
from ._messages import prefix_errors
from .layouts import LAYOUTS

DEFAULT_IMAGE_SIZE = (1024, 768)  # Sapiens' task resolution; the target grid for pretrain weights


@dataclass
class Options:
    """The caller's shape options (see ``import_checkpoint``)."""

    labels: Any
    image_size: tuple[int, int] | None
    encoder: str | SapiensConfig | None
    num_heads: int | None
    decoder_heads: int
    decoder_dim: int
    decoder_ffn: int


def model_config(
    state: dict[str, Tensor], kind: str, saved: dict[str, Any] | None, opts: Options, extra: int,
    source: str, notes: list[str],
) -> tuple[MotivNetConfig, bool]:
    """The MotivNetConfig the tensors describe, and whether the decoder must be freshly initialised.

    ``state`` is remapped to our keys; its ``encoder.pos_embed`` is laid out for the config's input
    size in place. ``saved``: our config.json, if any. ``extra``: leading non-grid position tokens.
    """
    prior = MotivNetConfig.from_dict(saved) if saved else None
    enc, name = _encoder_config(state, kind, prior, opts, extra, source, notes)
    fresh = LAYOUTS[kind].fresh_decoder
    if fresh:
        classes = label_set(opts.labels if opts.labels is not None else AFFECTNET8).classes
        dec = MLDecoderConfig(
            num_classes=len(classes), in_dim=enc.embed_dim, embed_dim=opts.decoder_dim,
            num_heads=opts.decoder_heads, ffn_dim=opts.decoder_ffn,
        )
    else:
        dec = prior.decoder if prior else _decoder_config(state, opts, source)
        default = prior.labels if prior else None
        classes = _labels(opts.labels, default, dec.num_classes, source)
    extras = {"resize": prior.resize, "mean": prior.mean, "std": prior.std} if prior else {}
    with prefix_errors(source):
        return MotivNetConfig(encoder=enc, decoder=dec, labels=classes, encoder_name=name, **extras), fresh


# --- the encoder -----------------------------------------------------------------------------------------


def _encoder_config(
    state: dict[str, Tensor], kind: str, prior: MotivNetConfig | None, opts: Options, extra: int,
    source: str, notes: list[str],
) -> tuple[SapiensConfig, str | None]:
    """Encoder shape from the tensors: width and patch from the patch conv (C, 3, p, p), depth from
    the layer indices, MLP ratio from ffn.layers.0.0 (hidden, C), grid from pos_embed."""
    proj = _need(state, "encoder.patch_embed.projection.weight", source)
    dim, patch = proj.shape[0], proj.shape[-1]
    depth = _count_layers(state, "encoder.layers.", source)
    hidden = _need(state, "encoder.layers.0.ffn.layers.0.0.weight", source).shape[0]
    if prior is not None:  # our config.json knows the head count; the tensors cannot contradict it
        base, name = prior.encoder, prior.encoder_name
        heads = base.num_heads
        if opts.encoder is not None or opts.num_heads is not None:
            notes.append(f"{CONFIG_NAME} gives the encoder's shape; encoder=/num_heads= ignored")
    else:
        base, name = _encoder_base(dim, depth, opts, source)
        heads = opts.num_heads or base.num_heads
    saved_grid = prior.encoder.grid if prior is not None else None
    size = _fit_pos_embed(state, patch, opts.image_size, kind, extra, saved_grid, source, notes)
    ratio = hidden / dim if int(dim * (hidden / dim)) == hidden else (hidden + 0.5) / dim  # FFN uses int(C * ratio)
    with prefix_errors(source):
        cfg = replace(
            base, embed_dim=dim, depth=depth, num_heads=heads,
            mlp_ratio=ratio, patch_size=patch, image_size=size,
        )
    return cfg, name


def _encoder_base(dim: int, depth: int, opts: Options, source: str) -> tuple[SapiensConfig, str | None]:
    """The named config to take num_heads (and the rest) from: ``encoder=``, the registry, or a guess."""
    if opts.encoder is not None:
        base = sapiens_config(opts.encoder) if isinstance(opts.encoder, str) else opts.encoder
        if (base.embed_dim, base.depth) != (dim, depth):
            raise ValueError(
                f"{source}: the checkpoint's encoder is {dim} wide and {depth} deep, "
                f"but encoder={opts.encoder!r} is {base.embed_dim} wide and {base.depth} deep"
            )
        name = _registry_name(opts.encoder) if isinstance(opts.encoder, str) else None
        return base, name
    for name, base in SAPIENS_CONFIGS.items():
        if (base.embed_dim, base.depth) == (dim, depth):
            return base, name
    if opts.num_heads is not None:
        return SapiensConfig(embed_dim=dim, depth=depth, num_heads=opts.num_heads), None
    heads = _fallback_heads(dim)
    warnings.warn(
        f"{source}: encoder {dim} wide x {depth} deep is no named Sapiens size; assuming {heads} heads "
        "(embed_dim // 64); pass num_heads= or encoder= to be sure",
        stacklevel=4,
    )
    return SapiensConfig(embed_dim=dim, depth=depth, num_heads=heads), None


def _registry_name(name: str) -> str:
    return name if name.startswith("sapiens-") else f"sapiens-{name}"


def _fallback_heads(dim: int) -> int:
    """The largest head count <= dim // 64 (64-wide heads, as all Sapiens sizes use) dividing dim."""
    heads = max(1, dim // 64)
    while dim % heads:
        heads -= 1
    return heads


# --- the position embedding's grid -----------------------------------------------------------------------


def _fit_pos_embed(
    state: dict[str, Tensor], patch: int, image_size: tuple[int, int] | None, kind: str, extra: int,
    saved_grid: tuple[int, int] | None, source: str, notes: list[str],
) -> tuple[int, int]:
    """Lay ``encoder.pos_embed`` (1, extra + Hs*Ws, C) out as (1, Hd*Wd, C) for the target input size,
    in ``state``; returns that size (H, W).

    The source grid comes from our config, else from the token count (4:3, or square for pretrain
    weights), else from ``image_size`` when its grid has exactly that many tokens. The target is
    ``image_size``, else 1024x768 for pretrain weights, else the source grid.
    """
    pos = _need(state, "encoder.pos_embed", source)
    if pos.ndim != 3 or pos.shape[0] != 1:
        raise ValueError(f"{source}: encoder.pos_embed has shape {tuple(pos.shape)}, expected (1, tokens, C)")
    tokens = pos.shape[1] - extra
    target = _grid_of(image_size, patch, source) if image_size is not None else None
    src = saved_grid or _grid_from_tokens(tokens, square_ok=kind == "sapiens-pretrain")
    if src is None and target is not None and target[0] * target[1] == tokens:
        src = target
    if src is None:
        raise ValueError(
            f"{source}: cannot tell the grid of the {tokens}-token position embedding (it has no 4:3 "
            f"factorisation); pass image_size=(H, W) with (H/{patch})*(W/{patch}) == {tokens}"
        )
    if src[0] * src[1] != tokens:
        raise ValueError(f"{source}: encoder.pos_embed has {tokens} tokens, but the config's grid is {src[0]}x{src[1]}")
    if target is None:
        target = _grid_of(DEFAULT_IMAGE_SIZE, patch, source) if kind == "sapiens-pretrain" else src
    grid = pos[:, extra:]
    if extra:
        notes.append("dropped the cls token and its position-embedding slot")
    if src != target:
        grid = resize_pos_embed(grid, src, target)
        notes.append(f"resized the position embedding from {src[0]}x{src[1]} to {target[0]}x{target[1]} (bicubic)")
    state["encoder.pos_embed"] = grid
    return target[0] * patch, target[1] * patch


def _grid_from_tokens(tokens: int, square_ok: bool) -> tuple[int, int] | None:
    """(4k, 3k) when tokens == 12k^2 (Sapiens' 1024x768 -> 64x48); (s, s) when allowed and square."""
    k = math.isqrt(tokens // 12)
    if k and 12 * k * k == tokens:
        return 4 * k, 3 * k
    s = math.isqrt(tokens)
    if square_ok and s and s * s == tokens:
        return s, s
    return None


def _grid_of(image_size: tuple[int, int], patch: int, source: str) -> tuple[int, int]:
    h, w = (int(s) for s in image_size)
    if h % patch or w % patch:
        raise ValueError(f"{source}: image_size {(h, w)} is not divisible by the patch size {patch}")
    return h // patch, w // patch


# --- the decoder and its labels --------------------------------------------------------------------------


def _decoder_config(state: dict[str, Tensor], opts: Options, source: str) -> MLDecoderConfig:
    """Decoder shape from the tensors: proj (D, C_in), linear1 (F, D), group FC (G, D, K) and its
    bias (num_classes,). The head count is not in the tensors: ``opts.decoder_heads``."""
    fc = _need(state, "decoder.group_fc_weight", source)
    bias = _need(state, "decoder.group_fc_bias", source)
    proj = _need(state, "decoder.proj.weight", source)
    ffn = _need(state, "decoder.layers.0.linear1.weight", source)
    if fc.ndim != 3 or bias.ndim != 1 or proj.ndim != 2:
        raise ValueError(
            f"{source}: decoder shapes group_fc_weight {tuple(fc.shape)}, group_fc_bias {tuple(bias.shape)}, "
            f"proj.weight {tuple(proj.shape)}; expected (G, D, K), (num_classes,), (D, C)"
        )
    groups, _, per_group = fc.shape
    layers = _count_layers(state, "decoder.layers.", source)
    with prefix_errors(source):
        cfg = MLDecoderConfig(
            num_classes=bias.shape[0], in_dim=proj.shape[1], embed_dim=proj.shape[0],
            num_layers=layers, num_heads=opts.decoder_heads, ffn_dim=ffn.shape[0], num_groups=groups,
        )
    if cfg.duplicate_factor != per_group:
        raise ValueError(
            f"{source}: decoder.group_fc_weight {tuple(fc.shape)}: {groups} groups x {per_group} "
            f"outputs do not fit {cfg.num_classes} classes"
        )
    return cfg


def _labels(labels: Any, default: tuple[str, ...] | None, num_classes: int, source: str) -> tuple[str, ...]:
    """Class names for a loaded decoder: given (count must match), saved, or AffectNet-7/-8 by count."""
    if labels is not None:
        chosen: LabelSet = label_set(labels)
        if len(chosen) != num_classes:
            raise ValueError(
                f"{source}: the decoder has {num_classes} classes but {len(chosen)} labels were given ({chosen.name})"
            )
        return chosen.classes
    if default is not None:
        return default
    for candidate in (AFFECTNET7, AFFECTNET8):
        if len(candidate) == num_classes:
            return candidate.classes
    raise ValueError(f"{source}: the decoder has {num_classes} classes; pass labels= to name them")


# --- reading shapes off the state ------------------------------------------------------------------------


def _need(state: Mapping[str, Tensor], key: str, source: str) -> Tensor:
    if key not in state:
        near = [k for k in state if k.split(".")[0] == key.split(".")[0]][:4]
        hint = f" (keys there: {', '.join(near)})" if near else ""
        raise ValueError(f"{source}: missing key {key}, needed to infer the model's shape{hint}")
    return state[key]


def _count_layers(state: Mapping[str, Tensor], prefix: str, source: str) -> int:
    """Number of blocks under ``prefix`` (``prefix``N.*), checking the indices run 0..N-1."""
    found = {int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    if not found:
        raise ValueError(f"{source}: no layers ({prefix}N.*) found")
    if found != set(range(len(found))):
        raise ValueError(f"{source}: layer indices under {prefix} are not 0..{len(found) - 1}: {sorted(found)}")
    return len(found)
