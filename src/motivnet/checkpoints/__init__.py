"""Import third-party checkpoints into MotivNet's own format (``config.json`` + ``model.safetensors``).

Public API
----------
``load_checkpoint(path, *, kind=None, labels=None, image_size=None, encoder=None, num_heads=None,
decoder_heads=8, decoder_dim=1152, decoder_ffn=2048, seed=0) -> MotivNet``
    A ready model in eval mode, from any supported file or folder.
``import_checkpoint(path, **same options) -> ImportResult``
    The same, plus what was done: the layout (``kind``), the file format and notes (ignored keys,
    dropped cls token, resized position embedding, ...).
``convert(src, dst, **same options, log=None) -> Path``
    ``import_checkpoint`` then ``MotivNet.save_pretrained(dst)``; each note goes to ``log``.
``detect_kind(state) -> str``
    The layout of a flat ``{name: tensor}`` dict, one of ``KINDS``.
``read_checkpoint(path) -> RawCheckpoint``
    The safe file-reading step alone: tensors, format, notes and (for our folders) the config.

Layouts (``kind``), detected from the key names
-----------------------------------------------
``authors``           the MotivNet authors' ``MotivNet.pth``: ``pose_encoder.*`` + ``decoder.decoder.*``
                      (their ML-Decoder); encoder and decoder both load; 7 classes -> AffectNet-7.
``sapiens-pose``      Sapiens task checkpoints (mmengine ``{'state_dict': {'backbone.*', 'head.*'}, 'meta'}``,
                      TorchScript or torch.export ``.pt2``): ``backbone.*`` loads, ``head.*`` is dropped,
                      the decoder is freshly initialised for ``labels`` (default AffectNet-8).
``sapiens-pretrain``  Sapiens MAE pretrain: ``cls_token`` + ``pos_embed`` (1, 1 + 64*64, C); the cls slot is
                      dropped and the 64x64 grid resized bicubically to ``image_size`` (default 1024x768);
                      MAE decoder keys are ignored; fresh decoder as for ``sapiens-pose``.
``motivnet``          our own format (a folder, or a bare ``model.safetensors``): passes through.

File formats, sniffed from the content
--------------------------------------
safetensors; a MotivNet folder; TorchScript zip (``torch.jit.load``); torch.export ``.pt2`` (its weight
payloads are read directly, see below); anything else goes to ``torch.load(weights_only=True)``.

Safety: nothing here runs pickled code. ``torch.load`` is always ``weights_only=True``; when that refuses,
it is retried once with only numpy's array/scalar/dtype reconstructors allowed (mmengine ``meta``
holds numpy values), and otherwise fails with one line naming the refused globals and a command
to re-save the weights in a trusted environment. ``torch.export.load`` is *not* used because it
falls back to ``weights_only=False`` and plain ``pickle.loads``; we read the archive's raw weight
files and its JSON index instead. TorchScript loading runs the C++ unpickler (no Python globals).

Building: the model is built on the meta device and takes the checkpoint's tensors by assignment, so
a 1B encoder is never randomly initialised first; only a fresh decoder is initialised (from ``seed``).

Modules: ``reading`` (sniff the format, RawCheckpoint) over ``torch_load`` (weights-only unpickling)
and ``archives`` (TorchScript, torch.export); ``layouts`` (key tables, detect_kind, remap);
``infer`` (the config the tensors describe); ``build`` (meta-device build and strict load).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..models.motivnet import CONFIG_NAME, WEIGHTS_NAME, MotivNet
from ..models.sapiens import SapiensConfig
from ._messages import prefix_errors
from .build import build_model
from .infer import Options, model_config
from .layouts import KINDS, canonical_kind, detect_kind, remap
from .reading import RawCheckpoint, read_checkpoint

logger = logging.getLogger(__name__)


@dataclass
class ImportResult:
    model: MotivNet
    kind: str
    fmt: str
    notes: list[str]
    fresh_decoder: bool = False  # the file had no emotion head: the decoder is randomly initialised


def import_checkpoint(
    path: str | Path,
    *,
    kind: str | None = None,
    labels: Any = None,
    image_size: tuple[int, int] | None = None,
    encoder: str | SapiensConfig | None = None,
    num_heads: int | None = None,
    decoder_heads: int = 8,
    decoder_dim: int = 1152,
    decoder_ffn: int = 2048,
    seed: int = 0,
) -> ImportResult:
    """Read any supported checkpoint and build the MotivNet it describes (eval mode).

    ``labels``: a label-set name, LabelSet or class list; for checkpoints with a decoder it must
    match the class count (default: AffectNet-7/-8 by count), otherwise it sizes the fresh decoder
    (default AffectNet-8). ``image_size`` (H, W): the input size to lay the position embedding out
    for (resized bicubically if it differs). ``encoder``/``num_heads``: needed only for encoders whose
    (width, depth) is not a registry size. ``decoder_*``: shape of a freshly initialised decoder
    (``seed`` makes its init reproducible); ``decoder_heads`` also applies to loaded decoders,
    whose head count the tensors do not reveal.
    """
    path = Path(path)
    raw = read_checkpoint(path)
    with prefix_errors(str(path)):
        kind = canonical_kind(kind) if kind else detect_kind(raw.state)
    source = f"{path} ({kind} layout)"
    has_cls = any(k.endswith("cls_token") for k in raw.state)
    state, notes = remap(raw.state, kind, source)
    notes = raw.notes + notes
    opts = Options(labels, image_size, encoder, num_heads, decoder_heads, decoder_dim, decoder_ffn)
    extra = 1 if kind == "sapiens-pretrain" and has_cls else 0
    saved = raw.config if kind == "motivnet" else None
    config, fresh_decoder = model_config(state, kind, saved, opts, extra, source, notes)
    model = build_model(config, state, fresh_decoder, seed, source)
    if fresh_decoder:
        names = ", ".join(config.labels)
        notes.append(f"decoder freshly initialised (seed {seed}) for {len(config.labels)} labels: {names}")
    for note in notes:
        logger.info("%s: %s", path, note)
    return ImportResult(model, kind, raw.fmt, notes, fresh_decoder)


def load_checkpoint(path: str | Path, **options: Any) -> MotivNet:
    """A ready MotivNet (eval mode) from any supported checkpoint; ``options`` as for ``import_checkpoint``."""
    return import_checkpoint(path, **options).model


def convert(src: str | Path, dst: str | Path, *, log: Callable[[str], None] | None = None, **options: Any) -> Path:
    """Import ``src`` and write it to the folder ``dst`` (``config.json`` + ``model.safetensors``).

    ``options`` as for ``import_checkpoint``. Each note of the import (what was dropped, resized or
    freshly initialised) goes to ``log``.
    """
    dst = Path(dst)
    if dst.exists() and not dst.is_dir():
        raise ValueError(f"{dst}: exists and is not a folder; convert writes a folder ({CONFIG_NAME} + {WEIGHTS_NAME})")
    if any((dst / name).exists() for name in (CONFIG_NAME, WEIGHTS_NAME)):
        raise ValueError(f"{dst}: already holds a model; refusing to overwrite it (choose a new folder)")
    result = import_checkpoint(src, **options)
    out = result.model.save_pretrained(dst)
    if log is not None:
        log(f"{src}: {result.kind} layout, read as {result.fmt}")
        for note in result.notes:
            log(note)
    return out


__all__ = [
    "KINDS",
    "ImportResult",
    "RawCheckpoint",
    "convert",
    "detect_kind",
    "import_checkpoint",
    "load_checkpoint",
    "read_checkpoint",
    "remap",
]
