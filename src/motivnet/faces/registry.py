"""A tiny registry of face-detector backends, so another backend can be plugged in by name."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .base import FaceDetector

__all__ = ["DEFAULT_DETECTOR", "available_detectors", "get_detector", "register_detector"]

#: Backend used by :func:`get_detector` when no name is given.
DEFAULT_DETECTOR = "retinaface"


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., FaceDetector]
    installed: Callable[[], bool] | None


_REGISTRY: dict[str, _Entry] = {}


def _key(name: str) -> str:
    return name.strip().lower()


def register_detector(
    name: str,
    factory: Callable[..., FaceDetector],
    *,
    installed: Callable[[], bool] | None = None,
    overwrite: bool = False,
) -> None:
    """Make ``get_detector(name, **kw)`` return ``factory(**kw)``.

    Args:
        name: backend name (case-insensitive).
        factory: callable (usually the detector class) taking keyword options such as
            ``min_score`` and ``max_faces`` and returning a :class:`FaceDetector` (or any object
            with a compatible ``detect(image) -> list[Face]`` method). It should import its
            backend package lazily, so registering never fails on a missing package.
        installed: optional cheap check used by ``available_detectors(installed_only=True)``.
        overwrite: allow replacing an existing registration (otherwise a ValueError).
    """
    key = _key(name)
    if not key or key == "auto":
        raise ValueError(f"invalid detector name {name!r} ('auto' is reserved)")
    if not callable(factory):
        raise TypeError(f"factory for {name!r} is not callable: {factory!r}")
    if key in _REGISTRY and not overwrite:
        raise ValueError(f"face detector {key!r} is already registered (pass overwrite=True to replace it)")
    _REGISTRY[key] = _Entry(factory, installed)


def available_detectors(installed_only: bool = False) -> list[str]:
    """Sorted names of registered backends; with ``installed_only``, only those whose package is
    installed (backends registered without an ``installed`` check count as installed)."""
    return sorted(k for k, e in _REGISTRY.items() if not installed_only or e.installed is None or e.installed())


def get_detector(name: str = DEFAULT_DETECTOR, **kwargs: Any) -> FaceDetector:
    """Build the face detector registered as ``name`` with options ``kwargs``.

    ``name="auto"`` picks the default backend when its package is installed, else the first
    installed one (and the default, with its install hint, when none is).

    Common options: ``min_score`` (float) and ``max_faces`` (int or None); backends take more
    (see their classes, e.g. :class:`~motivnet.faces.retinaface.RetinaFaceDetector`).

    Raises:
        ValueError: no backend is registered under ``name`` (the message lists the known ones).
        MissingBackendError: the backend's pip package is not installed (the message names it).
    """
    key = _key(name)
    if key == "auto":  # the default backend if installed, else the first installed one
        installed = available_detectors(installed_only=True)
        key = DEFAULT_DETECTOR if DEFAULT_DETECTOR in installed or not installed else installed[0]
    entry = _REGISTRY.get(key)
    if entry is None:
        known = ", ".join(available_detectors()) or "none"
        raise ValueError(f"unknown face detector {name!r}; registered detectors: {known} (or 'auto')")
    return entry.factory(**kwargs)


def _retinaface_factory(**kwargs: Any) -> FaceDetector:
    from .retinaface import RetinaFaceDetector  # imports only numpy/PIL; onnxruntime comes later

    return RetinaFaceDetector(**kwargs)


def _retinaface_installed() -> bool:
    from .retinaface import retinaface_available

    return retinaface_available()


register_detector("retinaface", _retinaface_factory, installed=_retinaface_installed)
