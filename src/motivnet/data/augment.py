"""Training augmentations on decoded RGB uint8 arrays (H, W, 3), applied before the
``Preprocessor`` so training and evaluation share the rest of the path.

Every random draw comes from the ``torch.Generator`` passed in, which the dataset seeds from
(seed, epoch, index): augmentation is reproducible and independent of worker count.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image

from ..preprocess import zoom_in  # the one centred crop; evaluation's crop_pct uses it too

# ITU-R 601 luma weights, as PIL's "L" conversion uses.
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def hflip(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


def random_resized_crop(
    rgb: np.ndarray, g: torch.Generator, scale: tuple[float, float], ratio: tuple[float, float]
) -> np.ndarray:
    """Crop a random window of ``scale`` x the area and aspect ``ratio`` x the image's.
    No resize here: the Preprocessor brings every image to the model size anyway."""
    h, w = rgb.shape[:2]
    area = _uniform(g, *scale)
    aspect = float(np.exp(_uniform(g, float(np.log(ratio[0])), float(np.log(ratio[1])))))
    cw = int(round(w * np.sqrt(area * aspect)))
    ch = int(round(h * np.sqrt(area / aspect)))
    cw, ch = max(1, min(w, cw)), max(1, min(h, ch))
    x = int(torch.randint(0, w - cw + 1, (), generator=g))
    y = int(torch.randint(0, h - ch + 1, (), generator=g))
    return np.ascontiguousarray(rgb[y : y + ch, x : x + cw])


def colour_jitter(
    rgb: np.ndarray, g: torch.Generator, brightness: float, contrast: float, saturation: float
) -> np.ndarray:
    """Scale brightness, contrast (about the mean grey) and saturation (about the pixel's grey)
    by factors drawn from [1 - s, 1 + s]."""
    x = rgb.astype(np.float32)
    if brightness > 0:
        x *= _uniform(g, 1 - brightness, 1 + brightness)
    if contrast > 0:
        mean = float((x @ LUMA).mean())
        x = (x - mean) * _uniform(g, 1 - contrast, 1 + contrast) + mean
    if saturation > 0:
        grey = (x @ LUMA)[..., None]
        x = (x - grey) * _uniform(g, 1 - saturation, 1 + saturation) + grey
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def greyscale(rgb: np.ndarray) -> np.ndarray:
    grey = np.clip(rgb.astype(np.float32) @ LUMA + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def low_resolution(rgb: np.ndarray, side: int) -> np.ndarray:
    """Shrink so the longer side is ``side`` pixels and scale back up: the blur and blockiness of
    small faces (FER2013 is 48x48, faces in group photos are often smaller)."""
    h, w = rgb.shape[:2]
    if max(h, w) <= side:
        return rgb
    scale = side / max(h, w)
    small = Image.fromarray(rgb).resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BILINEAR)
    return np.asarray(small.resize((w, h), Image.BILINEAR))


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre, filling the corners with the edge colour's mean (no black wedges)."""
    fill = tuple(int(v) for v in np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).mean(axis=0))
    return np.asarray(Image.fromarray(rgb).rotate(degrees, resample=Image.BILINEAR, fillcolor=fill))


def zoom_out(rgb: np.ndarray, factor: float) -> np.ndarray:
    """Pad every side with its edge pixels so the image becomes ``factor`` x as wide and tall: a
    face framed tighter than AffectNet's (FER2013's crops, a detector's tight box) then trains at
    AffectNet's framing. Edge padding, not a flat colour, so no border line marks the pad."""
    h, w = rgb.shape[:2]
    py, px = int(round(h * (factor - 1) / 2)), int(round(w * (factor - 1) / 2))
    if py == 0 and px == 0:
        return rgb
    return np.pad(rgb, ((py, py), (px, px), (0, 0)), mode="edge")


@dataclass
class AugmentConfig:
    """Mild face augmentations; set a probability or strength to 0 to turn one off."""

    hflip: float = 0.5
    crop: float = 1.0  # probability of a random resized crop
    crop_scale: tuple[float, float] = (0.8, 1.0)
    crop_ratio: tuple[float, float] = (0.9, 1.1)
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    greyscale: float = 0.05
    rotate: float = 0.0  # max degrees either way
    lowres: float = 0.0  # probability of a low-resolution round trip
    lowres_side: tuple[int, int] = (16, 48)  # its range of sizes (longer side, pixels)
    zoom_out: float = 0.0  # probability of padding the image out (a looser framing)
    zoom_out_scale: tuple[float, float] = (1.0, 1.3)  # its range of factors (padded size / original)
    zoom_in: float = 0.0  # probability of a centred crop (a tighter framing)
    zoom_in_scale: tuple[float, float] = (0.6, 0.9)  # its range of sides (crop side / original)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AugmentConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown augmentation options {sorted(unknown)}; known: {sorted(known)}")
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**d)


class Augmenter:
    """``augment(rgb, generator) -> rgb``: crop, flip, jitter, greyscale, rotate, low resolution,
    zoom-out, zoom-in."""

    def __init__(self, config: AugmentConfig | None = None) -> None:
        self.config = config or AugmentConfig()

    def __call__(self, rgb: np.ndarray, g: torch.Generator) -> np.ndarray:
        c = self.config
        # Draw every coin even when an op is off, so changing one knob does not reshuffle the rest.
        coins = torch.rand(3, generator=g).tolist()
        if coins[0] < c.crop:
            rgb = random_resized_crop(rgb, g, c.crop_scale, c.crop_ratio)
        if coins[1] < c.hflip:
            rgb = hflip(rgb)
        if c.brightness or c.contrast or c.saturation:
            rgb = colour_jitter(rgb, g, c.brightness, c.contrast, c.saturation)
        if coins[2] < c.greyscale:
            rgb = greyscale(rgb)
        # Options added later draw after all the original draws, so old configs keep their samples.
        extra = torch.rand(3, generator=g).tolist()
        if c.rotate:
            rgb = rotate(rgb, (2 * extra[0] - 1) * c.rotate)
        if extra[1] < c.lowres:
            lo, hi = c.lowres_side
            rgb = low_resolution(rgb, lo + int(extra[2] * (hi - lo + 1)))
        later = torch.rand(2, generator=g).tolist()
        if later[0] < c.zoom_out:
            lo, hi = c.zoom_out_scale
            rgb = zoom_out(rgb, lo + later[1] * (hi - lo))
        tight = torch.rand(4, generator=g).tolist()
        if tight[0] < c.zoom_in:
            lo, hi = c.zoom_in_scale
            rgb = zoom_in(rgb, lo + tight[1] * (hi - lo), 2 * tight[2] - 1, 2 * tight[3] - 1)
        return rgb

    def __repr__(self) -> str:
        return f"Augmenter({self.config})"


def build_augment(spec: Any) -> Augmenter | None:
    """None/False -> no augmentation; True -> defaults; a mapping -> ``AugmentConfig`` fields."""
    if spec is None or spec is False:
        return None
    if spec is True:
        return Augmenter()
    if isinstance(spec, AugmentConfig):
        return Augmenter(spec)
    if isinstance(spec, Mapping):
        return Augmenter(AugmentConfig.from_dict(spec))
    raise TypeError(f"augment must be a bool or a mapping of options, not {type(spec).__name__}")


__all__ = ["AugmentConfig", "Augmenter", "build_augment", "colour_jitter", "greyscale", "hflip", "low_resolution", "random_resized_crop", "rotate", "zoom_in", "zoom_out"]
