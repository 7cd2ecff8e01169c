"""Turn the PATH arguments of a command (files, folders, globs) into a list of files."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".jfif"}
)
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})
MEDIA_SUFFIXES = IMAGE_SUFFIXES | VIDEO_SUFFIXES


def is_video(path: str | os.PathLike) -> bool:
    """A path whose suffix is a video container's (decided by name, like folder expansion)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class SourceError:
    """A PATH argument that yields no file. ``str()`` is the one-line message for stderr."""

    source: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


def _has_magic(s: str) -> bool:
    return any(c in s for c in "*?[")


def _folder_images(folder: Path) -> list[Path]:
    """Image and video files below ``folder``, recursively, in a stable order; hidden entries skipped."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in sorted(files) if not f.startswith(".") and Path(f).suffix.lower() in MEDIA_SUFFIXES]
    return found


def expand_sources(args: Iterable[str | os.PathLike]) -> tuple[list[Path], list[SourceError]]:
    """Files named directly are taken whatever their suffix (decoding decides if they are
    images); folders contribute their image files; globs (``**`` recursive) their matches.
    Returns the files, without duplicates and in argument order, and one error per argument
    that yields nothing."""
    files: list[Path] = []
    errors: list[SourceError] = []
    seen: set[Path] = set()
    for arg in args:
        s = str(arg)
        path = Path(s).expanduser()
        if path.is_dir():
            matches = _folder_images(path)
            if not matches:
                errors.append(SourceError(s, "folder holds no image or video files"))
        elif path.exists():
            matches = [path]
        elif _has_magic(s):
            matches = []
            for m in sorted(glob.glob(os.path.expanduser(s), recursive=True)):
                p = Path(m)
                matches += _folder_images(p) if p.is_dir() else [p]
            if not matches:
                errors.append(SourceError(s, "pattern matched no files"))
        else:
            errors.append(SourceError(s, "no such file or folder"))
            matches = []
        for m in matches:
            key = m.resolve()
            if key not in seen:
                seen.add(key)
                files.append(m)
    return files, errors


__all__ = ["IMAGE_SUFFIXES", "MEDIA_SUFFIXES", "VIDEO_SUFFIXES", "SourceError", "expand_sources", "is_video"]
