"""The models bundled in the package, under ``motivnet/weights/NAME``, and how ``--weights``
names them: a path that exists is that path; otherwise a bare name is a bundled model
(``bundled_models()`` lists them; MODEL_CARD.md describes each)."""
from __future__ import annotations

import os
from pathlib import Path

BUNDLED_DIR = Path(__file__).parent / "weights"
DEFAULT_NAME = "default"


class NoDefaultModelError(FileNotFoundError):
    pass


def bundled_models() -> dict[str, Path]:
    """Name -> folder of every bundled model or ensemble, sorted by name."""
    if not BUNDLED_DIR.is_dir():
        return {}
    return {
        p.name: p
        for p in sorted(BUNDLED_DIR.iterdir())
        if (p / "config.json").is_file() or (p / "ensemble.json").is_file()
    }


def default_weights() -> Path:
    """The bundled default model, or a clear error while none is bundled."""
    folder = BUNDLED_DIR / DEFAULT_NAME
    if (folder / "config.json").is_file() or (folder / "ensemble.json").is_file():
        return folder
    raise NoDefaultModelError(
        "no default model is bundled with this version of motivnet yet: pass weights "
        "(--weights DIR_OR_CHECKPOINT), e.g. a folder written by 'motivnet convert' or 'motivnet train'"
    )


def resolve_weights(weights: str | os.PathLike | None) -> Path:
    """``--weights`` -> a path: None is the default model, an existing path is itself, and a bare
    name is a bundled model. Anything else is a one-line ``FileNotFoundError``."""
    if weights is None:
        return default_weights()
    path = Path(weights)
    if path.exists():
        return path
    models = bundled_models()
    if path.name == str(weights) and str(weights) in models:
        return models[str(weights)]
    known = f"; bundled models: {', '.join(models)}" if models else ""
    raise FileNotFoundError(f"{weights}: no such weights file or folder, nor a bundled model{known}")


__all__ = ["BUNDLED_DIR", "DEFAULT_NAME", "NoDefaultModelError", "bundled_models", "default_weights", "resolve_weights"]
