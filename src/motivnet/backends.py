"""Classifier backends: normalised images (B, 3, H, W) float32 -> logits (B, num_classes) float32.

Two backends share one small interface (``config`` + ``__call__``), so the recognizer, the
benchmark and evaluation do not care which one runs:

* :class:`TorchClassifier` runs a :class:`~motivnet.models.MotivNet`, optionally through the CPU
  fast path of :class:`InferenceOptions`: a bfloat16 copy of the model, dynamic int8 Linear layers,
  ``torch.compile``. Attention always goes through ``scaled_dot_product_attention``, which on a
  CPU dispatches to the fused flash kernel (``aten::_scaled_dot_product_flash_attention_for_cpu``)
  in the encoder and in the decoder alike; :func:`attention_kernels` shows it.
* :class:`OnnxClassifier` runs an exported ``.onnx`` file on onnxruntime (see ``motivnet.export``).

:func:`load_classifier` turns ``--weights`` + ``--backend`` into one of them.
"""
from __future__ import annotations

import contextlib
import copy
import os
import sys
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Protocol

import torch
from torch import nn

from .models import MotivNet, MotivNetConfig, load_state_dict_strict

BACKENDS = ("torch", "onnx")
ONNX_NAME = "model.onnx"  # inside a model folder, used by backend="onnx" when present and fresh


class Classifier(Protocol):
    """What the recognizer needs from a backend."""

    config: MotivNetConfig

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, H, W) float32, normalised -> logits (B, num_classes) float32 on the CPU."""
        ...


@dataclass(frozen=True)
class InferenceOptions:
    """The CPU fast path. Each option is independent; all off is the exact float32 model.

    bf16: run a bfloat16 copy of the model (weights and activations; logits come back float32).
        Fast only on CPUs with native bf16 (AVX512_BF16 or AMX, see :func:`cpu_has_native_bf16`);
        elsewhere oneDNN emulates it and it is *slower* than float32 (a warning says so). Casting the
        weights once measured faster than autocast, which re-casts every weight on every call
        (Sapiens-1B at 1024x768: 35.4 s against 36.7 s, ``benchmarks/inference_paper_arch.py``).
    int8: replace every ``nn.Linear`` by a dynamically quantised int8 one (weights int8 per output
        channel, activations quantised per batch on the fly). Linear layers hold ~all of a ViT's FLOPs.
    compile: ``torch.compile`` the model (needs a C++ compiler; the first call takes a minute).
    threads: ``torch.set_num_threads`` / onnxruntime intra-op threads; None leaves the default.
    """

    bf16: bool = False
    int8: bool = False
    compile: bool = False
    threads: int | None = None

    def describe(self) -> str:
        on = [n for n in ("bf16", "int8", "compile") if getattr(self, n)]
        return "+".join(on) if on else "fp32"


def variant_name(backend: str, options: InferenceOptions) -> str:
    """A backend plus its fast-path switches in a few characters, for reports and tables:
    ``fp32`` (torch float32, the exact model), ``int8``, ``bf16``, ``onnx``, ``onnx+int8``, ..."""
    switches = options.describe()
    if backend == "torch":
        return switches
    return backend if switches == "fp32" else f"{backend}+{switches}"


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (oneDNN's check: AVX512_BF16, AMX or AVX2-VNNI-2)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        flags = _cpu_flags()
        return "avx512_bf16" in flags or "amx_bf16" in flags


def emulated_bf16_note() -> str | None:
    """Why bfloat16 would be emulated on this CPU ("this CPU (AVX2) has no native bfloat16 (no
    AVX512_BF16/AMX)"), or None when it is native: the one wording of inference's ``--bf16``
    warning and training's ``amp: bf16`` warning."""
    if cpu_has_native_bf16():
        return None
    return f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bfloat16 (no AVX512_BF16/AMX)"


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def quantize_int8(model: nn.Module, inplace: bool = False) -> nn.Module:
    """A copy of ``model`` (``inplace``: ``model`` itself, saving a float copy of a large model)
    whose ``nn.Linear`` layers are dynamic int8 (x86/fbgemm kernels): int8 weights with one scale
    per output channel, activations quantised per tensor on the fly, int32 accumulation.

    Uses ``torch.ao.quantization.quantize_dynamic``: deprecated since torch 2.10 in favour of
    torchao's ``quantize_(Int8DynamicActivationInt8WeightConfig())``, but on a CPU the torchao path
    (torchao 0.18 on torch 2.13, eager) measured 25x *slower* than float32 on a 3072x1536x6144
    Linear, while this one measured 1.7x faster; so we keep the working kernels and silence the
    deprecation notice. The decoder's cross-attention projections are raw parameters, not
    ``nn.Linear``, and stay float32 (a negligible share of the FLOPs).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.ao.quantization is deprecated.*")
        warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*deprecated.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        target = model if inplace else copy.deepcopy(model)
        # Per-output-channel weight scales: rows of trained weights differ in range; ~4% slower.
        return quantize_dynamic(target.float().eval(), {nn.Linear: per_channel_dynamic_qconfig}, inplace=True)


def bfloat16_copy(model: MotivNet) -> MotivNet:
    """A bfloat16 copy of ``model`` that never holds a second float32 copy (built on the meta
    device, then given the cast tensors): ~1.5x the float32 size at the peak, not 2.5x."""
    with torch.device("meta"):
        half = MotivNet(model.config).to(torch.bfloat16)
    state = {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()}
    load_state_dict_strict(half, state, source="bfloat16 copy", assign=True)
    return half.eval()


def attention_kernels(model: nn.Module, images: torch.Tensor) -> dict[str, int]:
    """Which aten attention kernels one forward pass runs (torch profiler), with call counts,
    e.g. ``{"aten::_scaled_dot_product_flash_attention_for_cpu": 13}``."""
    from torch.profiler import profile

    dtype = next(model.parameters()).dtype  # a bf16 copy takes bf16 input
    with torch.inference_mode(), _quiet_stderr(), profile() as prof:
        model(images.to(dtype))
    return dict(Counter(e.name for e in prof.events() if "attention" in e.name and e.name.startswith("aten::_")))


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Mute file descriptor 2: the profiler's C++ side prints start/stop lines there."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class TorchClassifier:
    """A MotivNet on the CPU fast path. ``model`` is the module that runs (quantised or compiled)."""

    def __init__(self, model: MotivNet, options: InferenceOptions | None = None, device: str | torch.device = "cpu") -> None:
        self.options = options or InferenceOptions()
        self.config = model.config
        self.device = torch.device(device)
        if self.options.threads:
            torch.set_num_threads(self.options.threads)
        if self.options.int8 and self.options.bf16:
            # Dynamic int8 kernels take float32 activations only; a bf16 model would feed them bf16.
            raise ValueError("int8 and bf16 cannot be combined: the int8 Linear kernels take float32 inputs")
        if self.options.int8 and self.device.type != "cpu":
            raise ValueError("int8 dynamic quantisation runs on the CPU only")
        if self.options.bf16 and self.device.type == "cpu" and (note := emulated_bf16_note()):
            warnings.warn(
                f"{note}: bf16 is emulated and slower than float32",
                RuntimeWarning,
                stacklevel=2,
            )
        net: nn.Module = model.to(self.device).eval()
        if self.options.int8:
            net = quantize_int8(net)
        elif self.options.bf16:
            net = bfloat16_copy(net)
        self.model = net
        # dynamic=False: one static graph per batch size; symbolic-batch graphs measured 30x slower here.
        self._run = torch.compile(net, dynamic=False) if self.options.compile else net

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, H, W) float32 -> logits (B, K) float32 on the CPU."""
        images = images.to(self.device, torch.bfloat16 if self.options.bf16 else torch.float32)
        return self._run(images).float().cpu()


class OnnxClassifier:
    """An exported MotivNet on onnxruntime; the config comes from the file's metadata."""

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        import onnxruntime as ort

        from .export import config_from_metadata

        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # onnxruntime's intra-op threads spin-wait after each run by default; between runs they
        # take the cores from torch's preprocessing and the face detector (46 ms against 0.7 ms
        # for the same preprocessing, `motivnet benchmark --backend onnx`).
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.config = config_from_metadata(self.session.get_modelmeta().custom_metadata_map, str(path))
        self.input_name = self.session.get_inputs()[0].name

    @property
    def labels(self) -> tuple[str, ...]:
        return self.config.labels

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """images: (B, 3, H, W) float32 -> logits (B, K) float32."""
        x = images.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: x})[0])


def load_classifier(
    weights: str | os.PathLike | None,
    backend: str = "torch",
    options: InferenceOptions | None = None,
    device: str | torch.device = "cpu",
) -> Classifier:
    """``weights`` (a model folder, any checkpoint ``convert`` reads, or an ``.onnx`` file) -> a classifier.

    backend="onnx": an ``.onnx`` file runs as is; a model folder runs its ``model.onnx`` if that is
    newer than its weights, else it is exported on the fly to a temporary file (deleted once
    onnxruntime has loaded it). ``options.int8`` quantises the ONNX graph's MatMuls the same way
    (onnxruntime's dynamic quantisation); ``bf16``/``compile`` are torch-only.
    """
    from .recognizer import load_model

    options = options or InferenceOptions()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    path = Path(weights) if weights is not None else None
    if backend == "torch":
        if path is not None and path.suffix.lower() == ".onnx":
            raise ValueError(f"{path}: an ONNX file runs with backend 'onnx' (--backend onnx)")
        return TorchClassifier(load_model(weights, device), options, device)
    if options.bf16 or options.compile:
        raise ValueError("bf16 and compile are options of the torch backend, not of onnx")
    if torch.device(device).type != "cpu":
        raise ValueError("the onnx backend runs on the CPU (onnxruntime's CPU provider)")
    if path is not None and path.is_file() and path.suffix.lower() == ".onnx":
        if options.int8:
            return _quantised_onnx_session(path, options.threads)
        return OnnxClassifier(path, options.threads)
    if path is not None and _fresh_onnx(path) and not options.int8:
        return OnnxClassifier(path / ONNX_NAME, options.threads)
    return build_classifier(load_model(weights, "cpu"), "onnx", options)


def build_classifier(
    model: MotivNet, backend: str = "torch", options: InferenceOptions | None = None, device: str | torch.device = "cpu"
) -> Classifier:
    """A classifier for an in-memory model; ``onnx`` exports it to a temporary file first."""
    options = options or InferenceOptions()
    if backend == "torch":
        return TorchClassifier(model, options, device)
    if backend != "onnx":
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if options.bf16 or options.compile:
        raise ValueError("bf16 and compile are options of the torch backend, not of onnx")
    from .export import export_onnx

    with tempfile.TemporaryDirectory(prefix="motivnet-onnx-") as tmp:
        out = export_onnx(model, Path(tmp) / ONNX_NAME, int8=options.int8)
        return OnnxClassifier(out, options.threads)  # the session holds the graph; the file can go


def _quantised_onnx_session(path: Path, threads: int | None) -> OnnxClassifier:
    from .export import quantize_onnx

    with tempfile.TemporaryDirectory(prefix="motivnet-onnx-") as tmp:
        return OnnxClassifier(quantize_onnx(path, Path(tmp) / "model.int8.onnx"), threads)


def _fresh_onnx(folder: Path) -> bool:
    """A folder's model.onnx exists and is not older than its weights or config."""
    onnx_file = folder / ONNX_NAME
    if not (folder.is_dir() and onnx_file.is_file()):
        return False
    newest = max((p.stat().st_mtime for p in (folder / "model.safetensors", folder / "config.json") if p.exists()), default=0.0)
    if onnx_file.stat().st_mtime < newest:
        warnings.warn(f"{onnx_file} is older than the weights beside it; exporting afresh", RuntimeWarning, stacklevel=3)
        return False
    return True


__all__ = [
    "BACKENDS",
    "Classifier",
    "InferenceOptions",
    "OnnxClassifier",
    "TorchClassifier",
    "attention_kernels",
    "build_classifier",
    "cpu_has_native_bf16",
    "emulated_bf16_note",
    "load_classifier",
    "quantize_int8",
    "variant_name",
]
