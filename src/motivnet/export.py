"""ONNX export of a MotivNet: one self-describing ``.onnx`` file with a dynamic batch axis (plus a
weights sidecar for models over ~1.8 GB).

Graph: input ``images`` (batch, 3, H, W) float32, normalised as the model was trained (RGB,
``(x - mean) / std``, resized to H x W by the config's ``resize`` policy); output ``logits``
(batch, num_classes) float32. The file's ``metadata_props`` carry everything needed to feed it
and read it (``motivnet_config``: the full config.json; plus ``labels``, ``image_size``, ``mean``,
``std``, ``resize`` as plain values for other runtimes), so the ``.onnx`` file alone is enough.

Large models: one protobuf holds at most 2 GiB, so weights over ``external_data_threshold`` bytes
(default :data:`EXTERNAL_DATA_THRESHOLD`, ~1.8 GB: Sapiens 1B and 2B) are written as ONNX external
data, one sidecar ``NAME.onnx.data`` beside ``NAME.onnx``; onnxruntime finds it there by itself.
The metadata stays in the ``.onnx`` file either way. Past 2 GiB the torch exporters switch to
external data on their own (the legacy one as one file per tensor), so they export into a
scratch folder that is consolidated, checked by path and then moved into place. Checked on a
2.1 GiB model (Sapiens-1B width, 20 blocks): legacy export 86 s, max |logit diff| 1e-6.

Exporter: torch 2.13 has two. The TorchScript-based one (``dynamo=False``, deprecated but still
shipped) exports SDPA as MatMul/Softmax and our group-FC einsum as ``Einsum`` at opset 17 in about a
second, with no extra dependency. The torch.export-based one (``dynamo=True``, the default in
torch >= 2.9) also works for this model but needs ``onnxscript`` and took ~20 s on a 1-layer model
here; it is available as ``exporter="dynamo"``. Both were checked to give the same logits.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from .models import MotivNet, MotivNetConfig

DEFAULT_OPSET = 17
EXPORTERS = ("legacy", "dynamo")
#: Documented float32 parity bound between torch and onnxruntime logits (tested).
PARITY_ATOL = 1e-4
#: Weights above this many bytes go to a ``NAME.onnx.data`` sidecar: protobuf caps a file at 2 GiB,
#: and the graph and metadata need some room beside the weights.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000
_PROTOBUF_LIMIT = 2**31 - 1


class MissingExtraError(ImportError):
    pass


def _require_onnx():  # noqa: ANN202 - returns the module
    try:
        import onnx
    except ImportError:
        raise MissingExtraError("ONNX export needs the 'onnx' package: pip install 'motivnet[export]'") from None
    return onnx


def metadata(config: MotivNetConfig) -> dict[str, str]:
    """The ONNX ``metadata_props`` written for ``config`` (all values are strings)."""
    return {
        "motivnet_config": json.dumps(config.to_dict(), separators=(",", ":")),
        "labels": json.dumps(list(config.labels)),
        "image_size": json.dumps(list(config.image_size)),  # [H, W]
        "mean": json.dumps(list(config.mean)),
        "std": json.dumps(list(config.std)),
        "resize": config.resize,
        "input": "images: (batch, 3, H, W) float32, RGB 0-255 resized to image_size, then (x - mean) / std",
        "output": "logits: (batch, num_classes) float32, classes in the order of 'labels'; softmax for probabilities",
    }


def config_from_metadata(meta: dict[str, str], source: str = "model.onnx") -> MotivNetConfig:
    """The MotivNetConfig stored by :func:`export_onnx` in an ONNX file's metadata."""
    if "motivnet_config" not in meta:
        raise ValueError(f"{source}: not a motivnet ONNX export (no 'motivnet_config' metadata); export it with 'motivnet export'")
    return MotivNetConfig.from_dict(json.loads(meta["motivnet_config"]))


def sidecar(path: str | os.PathLike) -> Path:
    """The external-data file of a large export: ``NAME.onnx`` -> ``NAME.onnx.data`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.name}.data")


def export_onnx(
    model: MotivNet,
    path: str | os.PathLike,
    opset: int = DEFAULT_OPSET,
    exporter: str = "legacy",
    int8: bool = False,
    external_data_threshold: int = EXTERNAL_DATA_THRESHOLD,
) -> Path:
    """Write ``model`` to ``path`` as ONNX (dynamic batch), with its config as metadata; validated
    by ``onnx.checker``. ``int8``: then quantise the MatMul weights with onnxruntime's dynamic
    int8 quantisation. Weights over ``external_data_threshold`` bytes (and always over 2 GiB) go to
    the sidecar ``sidecar(path)``, which must stay next to ``path``. Replaces an existing ``path``
    (and the sidecar it used); the CLI checks for existing files first. Returns ``path``."""
    onnx = _require_onnx()
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}; use one of {EXPORTERS}")
    if opset < 17:
        raise ValueError("opset must be 17 or later (LayerNormalization is opset 17)")
    out = Path(path)
    model = model.to("cpu").float().eval()
    h, w = model.config.image_size
    example = torch.zeros(2, 3, h, w)
    out.parent.mkdir(parents=True, exist_ok=True)
    # A private scratch folder on the same file system (so the final moves are renames): over
    # 2 GiB, torch's exporters write external data, the legacy one as one file per tensor.
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        raw = Path(tmp) / "raw.onnx"
        _torch_export(model, example, raw, opset, exporter)
        proto = onnx.load(str(raw))  # with its external data, if any
        _set_metadata(proto, metadata(model.config))
        proto.producer_name = "motivnet"
        staged = Path(tmp) / ("float.onnx" if int8 else out.name)
        # int8 reads the float model from a file: external data there lifts the 2 GiB cap.
        _save(proto, staged, external=int8 or weight_bytes(proto) > external_data_threshold)
        del proto
        # By path: the checker cannot take an in-memory model over 2 GiB.
        onnx.checker.check_model(str(staged), full_check=True)
        if int8:
            quantize_onnx(staged, out, external_data_threshold)
        else:
            _install(staged, out)
    return out


def weight_bytes(proto: Any) -> int:
    """Bytes of an ONNX model's initializers (its weights), wherever they are stored."""
    from onnx.helper import tensor_dtype_to_np_dtype

    return sum(tensor_dtype_to_np_dtype(t.data_type).itemsize * math.prod(t.dims) for t in proto.graph.initializer)


def external_data_files(path: str | os.PathLike) -> list[Path]:
    """The external-data files an ONNX file refers to; [] for a single-file model."""
    onnx = _require_onnx()
    proto = onnx.load(str(path), load_external_data=False)
    names = {
        e.value for t in proto.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
        for e in t.external_data if e.key == "location"
    }
    return [Path(path).parent / n for n in sorted(names)]


def _set_metadata(proto: Any, meta: dict[str, str]) -> None:
    del proto.metadata_props[:]
    for k, v in meta.items():
        proto.metadata_props.add(key=k, value=v)


def _save(proto: Any, path: Path, external: bool) -> None:
    """Save ``proto`` to ``path``, its weights (tensors over 1 kB) in ``sidecar(path)`` if ``external``
    or if one file would pass 2 GiB. ``path`` is always new in a scratch folder: onnx *appends*
    to an existing sidecar. Note that saving as external data empties ``proto``'s tensors."""
    onnx = _require_onnx()
    if external or proto.ByteSize() > _PROTOBUF_LIMIT:
        onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=sidecar(path).name)
    else:
        onnx.save_model(proto, str(path))


def _install(staged: Path, out: Path) -> None:
    """Move a finished export (and its sidecar, if any) from the scratch folder to ``out``.
    The sidecar moves first, so ``out`` never names a missing file; a sidecar that the replaced
    ``out`` used and the new one does not is removed rather than left stale."""
    stale = _used_sidecar(out)
    if sidecar(staged).exists():
        _readable(sidecar(staged))  # onnx creates it private (0600)
        os.replace(sidecar(staged), sidecar(out))
        stale = None
    _readable(staged)
    os.replace(staged, out)
    if stale is not None:
        stale.unlink(missing_ok=True)


def _used_sidecar(path: Path) -> Path | None:
    """``sidecar(path)`` if ``path`` is an ONNX file that stores its weights there."""
    if not (path.is_file() and sidecar(path).is_file()):
        return None
    try:
        return sidecar(path) if sidecar(path) in external_data_files(path) else None
    except Exception:  # noqa: BLE001 - not a readable ONNX file: it uses no sidecar
        return None


def _readable(path: Path) -> None:
    """Give a file the usual umask mode (files made for us may be private, 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _torch_export(model: MotivNet, example: torch.Tensor, path: Path, opset: int, exporter: str) -> None:
    names = dict(input_names=["images"], output_names=["logits"], opset_version=opset)
    with warnings.catch_warnings(), torch.no_grad():
        # Deprecation notices and the tracer's note about the (static) H, W divisibility check.
        warnings.simplefilter("ignore")
        if exporter == "legacy":
            torch.onnx.export(
                model, (example,), str(path), dynamo=False, do_constant_folding=True,
                dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, **names,
            )
        else:
            try:
                import onnxscript  # noqa: F401
            except ImportError:
                raise MissingExtraError("exporter 'dynamo' needs the 'onnxscript' package (pip install onnxscript)") from None
            batch = torch.export.Dim("batch", min=1, max=4096)
            program = torch.onnx.export(model, (example,), dynamo=True, verbose=False, dynamic_shapes={"images": {0: batch}}, **names)
            program.save(str(path))


def quantize_onnx(
    src: str | os.PathLike, dst: str | os.PathLike, external_data_threshold: int = EXTERNAL_DATA_THRESHOLD
) -> Path:
    """Dynamic int8 quantisation of an exported MotivNet (onnxruntime.quantization); metadata kept.
    ``src`` may use external data; ``dst`` does when its weights exceed ``external_data_threshold``."""
    onnx = _require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(src), Path(dst)
    meta = {p.key: p.value for p in onnx.load(str(src), load_external_data=False).metadata_props}
    dst.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dst.parent, prefix=f".{dst.name}.") as tmp:
        quantised = Path(tmp) / "int8.onnx"
        with warnings.catch_warnings(), _quiet_root_logger():
            warnings.simplefilter("ignore")
            # External data in the scratch folder at any size: the quantiser's own file would
            # otherwise fail for a 2B model (int8 weights still over 2 GiB).
            quantize_dynamic(str(src), str(quantised), weight_type=QuantType.QInt8,
                             op_types_to_quantize=["MatMul", "Gemm"], use_external_data_format=True)
        proto = onnx.load(str(quantised))
        _set_metadata(proto, {**meta, "quantization": "dynamic int8 (onnxruntime), MatMul/Gemm weights"})
        staged = Path(tmp) / dst.name
        _save(proto, staged, external=weight_bytes(proto) > external_data_threshold)
        del proto
        _install(staged, dst)
    return dst


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantiser logs a 'consider pre-processing' hint on the root logger; hide it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def onnx_parity(model: MotivNet, path: str | os.PathLike, batch_sizes: tuple[int, ...] = (1, 3), seed: int = 0) -> float:
    """Max abs difference between torch and onnxruntime logits on random inputs of each batch size."""
    from .backends import OnnxClassifier

    session = OnnxClassifier(path)
    gen = torch.Generator().manual_seed(seed)
    h, w = model.config.image_size
    worst = 0.0
    for b in batch_sizes:
        x = torch.randn(b, 3, h, w, generator=gen)
        with torch.inference_mode():
            ref = model.float().eval()(x)
        worst = max(worst, float(np.abs(session(x).numpy() - ref.numpy()).max()))
    return worst


__all__ = [
    "DEFAULT_OPSET",
    "EXPORTERS",
    "EXTERNAL_DATA_THRESHOLD",
    "PARITY_ATOL",
    "MissingExtraError",
    "config_from_metadata",
    "export_onnx",
    "external_data_files",
    "metadata",
    "onnx_parity",
    "quantize_onnx",
    "sidecar",
    "weight_bytes",
]
