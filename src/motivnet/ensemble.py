"""Ensembles: several models over one label set, each fed at its own input size, answering with
the mean of their probabilities.

An ensemble folder holds one file, ``ensemble.json``::

    {"members": ["../default", "../default-192", "../robust-192", "../robust-224"]}

Members are model folders (or checkpoints, or ``.onnx`` files with ``--backend onnx``), given
relative to the ensemble folder or absolute. Wherever a model folder is accepted (``--weights``,
``motivnet.load``, ``run_model``) an ensemble folder is too. Every face costs one pass of each
member (times the test-time views), so an ensemble of two is about the sum of its members' time.

A single model is an ensemble of one, and gives exactly its own log-probabilities: the
recognizer and evaluation run every model through :class:`Ensemble`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from .backends import Classifier, InferenceOptions, TorchClassifier, load_classifier
from .fileio import atomic_write
from .models import MotivNet, MotivNetConfig
from .preprocess import ImageLike, Preprocessor, decode_image
from .tta import TTA, ViewPreprocessor, mean_log_probs

ENSEMBLE_FILE = "ensemble.json"


def is_ensemble(path: str | os.PathLike | None) -> bool:
    """True for a folder that holds an ``ensemble.json``."""
    return path is not None and (Path(path) / ENSEMBLE_FILE).is_file()


def ensemble_members(folder: str | os.PathLike) -> list[Path]:
    """The member paths an ensemble folder lists, resolved against the folder (absolute); every
    problem is a one-line ``ValueError`` naming ``ensemble.json`` (missing members, nesting, bad
    JSON)."""
    file = Path(folder) / ENSEMBLE_FILE
    try:
        spec = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{file}: cannot read it as JSON ({e})") from None
    members = spec.get("members") if isinstance(spec, dict) else None
    if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
        raise ValueError(f"{file}: needs \"members\": a non-empty list of model paths")
    paths = [(file.parent / m) if not Path(m).is_absolute() else Path(m) for m in members]
    for member, path in zip(members, paths):
        if not path.exists():
            raise ValueError(f"{file}: member {member!r} does not exist ({path})")
        if is_ensemble(path):
            raise ValueError(f"{file}: member {member!r} is itself an ensemble; list its members instead")
    return [path.resolve() for path in paths]  # "../default" read as the OS does, for messages and reports


def save_ensemble(folder: str | os.PathLike, members: Sequence[str | os.PathLike]) -> Path:
    """Write ``folder/ensemble.json`` listing ``members`` (model folders), relative to ``folder``.

    Refuses an existing ensemble file or model folder (nothing is overwritten), members that do
    not exist, and members whose classes differ."""
    out = Path(folder)
    file = out / ENSEMBLE_FILE
    if file.exists() or (out / "config.json").exists():
        raise FileExistsError(f"{out}: already holds a model or an ensemble; choose a new folder")
    if not members:
        raise ValueError("an ensemble needs at least one member")
    labels = {}
    for m in members:
        p = Path(m)
        if not (p / "config.json").is_file():
            raise ValueError(f"{p}: not a model folder (no config.json); an ensemble lists model folders")
        labels[str(p)] = tuple(json.loads((p / "config.json").read_text()).get("labels", ()))
    _check_same_labels(labels)
    out.mkdir(parents=True, exist_ok=True)
    rel = [os.path.relpath(Path(m).resolve(), out.resolve()) for m in members]
    atomic_write(file, lambda tmp: Path(tmp).write_text(json.dumps({"members": rel}, indent=2) + "\n"))
    return file


def _check_same_labels(labels: dict[str, tuple[str, ...]]) -> None:
    names = list(labels)
    for name in names[1:]:
        if labels[name] != labels[names[0]]:
            raise ValueError(
                f"ensemble members disagree on their classes: {names[0]} has {', '.join(labels[names[0]])}; "
                f"{name} has {', '.join(labels[name])}"
            )


@dataclass
class EnsembleViews:
    """One decode per image, then each member's crop views at its own input size:
    one image -> a tuple of (C, 3, H_m, W_m), one per member m (C = the TTA's crop views)."""

    members: tuple[ViewPreprocessor, ...]

    @property
    def max_pixels(self) -> int:
        return self.members[0].base.max_pixels

    @max_pixels.setter
    def max_pixels(self, value: int) -> None:
        for m in self.members:
            m.base.max_pixels = value

    def tensor(self, image: ImageLike) -> tuple[torch.Tensor, ...]:
        arr = decode_image(image, self.max_pixels)
        return tuple(m.rgb_views(arr) for m in self.members)

    def __call__(self, images: Sequence[ImageLike]) -> list[torch.Tensor]:
        """Images -> per member, their views (B, C, 3, H_m, W_m)."""
        per_image = [self.tensor(im) for im in images]
        return [torch.stack(parts) for parts in zip(*per_image)]


class Ensemble:
    """Classifiers (see ``motivnet.backends``) over the same classes; their answer for a face is
    the mean of the members' probabilities (each member's already averaged over TTA views)."""

    def __init__(self, classifiers: Sequence[Classifier], names: Sequence[str] | None = None) -> None:
        if not classifiers:
            raise ValueError("an ensemble needs at least one member")
        self.classifiers = tuple(classifiers)
        self.names = tuple(names) if names is not None else tuple(f"member {i}" for i in range(len(classifiers)))
        _check_same_labels({n: tuple(c.config.labels) for n, c in zip(self.names, self.classifiers)})

    def __len__(self) -> int:
        return len(self.classifiers)

    @property
    def config(self) -> MotivNetConfig:
        """The first member's config: the labels (all members share them) and its preprocessing."""
        return self.classifiers[0].config

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.config.labels)

    def views(self, tta: TTA, max_pixels: int | None = None) -> EnsembleViews:
        """The preprocessing that feeds ``log_probs``: every member's own, with ``tta``'s crops."""
        views = EnsembleViews(tuple(ViewPreprocessor(Preprocessor.from_config(c.config), tta.crops) for c in self.classifiers))
        if max_pixels is not None:
            views.max_pixels = max_pixels
        return views

    @torch.inference_mode()
    def log_probs(self, views: Sequence[torch.Tensor], flip: bool = False) -> torch.Tensor:
        """Per member, views (B, C, 3, H_m, W_m) -> log of the mean probabilities (B, K), on the CPU.
        With one member, exactly its ``mean_log_probs``."""
        if len(views) != len(self.classifiers):
            raise ValueError(f"got views for {len(views)} models, the ensemble has {len(self.classifiers)}")
        parts = [mean_log_probs(c, v, flip).cpu() for c, v in zip(self.classifiers, views)]
        if len(parts) == 1:
            return parts[0]
        return torch.logsumexp(torch.stack(parts), 0) - math.log(len(parts))


def as_ensemble(model: "MotivNet | Classifier | Ensemble", device: str | torch.device = "cpu") -> Ensemble:
    """An Ensemble from a MotivNet (run in float32 on ``device``), a classifier, or an Ensemble."""
    if isinstance(model, Ensemble):
        return model
    if isinstance(model, MotivNet):
        return Ensemble([TorchClassifier(model, device=device)])
    return Ensemble([model])


def load_ensemble(
    weights: str | os.PathLike | None,
    backend: str = "torch",
    options: InferenceOptions | None = None,
    device: str | torch.device = "cpu",
) -> Ensemble:
    """``weights`` (a model, an ensemble folder, or None for the bundled default) -> an Ensemble;
    a plain model is an ensemble of one."""
    from .bundled import resolve_weights

    path = resolve_weights(weights)
    if not is_ensemble(path):
        return Ensemble([load_classifier(path, backend, options, device)], [str(path)])
    members = ensemble_members(path)
    return Ensemble([load_classifier(m, backend, options, device) for m in members], [str(m) for m in members])


__all__ = [
    "ENSEMBLE_FILE",
    "Ensemble",
    "EnsembleViews",
    "as_ensemble",
    "ensemble_members",
    "is_ensemble",
    "load_ensemble",
    "save_ensemble",
]
