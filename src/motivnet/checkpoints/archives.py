"""Zip archives that are not torch.save files: TorchScript modules and torch.export programs (``.pt2``).

Both return ``(state, notes)``. ``torch.export.load`` is not used (it may fall back to plain
``pickle``): its archive's raw weight payloads and JSON index are read instead.
"""
from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ._messages import first_line
from .torch_load import load_tensor_dict, safe_torch_load

Tensors = tuple[dict[str, Tensor], list[str]]


def archive_format(path: Path) -> str | None:
    """``"torchscript"`` or ``"torch.export"`` when ``path`` is such an archive, else None."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as z:
        rel = _strip_root(z.namelist())
    if "constants.pkl" in rel or any(r.startswith("code/") for r in rel):
        return "torchscript"
    legacy = "serialized_state_dict.pt" in rel  # torch < 2.6
    if legacy or "archive_format" in rel or any(r.startswith("data/weights/") for r in rel):
        return "torch.export"
    return None


def read_archive(path: Path, fmt: str) -> Tensors:
    return read_torchscript(path) if fmt == "torchscript" else read_export(path)


def read_torchscript(path: Path) -> Tensors:
    """A TorchScript module's weights; its ``backbone`` submodule's when it has one (Sapiens .pt2)."""
    try:
        with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript deprecated; Sapiens still ships it
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as e:
        raise ValueError(f"{path}: looks like TorchScript but torch.jit.load failed: {first_line(e)}") from None
    children = dict(module.named_children())
    if "backbone" not in children:
        return dict(module.state_dict()), []
    state = {f"backbone.{k}": v for k, v in children["backbone"].state_dict().items()}
    others = sorted(set(children) - {"backbone"})
    notes = [f"took the TorchScript module's backbone; ignored its {', '.join(others)}"] if others else []
    return state, notes


def read_export(path: Path) -> Tensors:
    """Weights of a torch.export archive, read without ``torch.export.load`` (which may unpickle).

    torch < 2.6 archives hold ``serialized_state_dict.pt`` (a torch.save'd dict); newer ones hold raw
    tensor payloads in ``data/weights/`` indexed by ``data/weights/<model>_weights_config.json``.
    """
    with zipfile.ZipFile(path) as z:
        rel = _strip_root(z.namelist())
        if "serialized_state_dict.pt" in rel:
            member = rel["serialized_state_dict.pt"]
            return _pickled_member(z, member, member, path)
        configs = sorted(r for r in rel if re.fullmatch(r"data/weights/.+_weights_config\.json", r))
        if configs:
            name = "data/weights/model_weights_config.json"
            index = json.loads(z.read(rel[name if name in rel else configs[0]]))["config"]
            return _export_payloads(z, rel, index, path), []
        legacy = sorted(r for r in rel if re.fullmatch(r"data/weights/[^/]+\.pt", r))
        if legacy:
            return _pickled_member(z, rel[legacy[0]], legacy[0], path)
    raise ValueError(f"{path}: a torch.export archive without weights this version can read")


def _pickled_member(z: zipfile.ZipFile, member: str, label: str, path: Path) -> Tensors:
    """A torch.save'd dict stored in the archive; load errors name it ``path:label``."""
    notes: list[str] = []
    return load_tensor_dict(io.BytesIO(z.read(member)), str(path), notes, member=label), notes


def _export_payloads(z: zipfile.ZipFile, rel: dict[str, str], index: dict[str, Any], path: Path) -> dict[str, Tensor]:
    """{fqn: tensor} from raw payload files: each a flat buffer viewed with the stored sizes/strides."""
    try:  # the archive stores dtypes as torch.export's integer codes
        from torch._export.serde.serialize import _SERIALIZE_TO_TORCH_DTYPE
    except ImportError:
        raise ValueError(f"{path}: this torch version cannot decode torch.export weight payloads") from None

    flats: dict[str, Tensor] = {}
    out: dict[str, Tensor] = {}
    for fqn, meta in index.items():
        member = rel.get(f"data/weights/{meta['path_name']}")
        if member is None:
            raise ValueError(f"{path}: weight {fqn} points to a missing payload {meta['path_name']}")
        if meta.get("use_pickle"):
            out[fqn] = safe_torch_load(io.BytesIO(z.read(member)), f"{path}:{member}")
            continue
        tm = meta["tensor_meta"]
        dtype = _SERIALIZE_TO_TORCH_DTYPE[tm["dtype"]]
        if member not in flats:  # payloads may be shared between aliased weights
            data = bytearray(z.read(member))
            flats[member] = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
        size, stride = [_as_int(s, path) for s in tm["sizes"]], [_as_int(s, path) for s in tm["strides"]]
        offset = _as_int(tm["storage_offset"], path)
        flat = flats[member]
        out[fqn] = torch.as_strided(flat, size, stride, offset) if flat.numel() else torch.zeros(size, dtype=dtype)
    return out


def _as_int(sym: Any, path: Path) -> int:
    if isinstance(sym, dict) and "as_int" in sym:
        return int(sym["as_int"])
    raise ValueError(f"{path}: symbolic tensor size {sym} in a weight; expected a concrete int")


def _strip_root(names: list[str]) -> dict[str, str]:
    """Archive names without their common top folder (torch archives have one): {relative: full}."""
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) == 1 and all("/" in n for n in names):
        return {n.split("/", 1)[1]: n for n in names}
    return {n: n for n in names}
