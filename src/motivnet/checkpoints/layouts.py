"""Source layouts: the key-mapping table of each, detecting a flat dict's layout, renaming its keys to ours."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from torch import Tensor

from ._messages import short

# --- key mapping tables: (full-match regex on the source key, replacement); the first match wins -------

Rules = list[tuple[str, str]]
_ENCODER_KEY = r"(patch_embed\.projection\.(?:weight|bias)|pos_embed|layers\.\d+\..+|ln1\.(?:weight|bias))"

AUTHORS_RULES: Rules = [
    # Their encoder has no patch_embed level; accept both spellings.
    (r"pose_encoder\.(?:patch_embed\.)?projection\.(weight|bias)", r"encoder.patch_embed.projection.\1"),
    (r"pose_encoder\.(pos_embed|layers\.\d+\..+|ln1\.(?:weight|bias))", r"encoder.\1"),
    (r"decoder\.decoder\.embed_standart\.(weight|bias)", r"decoder.proj.\1"),
    (r"decoder\.decoder\.query_embed(?:\.weight)?", r"decoder.queries"),
    # Named self_attn in their file (multihead_attn upstream), but queries attend to the features.
    (r"decoder\.decoder\.layers\.(\d+)\.(?:self_attn|multihead_attn)\.(.+)", r"decoder.layers.\1.cross_attn.\2"),
    (r"decoder\.decoder\.layers\.(\d+)\.((?:linear[12]|norm[123])\.(?:weight|bias))", r"decoder.layers.\1.\2"),
    (r"decoder\.decoder\.duplicate_pooling", r"decoder.group_fc_weight"),  # (G, D, K)
    (r"decoder\.decoder\.duplicate_pooling_bias", r"decoder.group_fc_bias"),  # (num_classes,)
]
SAPIENS_RULES: Rules = [(rf"(?:backbone\.)?{_ENCODER_KEY}", r"encoder.\1")]
MOTIVNET_RULES: Rules = [(r"((?:en|de)coder\..+)", r"\1")]


@dataclass(frozen=True)
class Layout:
    """One source layout: how error messages describe it, how its keys map to ours, what it lacks."""

    help: str  # the keys that identify it, for error messages
    rules: Rules
    ignored: tuple[str, ...] = ()  # source keys dropped on purpose; anything else unmapped is unexpected
    fresh_decoder: bool = False  # no MotivNet decoder in the file: one is freshly initialised


LAYOUTS: dict[str, Layout] = {
    "motivnet": Layout("encoder.* + decoder.proj.* (this package's model.safetensors)", MOTIVNET_RULES),
    "authors": Layout("pose_encoder.* + decoder.decoder.* (the MotivNet authors' MotivNet.pth)", AUTHORS_RULES),
    "sapiens-pose": Layout(
        "backbone.* [+ head.*] (Sapiens pose/seg/depth .pth, TorchScript or torch.export .pt2)",
        SAPIENS_RULES, ignored=(r"head\..*", r"data_preprocessor\..*"), fresh_decoder=True,
    ),
    "sapiens-pretrain": Layout(
        "cls_token + pos_embed (1, 1+64*64, C) (Sapiens MAE pretrain .pth)",
        # cls token, mask token, MAE decoder/neck: none of it is the encoder
        SAPIENS_RULES, ignored=(r".*",), fresh_decoder=True,
    ),
}
KINDS = tuple(LAYOUTS)
_KIND_ALIASES = {
    "ours": "motivnet", "author": "authors", "motivnet-authors": "authors", "pose": "sapiens-pose",
    "sapiens": "sapiens-pose", "torchscript": "sapiens-pose", "pt2": "sapiens-pose",
    "pretrain": "sapiens-pretrain", "mae": "sapiens-pretrain",
}


def canonical_kind(kind: str) -> str:
    """A ``kind=`` argument (any case, or an alias) as one of ``KINDS``."""
    key = kind.strip().lower()
    key = _KIND_ALIASES.get(key, key)
    if key not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)} (aliases: {', '.join(_KIND_ALIASES)})")
    return key


def detect_kind(state: Mapping[str, Any]) -> str:
    """The layout of a flat ``{name: tensor}`` dict: one of ``KINDS``; ValueError if none fits."""
    keys = list(state)

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in keys)

    if has("pose_encoder.") or has("decoder.decoder."):
        return "authors"
    if has("encoder.patch_embed.") and has("decoder.proj."):
        return "motivnet"
    if "cls_token" in state or "backbone.cls_token" in state:
        return "sapiens-pretrain"
    if has("backbone.patch_embed.") or has("backbone.layers.") or "patch_embed.projection.weight" in state:
        return "sapiens-pose"
    known = "; ".join(f"{k}: {layout.help}" for k, layout in LAYOUTS.items())
    raise ValueError(f"unknown checkpoint layout (first keys: {', '.join(keys[:6]) or 'none'}); known layouts: {known}")


def remap(state: Mapping[str, Tensor], kind: str, source: str = "checkpoint") -> tuple[dict[str, Tensor], list[str]]:
    """Rename ``state``'s keys to ours with the ``kind``'s table.

    Unmapped keys are dropped (with a note) when the layout ignores them, otherwise kept under their
    own name so that the strict load reports them as unexpected.
    """
    layout = LAYOUTS[kind]
    rules = [(re.compile(p), r) for p, r in layout.rules]
    ignore = [re.compile(p) for p in layout.ignored]
    out: dict[str, Tensor] = {}
    origin: dict[str, str] = {}
    ignored: list[str] = []
    matched = 0
    for key, value in state.items():
        new = _apply(rules, key)
        matched += new is not None
        if new is None and any(p.fullmatch(key) for p in ignore):
            ignored.append(key)
            continue
        new = key if new is None else new
        if new in out:
            raise ValueError(f"{source}: keys {origin[new]} and {key} both map to {new}")
        out[new], origin[new] = value, key
    if not matched:
        raise ValueError(f"{source}: no key matches this layout (first keys: {', '.join(list(state)[:6])})")
    notes = [f"ignored {len(ignored)} keys not used by MotivNet: {short(ignored)}"] if ignored else []
    return out, notes


def _apply(rules: list[tuple[re.Pattern[str], str]], key: str) -> str | None:
    """The first rule that matches the whole key, applied; None when none does."""
    for pattern, replacement in rules:
        m = pattern.fullmatch(key)
        if m:
            return m.expand(replacement)
    return None


__all__ = ["AUTHORS_RULES", "KINDS", "LAYOUTS", "MOTIVNET_RULES", "SAPIENS_RULES", "Layout", "detect_kind", "remap"]
