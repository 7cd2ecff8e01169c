"""``torch.load`` that never runs pickled code: weights only, one retry allowing numpy values, one clear refusal."""
from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

from ._messages import first_line, short

_FORMATS = "expected safetensors, a torch.save file or a TorchScript/torch.export archive"


def load_tensor_dict(
    f: str | io.BytesIO, source: str, notes: list[str], *, member: str | None = None, hint_path: Path | None = None
) -> dict[str, Tensor]:
    """The flat {name: tensor} dict of a torch.save'd file (or archive ``member``), loaded safely."""
    obj = safe_torch_load(f, f"{source}:{member}" if member else source, hint_path=hint_path)
    return tensor_dict(obj, source, notes)


def safe_torch_load(f: str | io.BytesIO, source: str, hint_path: Path | None = None) -> Any:
    """``torch.load(weights_only=True)``; once more with numpy values allowed; else one clear error."""
    error: Exception | None = None
    for allowed in ([], numpy_globals()):
        _rewind(f)
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(f, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            error = e
        except Exception as e:  # corrupt zip, truncated file, not a torch file at all
            reason = f"{type(e).__name__}: {first_line(e)}"
            raise ValueError(f"{source}: not a readable checkpoint ({_FORMATS}): {reason}") from None
    with torch.serialization.safe_globals(numpy_globals()):
        blocked = _blocked_globals(f, error)
    if not blocked:
        reason = first_line(error, skip="Weights only load failed")
        raise ValueError(f"{source}: not a readable checkpoint ({_FORMATS}): {reason}") from None
    raise ValueError(_refusal(source, blocked, hint_path)) from None


def numpy_globals() -> list[Any]:
    """Numpy's array/scalar/dtype reconstructors: build plain values, call nothing else.

    Listed under both the numpy 1.x (``numpy.core``) and 2.x (``numpy._core``) names, since the
    checkpoint records the name of the numpy that wrote it. Dtype classes are listed because the
    unpickler checks the type of every object whose state it sets.
    """
    try:
        import numpy as np
    except ImportError:
        return []
    multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    allowed: list[Any] = [np.ndarray, np.dtype, slice, frozenset]
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed += [(multiarray._reconstruct, f"{mod}._reconstruct"), (multiarray.scalar, f"{mod}.scalar")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [c for c in vars(dtypes).values() if isinstance(c, type) and issubclass(c, np.dtype)]
    return allowed


def tensor_dict(obj: Any, source: str, notes: list[str]) -> dict[str, Tensor]:
    """The flat {name: tensor} dict inside a loaded object (mmengine 'state_dict', 'model', or itself)."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"{source}: expected a dict of tensors, found a {type(obj).__name__}")
    for key in ("state_dict", "model", "module"):
        inner = obj.get(key)
        if isinstance(inner, Mapping) and any(isinstance(v, Tensor) for v in inner.values()):
            rest = [str(k) for k in obj if k != key]
            if rest:
                notes.append(f"used the '{key}' entry; ignored {', '.join(rest)}")
            obj = inner
            break
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, Tensor)}
    skipped = [str(k) for k, v in obj.items() if not isinstance(v, Tensor)]
    if not tensors:
        raise ValueError(f"{source}: no tensors found (top-level keys: {short([str(k) for k in obj])})")
    if skipped:
        notes.append(f"ignored {len(skipped)} non-tensor entries: {short(skipped)}")
    return tensors


def _rewind(f: str | io.BytesIO) -> None:
    if isinstance(f, io.BytesIO):
        f.seek(0)


def _blocked_globals(f: str | io.BytesIO, error: Exception | None) -> list[str]:
    """The pickle globals the weights-only unpickler refuses (read statically, nothing executed)."""
    try:
        _rewind(f)
        return sorted(torch.serialization.get_unsafe_globals_in_checkpoint(f))
    except Exception:  # legacy (non-zip) format: fall back to the names in torch's message
        text = str(error)
        return sorted(set(re.findall(r"GLOBAL ([\w.]+)", text) + re.findall(r"unrecognized function (\S+)", text)))


def _refusal(source: str, blocked: list[str], hint_path: Path | None) -> str:
    msg = (
        f"{source}: refusing to unpickle {', '.join(blocked)}: weights-only loading allows tensors, "
        "containers and numpy values, and loading anything else could run code from the file."
    )
    if hint_path is None:
        return msg
    out = hint_path.with_name(hint_path.stem + "_weights.pth")
    snippet = (
        f"import torch; ck = torch.load({str(hint_path)!r}, map_location='cpu', weights_only=False); "
        "sd = ck.state_dict() if hasattr(ck, 'state_dict') else ck.get('state_dict', ck); "
        f"torch.save({{k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}}, {str(out)!r})"
    )
    hint = f'If you trust it, re-save its weights in a trusted environment: python -c "{snippet}" and convert {out}.'
    return f"{msg} {hint}"
