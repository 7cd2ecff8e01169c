"""MotivNet: Sapiens encoder + ML-Decoder head, with HF-style save/load.

A saved model is a folder holding ``config.json`` (architecture, labels, preprocessing) and
``model.safetensors`` (weights). Nothing in it is pickled.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..fileio import atomic_write
from ..labels import AFFECTNET8, label_set
from ..preprocess import SAPIENS_MEAN, SAPIENS_STD
from .ml_decoder import MLDecoder, MLDecoderConfig
from .sapiens import SapiensConfig, SapiensViT, sapiens_config

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
RESIZE_POLICIES = ("stretch", "pad")


@dataclass
class MotivNetConfig:
    """Everything needed to rebuild a model and feed it exactly as it was trained."""

    encoder: SapiensConfig = field(default_factory=SapiensConfig)
    decoder: MLDecoderConfig = field(default_factory=MLDecoderConfig)
    labels: tuple[str, ...] = AFFECTNET8.classes
    resize: str = "stretch"  # how images reach image_size: "stretch" (the paper's training) or "pad"
    mean: tuple[float, float, float] = SAPIENS_MEAN
    std: tuple[float, float, float] = SAPIENS_STD
    # Inference only: keep this centred fraction of each side before resizing (timm's crop_pct).
    # Training's random crops show faces larger than a whole image does; 1.0 keeps the whole image.
    crop_pct: float = 1.0
    encoder_name: str | None = None  # the registry name it was built from, for humans

    def __post_init__(self) -> None:
        self.labels = label_set(list(self.labels)).classes
        self.mean = tuple(float(v) for v in self.mean)  # type: ignore[assignment]
        self.std = tuple(float(v) for v in self.std)  # type: ignore[assignment]
        self.crop_pct = float(self.crop_pct)
        if not 0.0 < self.crop_pct <= 1.0:
            raise ValueError(f"crop_pct must be in (0, 1], not {self.crop_pct}")
        if self.resize not in RESIZE_POLICIES:
            raise ValueError(f"resize must be one of {RESIZE_POLICIES}, not {self.resize!r}")
        if self.decoder.num_classes != len(self.labels):
            raise ValueError(f"decoder has {self.decoder.num_classes} classes but {len(self.labels)} labels")
        if self.decoder.in_dim != self.encoder.embed_dim:
            raise ValueError(f"decoder in_dim {self.decoder.in_dim} != encoder dim {self.encoder.embed_dim}")

    @classmethod
    def build(
        cls,
        encoder: str | SapiensConfig = "sapiens-1b",
        labels: Any = AFFECTNET8,
        image_size: tuple[int, int] | None = None,
        decoder_dim: int = 1152,
        **kwargs: Any,
    ) -> "MotivNetConfig":
        """Config from an encoder name (or config), a label set and optional input size."""
        name = encoder if isinstance(encoder, str) else None
        enc = sapiens_config(encoder) if isinstance(encoder, str) else encoder
        if image_size is not None:
            enc = SapiensConfig(**{**enc.to_dict(), "image_size": tuple(image_size)})
        classes = label_set(labels).classes
        dec = MLDecoderConfig(num_classes=len(classes), in_dim=enc.embed_dim, embed_dim=decoder_dim)
        return cls(encoder=enc, decoder=dec, labels=classes, encoder_name=name, **kwargs)

    @property
    def image_size(self) -> tuple[int, int]:
        return self.encoder.image_size

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_type": "motivnet",
            "encoder_name": self.encoder_name,
            "encoder": self.encoder.to_dict(),
            "decoder": self.decoder.to_dict(),
            "labels": list(self.labels),
            "resize": self.resize,
            "mean": list(self.mean),
            "std": list(self.std),
            "crop_pct": self.crop_pct,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MotivNetConfig":
        d = dict(d)
        d.pop("model_type", None)
        return cls(
            encoder=SapiensConfig.from_dict(d.pop("encoder")),
            decoder=MLDecoderConfig.from_dict(d.pop("decoder")),
            **d,
        )


class MotivNet(nn.Module):
    """Normalised images (B, 3, H, W) -> emotion logits (B, num_classes)."""

    def __init__(self, config: MotivNetConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = SapiensViT(config.encoder)
        self.decoder = MLDecoder(config.decoder)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
        """Write ``config.json`` + ``model.safetensors`` into ``directory``; each file atomically.

        ``dtype`` (e.g. torch.float16) stores floating tensors at that precision, halving the file;
        ``from_pretrained`` casts them back to the model's float32."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        tensors = {
            k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().contiguous().cpu()
            for k, v in self.state_dict().items()
        }
        atomic_write(out / WEIGHTS_NAME, lambda p: save_file(tensors, p, metadata={"format": "pt"}))
        text = json.dumps(self.config.to_dict(), indent=2) + "\n"
        atomic_write(out / CONFIG_NAME, lambda p: Path(p).write_text(text))
        return out

    @classmethod
    def from_pretrained(
        cls, directory: str | os.PathLike, map_location: str | torch.device = "cpu"
    ) -> "MotivNet":
        """Rebuild a model saved by ``save_pretrained``; strict about keys and shapes."""
        src = Path(directory)
        cfg_path, w_path = src / CONFIG_NAME, src / WEIGHTS_NAME
        for p in (cfg_path, w_path):
            if not p.is_file():
                raise FileNotFoundError(f"{p}: missing; a MotivNet folder holds {CONFIG_NAME} and {WEIGHTS_NAME}")
        config = MotivNetConfig.from_dict(json.loads(cfg_path.read_text()))
        model = cls(config)
        state = load_file(str(w_path), device=str(map_location))
        load_state_dict_strict(model, state, source=str(w_path))
        return model.eval()


def load_state_dict_strict(
    model: nn.Module, state: dict[str, torch.Tensor], source: str, assign: bool = False
) -> None:
    """Load ``state`` into ``model``, or raise one error naming every missing, unexpected
    and mis-shaped key.

    ``assign=True``: the model takes ``state``'s tensors (cast to its own dtypes) instead of copying
    them into its own; the way to fill a model built on the meta device. The tensors then become the
    model's: the caller must not share them elsewhere.
    """
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_short(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_short(unexpected)}")
        if shapes:
            parts.append(f"shape mismatches ({len(shapes)}): {_short(shapes)}")
        raise ValueError(f"{source}: checkpoint does not fit the model: " + "; ".join(parts))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, assign=assign)


def _short(items: list[str], n: int = 8) -> str:
    more = f", ... (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


__all__ = ["MotivNet", "MotivNetConfig", "load_state_dict_strict"]
