"""Unlabelled images for ``motivnet pretrain``: every image file under the source folders
(recursively; class folders are fine, their names are ignored), through the same decode ->
augment -> ``Preprocessor`` path as labelled training.

Bad files never stop a run: a file whose header cannot be read is dropped when the sources are
scanned, and one that fails later (e.g. a truncated body) is dropped from its batch; both with
one warning line naming the file.
"""
from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from ..data.augment import AugmentConfig, Augmenter
from ..data.dataset import sample_seed
from ..preprocess import ImageError, Preprocessor, decode_image
from ..sources import expand_sources, is_video

Log = Callable[[str], None]


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def probe_image(path: Path, max_pixels: int) -> str | None:
    """Why ``path`` is unusable, from its header alone (cheap: no pixel decoding), or None."""
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
    except OSError as e:  # includes PIL's UnidentifiedImageError
        return f"not an image Pillow can read ({type(e).__name__})"
    except (ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return f"unreadable image header ({e})"
    if w * h == 0:
        return f"image has no pixels ({w}x{h})"
    if w * h > max_pixels:
        return f"{w}x{h} pixels is over the cap of {max_pixels:,}"
    return None


def find_images(sources: Sequence[str | os.PathLike], max_pixels: int, warn: Log = _stderr) -> list[Path]:
    """Image files of ``sources`` (folders recursive, files, globs), in a stable order, each
    checked from its header; unusable files and video files get one warning line and are left out.
    Raises FileNotFoundError if a source yields nothing at all or no usable image remains."""
    files, errors = expand_sources(sources)
    if errors:
        raise FileNotFoundError("; ".join(str(e) for e in errors))
    good = []
    for f in files:
        reason = "a video file (pretraining takes still images)" if is_video(f) else probe_image(f, max_pixels)
        if reason:
            warn(f"warning: skipping {f}: {reason}")
        else:
            good.append(f)
    if not good:
        raise FileNotFoundError(f"no usable image in {', '.join(map(str, sources))}")
    return good


def pretrain_augment(crop_scale: tuple[float, float] = (0.2, 1.0), hflip: float = 0.5) -> Augmenter:
    """MAE's augmentation: a random resized crop and a horizontal flip, nothing else."""
    return Augmenter(AugmentConfig(
        hflip=hflip, crop=1.0, crop_scale=tuple(crop_scale), crop_ratio=(3 / 4, 4 / 3),
        brightness=0.0, contrast=0.0, saturation=0.0, greyscale=0.0,
    ))


class ImageFiles(Dataset):
    """``ds[i]`` -> (image (3, H, W) float32, i), or None when the file cannot be decoded.

    Augmentation is a function of (seed, epoch, index), as in ``EmotionDataset``, so a resumed
    run sees the images an uninterrupted one would.
    """

    def __init__(self, files: Sequence[Path], preprocessor: Preprocessor, augment: Augmenter | None, seed: int = 0,
                 warn: Log = _stderr) -> None:
        self.files = list(files)
        self.preprocessor = preprocessor
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.warn = warn
        self.failed: set[int] = set()  # in this process (each DataLoader worker has its own)

    def __len__(self) -> int:
        return len(self.files)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | None:
        path = self.files[index]
        try:
            rgb = decode_image(path, self.preprocessor.max_pixels)
        except ImageError as e:
            if index not in self.failed:
                self.failed.add(index)
                self.warn(f"warning: skipping {e}")
            return None
        if self.augment is not None:
            rgb = self.augment(rgb, torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, index)))
        return self.preprocessor.tensor(rgb), index


def collate_images(items: list[tuple[torch.Tensor, int] | None]) -> torch.Tensor | None:
    """Stack the decodable images of a batch: (B', 3, H, W), or None if none was."""
    images = [it[0] for it in items if it is not None]
    return torch.stack(images) if images else None


__all__ = ["ImageFiles", "collate_images", "find_images", "pretrain_augment", "probe_image"]
