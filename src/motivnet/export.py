"""ONNX export of a MotivNet: one self-describing ``.onnx`` file with a dynamic batch axis.

Graph: input ``images`` (batch, 3, H, W) float32, normalised as the model was trained (RGB,
``(x - mean) / std``, resized to H x W by the config's ``resize`` policy); output ``logits``
(batch, num_classes) float32. The file's ``metadata_props`` carry everything needed to feed it
and read it (``motivnet_config``: the full config.json; plus ``labels``, ``image_size``, ``mean``,
``std``, ``resize`` as plain values for other runtimes), so the ``.onnx`` file alone is enough.

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
import os
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from .fileio import atomic_write
from .models import MotivNet, MotivNetConfig

DEFAULT_OPSET = 17
EXPORTERS = ("legacy", "dynamo")
#: Documented float32 parity bound between torch and onnxruntime logits (tested).
PARITY_ATOL = 1e-4


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


def export_onnx(
    model: MotivNet,
    path: str | os.PathLike,
    opset: int = DEFAULT_OPSET,
    exporter: str = "legacy",
    int8: bool = False,
) -> Path:
    """Write ``model`` to ``path`` as ONNX (dynamic batch), with its config as metadata; validated
    by ``onnx.checker``. ``int8``: then quantise the MatMul weights with onnxruntime's dynamic
    int8 quantisation. Returns ``path``."""
    onnx = _require_onnx()
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}; use one of {EXPORTERS}")
    if opset < 17:
        raise ValueError("opset must be 17 or later (LayerNormalization is opset 17)")
    out = Path(path)
    model = model.to("cpu").float().eval()
    size = sum(p.numel() * 4 for p in model.parameters())
    if size >= 2**31 - 2**26:
        # One protobuf holds at most 2 GB; external-data export is not implemented here.
        raise ValueError(f"the model has {size / 2**30:.1f} GiB of float32 weights: over ONNX's 2 GB single-file limit")
    h, w = model.config.image_size
    example = torch.zeros(2, 3, h, w)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = out.with_name(f".{out.name}.raw.tmp")
    try:
        _torch_export(model, example, raw, opset, exporter)
        proto = onnx.load(str(raw))
        del proto.metadata_props[:]
        for k, v in metadata(model.config).items():
            proto.metadata_props.add(key=k, value=v)
        proto.producer_name = "motivnet"
        onnx.checker.check_model(proto, full_check=True)
        if int8:
            onnx.save(proto, str(raw))
            quantize_onnx(raw, out)
        else:
            atomic_write(out, lambda p: onnx.save(proto, str(p)))
    finally:
        raw.unlink(missing_ok=True)
    _readable(out)
    return out


def _readable(path: Path) -> None:
    """atomic_write's temporary file is private (0600); give the result the usual umask mode."""
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


def quantize_onnx(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Dynamic int8 quantisation of an exported MotivNet (onnxruntime.quantization); metadata kept."""
    onnx = _require_onnx()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = Path(src), Path(dst)
    meta = {p.key: p.value for p in onnx.load(str(src), load_external_data=False).metadata_props}
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.q.tmp")
    try:
        with warnings.catch_warnings(), _quiet_root_logger():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
        proto = onnx.load(str(tmp))
        del proto.metadata_props[:]
        for k, v in {**meta, "quantization": "dynamic int8 (onnxruntime), MatMul/Gemm weights"}.items():
            proto.metadata_props.add(key=k, value=v)
        atomic_write(dst, lambda p: onnx.save(proto, str(p)))
    finally:
        tmp.unlink(missing_ok=True)
    _readable(dst)
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
    "PARITY_ATOL",
    "MissingExtraError",
    "config_from_metadata",
    "export_onnx",
    "metadata",
    "onnx_parity",
    "quantize_onnx",
]
