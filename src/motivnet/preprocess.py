"""The one preprocessing path: training, evaluation and inference all go through it.

decode (EXIF orientation, any PIL mode -> RGB, pixel cap) -> resize to the model's input size
(``stretch`` or ``pad``) -> Sapiens normalisation. Training augmentations act on the decoded
uint8 image before ``Preprocessor`` and never replace it, so train and test cannot drift apart.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    from .models import MotivNetConfig

SAPIENS_MEAN = (123.5, 116.5, 103.5)
SAPIENS_STD = (58.5, 57.0, 57.5)
# 64 megapixels: far above any camera photo we expect, far below what exhausts memory.
DEFAULT_MAX_PIXELS = 64_000_000

ImageLike = Union[str, os.PathLike, bytes, Image.Image, np.ndarray, torch.Tensor]


class ImageError(ValueError):
    """An input that cannot be used as an image. ``str(err)`` is one line: ``<source>: <reason>``."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def decode_image(source: ImageLike, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> np.ndarray:
    """Any image input -> RGB uint8 array (H, W, 3).

    Files and bytes are decoded with EXIF orientation applied; arrays may be (H, W), (H, W, 1),
    (H, W, 3) or (H, W, 4) uint8; tensors (3, H, W) uint8. Raises ``ImageError`` naming the
    source and the reason for anything that is not a usable image.
    """
    label = name or (str(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__)
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source, label)
    if isinstance(source, torch.Tensor):
        if source.ndim != 3 or source.shape[0] not in (1, 3) or source.dtype != torch.uint8:
            raise ImageError(label, f"expected a (3, H, W) uint8 tensor, got {tuple(source.shape)} {source.dtype}")
        return _array_to_rgb(source.permute(1, 2, 0).cpu().numpy(), label)
    if isinstance(source, Image.Image):
        return np.array(to_rgb(_check_pixels(source, max_pixels, label)))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageError(label, "no such file")
        if path.is_dir():
            raise ImageError(label, "is a folder, not an image file")
        if path.stat().st_size == 0:
            raise ImageError(label, "empty file (0 bytes)")
        data: bytes | Path = path
    elif isinstance(source, (bytes, bytearray)):
        if not source:
            raise ImageError(label, "empty input (0 bytes)")
        data = bytes(source)
    else:
        raise ImageError(label, f"unsupported input type {type(source).__name__}")
    return np.array(to_rgb(_open(data, max_pixels, label)))


def _open(data: bytes | Path, max_pixels: int, label: str) -> Image.Image:
    """Open, cap the pixel count from the header alone, then fully decode."""
    try:
        with warnings.catch_warnings():
            # Our own cap below replaces PIL's bomb warning with a clear error.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data) if isinstance(data, bytes) else data)
            _check_pixels(img, max_pixels, label)
            img.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(label, f"too many pixels ({e})") from None
    except UnidentifiedImageError:
        raise ImageError(label, "not an image, or a format Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(label, f"truncated or corrupt image ({e})") from None
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not lose an otherwise good image
        return img


def _check_pixels(img: Image.Image, max_pixels: int, label: str) -> Image.Image:
    w, h = img.size
    if w * h > max_pixels:
        raise ImageError(label, f"{w}x{h} = {w * h:,} pixels is over the cap of {max_pixels:,} (decompression bomb?)")
    if w == 0 or h == 0:
        raise ImageError(label, f"image has no pixels ({w}x{h})")
    return img


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB. Transparency is flattened onto the normalisation mean, which the
    model sees as zero; 16/32-bit and float images are scaled down to 8 bits, not clipped."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        if img.mode == "F" and arr.max(initial=0) <= 1.0:
            arr = arr * 255.0
        elif img.mode != "F":
            arr = arr / 257.0  # 16-bit full range -> 8-bit full range
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, tuple(round(v) for v in SAPIENS_MEAN) + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _array_to_rgb(arr: np.ndarray, label: str) -> np.ndarray:
    if arr.dtype != np.uint8:
        raise ImageError(label, f"expected a uint8 array, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageError(label, f"expected an (H, W[, 1|3|4]) array, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        return np.array(to_rgb(Image.fromarray(arr, "RGBA")))
    return np.ascontiguousarray(arr)


def resize(image: torch.Tensor, size: tuple[int, int], policy: str, fill: Sequence[float]) -> torch.Tensor:
    """(3, h, w) float in 0-255 -> (3, H, W) float in 0-255.

    ``stretch`` scales each axis independently (the paper's training); ``pad`` keeps the aspect
    ratio and letterboxes with ``fill`` (the mean colour, so the bars normalise to zero).
    Bilinear with antialiasing: no ringing, so values stay within 0-255.
    """
    h, w = image.shape[-2:]
    th, tw = size
    if policy == "stretch":
        return _interp(image, (th, tw))
    if policy != "pad":
        raise ValueError(f"unknown resize policy {policy!r}: use 'stretch' or 'pad'")
    scale = min(th / h, tw / w)
    nh, nw = max(1, min(th, round(h * scale))), max(1, min(tw, round(w * scale)))
    out = torch.tensor(fill, dtype=image.dtype).view(3, 1, 1).expand(3, th, tw).clone()
    top, left = (th - nh) // 2, (tw - nw) // 2
    out[:, top : top + nh, left : left + nw] = _interp(image, (nh, nw))
    return out


def zoom_in(rgb: np.ndarray, side: float, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """Crop a window ``side`` x as wide and tall as the image, centred but for a shift of
    ``dx``/``dy`` (each in [-1, 1]) times half the free margin: AffectNet's framing turned into the
    tight, forehead-and-chin-cut crops of FER2013 or a detector's tight box. Unlike
    ``random_resized_crop`` the face stays near the middle. With no shift it is also the
    ``crop_pct`` centre crop of evaluation and inference (``Preprocessor``)."""
    h, w = rgb.shape[:2]
    cw, ch = max(1, min(w, int(round(w * side)))), max(1, min(h, int(round(h * side))))
    x = int(round((w - cw) / 2 * (1 + 0.5 * dx)))
    y = int(round((h - ch) / 2 * (1 + 0.5 * dy)))
    return np.ascontiguousarray(rgb[y : y + ch, x : x + cw])


def _interp(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    return F.interpolate(image[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]


@dataclass
class Preprocessor:
    """RGB uint8 images -> a normalised float32 batch (B, 3, H, W) for the model."""

    image_size: tuple[int, int]
    resize: str = "stretch"
    mean: tuple[float, float, float] = SAPIENS_MEAN
    std: tuple[float, float, float] = SAPIENS_STD
    max_pixels: int = DEFAULT_MAX_PIXELS
    crop_pct: float = 1.0  # keep this centred fraction of each side first (evaluation; training uses 1.0)

    @classmethod
    def from_config(cls, config: "MotivNetConfig") -> "Preprocessor":
        return cls(image_size=config.image_size, resize=config.resize, mean=config.mean, std=config.std,
                   crop_pct=config.crop_pct)

    def tensor(self, image: ImageLike) -> torch.Tensor:
        """One image of any kind -> (3, H, W) float32, resized and normalised."""
        return self.rgb_tensor(decode_image(image, self.max_pixels))

    def rgb_tensor(self, arr: np.ndarray, crop_pct: float | None = None) -> torch.Tensor:
        """A decoded RGB uint8 (h, w, 3) array -> (3, H, W), after a centred crop of ``crop_pct``
        (default: this preprocessor's) of each side."""
        crop_pct = self.crop_pct if crop_pct is None else crop_pct
        if crop_pct < 1.0:
            arr = zoom_in(arr, crop_pct)
        if not arr.flags.writeable:  # torch warns on read-only memory; crops may be views
            arr = arr.copy()
        rgb = torch.from_numpy(arr).permute(2, 0, 1).float()
        x = resize(rgb, self.image_size, self.resize, self.mean)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std

    def __call__(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """A list of images -> (B, 3, H, W) float32."""
        return torch.stack([self.tensor(im) for im in images])


__all__ = ["DEFAULT_MAX_PIXELS", "SAPIENS_MEAN", "SAPIENS_STD", "ImageError", "Preprocessor", "decode_image", "resize", "to_rgb", "zoom_in"]
