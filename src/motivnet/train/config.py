"""Training configuration: nested dataclasses <-> YAML, with ``key.sub=value`` overrides.

Bundled configs live in ``motivnet/configs/*.yaml`` (``paper``, ``cpu-small``) and can be
named instead of a path.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import yaml

from .distill import check_weight
from .ema import check_decay
from .mixing import MixConfig
from .precision import check_amp


@dataclass
class ModelConfig:
    """What to build. ``encoder`` is a registry name; ``encoder_config`` (SapiensConfig fields)
    replaces it entirely when given (tests use tiny ones)."""

    encoder: str = "sapiens-1b"
    encoder_config: dict[str, Any] | None = None
    image_size: list[int] | None = None  # (H, W); default: the encoder's
    decoder_dim: int = 1152
    decoder_layers: int = 2
    decoder_heads: int = 8
    decoder_ffn_dim: int = 2048
    dropout: float = 0.1
    drop_path_rate: float = 0.0
    resize: str = "stretch"
    labels: Any = "affectnet8"  # a label-set name or a list of class names
    init_from: str | None = None  # a MotivNet folder (save_pretrained) to start from
    # Encoder weights only (decoder fresh): a `motivnet pretrain` run folder, its encoder/ folder
    # or a MotivNet folder; the position embedding is resized if the patch grid differs.
    init_encoder: str | None = None
    grad_checkpointing: bool = False


@dataclass
class DataConfig:
    """Where the data is and how it is selected. Dataset specs are ``open_dataset`` kwargs
    (``{path, format, split, ...}``) or a bare path."""

    train: Any = None
    val: Any = None  # None: a stratified val_fraction split of the (sampled) train set
    test: Any = None  # evaluated once with the best checkpoint at the end
    samples_per_class: Any = "min"  # int n, "min" (smallest class), or None (all, unbalanced)
    val_fraction: float = 0.1
    split_seed: int | None = None  # default: the run's seed
    manifest: str | None = None  # reuse a saved split (split.json) instead of sampling
    skip_bad: bool = False
    augment: Any = True  # False, True (defaults) or AugmentConfig fields
    # Train on the view predict feeds the model: every train/val/test image is cut to its largest
    # face, detected and aligned (motivnet.faces.align) before augmentation. False, True (the default
    # detector) or a detector name; an image without a face is used as it is (no_face "whole").
    # Faces are cached by pixels in the process that aligns: with num_workers > 0 the workers are new
    # each epoch, so detection repeats every epoch.
    align: Any = False
    # With align: the chance that a training image is aligned (else it is used as it is), so the
    # model learns both the aligned view (predict, evaluate --detect) and the crops as they are
    # (evaluate); validation and test are always aligned.
    align_p: float = 1.0
    # Mixed-source data: a regex searched in each file's id; its first group (or the whole match)
    # names the file's source, "other" when it does not match (affectnet96: "^[^/]+/(ffhq)_").
    source_pattern: str | None = None
    # "source": draw training samples (with replacement) weighted P(class) P(source) / P(class,
    # source), so every source has the same class mix and the source cannot predict the class.
    balance: str | None = None
    num_workers: int = 0


@dataclass
class OptimConfig:
    """AdamW with separate encoder/decoder learning rates and CosineAnnealingWarmRestarts."""

    encoder_lr: float = 1e-8
    decoder_lr: float = 1e-5
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    layer_decay: float = 1.0  # encoder block i of L gets encoder_lr * layer_decay ** (L - i)
    freeze_encoder: bool = False
    encoder_cache: bool | None = None  # None: cache features when the encoder is frozen
    scheduler: str = "cosine_restarts"  # or "none"
    T_0: float = 10.0  # epochs to the first restart
    T_mult: int = 1
    eta_min: float = 0.0
    warmup_epochs: float = 0.0  # linear warmup of every group's lr over this many epochs (a pretrained encoder's features survive the first steps)
    grad_clip: float | None = 1.0
    label_smoothing: float = 0.0
    class_weights: Any = None  # None, "balanced", or one weight per class


@dataclass
class DistillConfig:
    """Train on ``(1 - weight) * one_hot + weight * teacher``: ``predictions`` is a ``motivnet
    evaluate`` predictions CSV with a teacher's probabilities for every training image (e.g. a
    multi-view average from ``benchmarks/average_predictions.py``); None: plain labels."""

    predictions: str | None = None
    weight: float = 0.5


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    mix: MixConfig = field(default_factory=MixConfig)  # mixup / CutMix of each training batch
    run_dir: str = "runs/motivnet"
    epochs: int = 30
    batch_size: int = 2  # per process
    eval_batch_size: int | None = None
    grad_accum: int = 1
    amp: str = "none"  # "none", "bf16" or "fp16" autocast
    seed: int = 0
    best_metric: str = "val_acc"  # any metrics.csv column; *loss is minimised, others maximised
    save_every_steps: int = 0  # also write the resumable state every N optimizer steps
    max_steps: int | None = None  # stop after this many optimizer steps in total (time boxing)
    distributed: str = "auto"  # "auto" (DDP under torchrun), "none", "ddp" or "fsdp"
    threads: int | None = None  # torch intra-op threads
    cache_dtype: str = "float32"  # dtype of cached encoder features
    # Validate and export an exponential moving average of the weights (e.g. 0.998; None: off).
    # metrics.csv's val_* columns are then the average's, live_val_* the last step's.
    ema_decay: float | None = None
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return _from_dict(cls, d, "")

    def validate(self) -> "TrainConfig":
        check_amp(self.amp)
        if self.distributed not in ("auto", "none", "ddp", "fsdp"):
            raise ValueError(f"distributed must be auto, none, ddp or fsdp, not {self.distributed!r}")
        if self.batch_size < 1 or self.grad_accum < 1 or self.epochs < 1:
            raise ValueError("batch_size, grad_accum and epochs must be >= 1")
        if self.optim.scheduler not in ("cosine_restarts", "none"):
            raise ValueError(f"optim.scheduler must be cosine_restarts or none, not {self.optim.scheduler!r}")
        if self.optim.warmup_epochs < 0:
            raise ValueError(f"optim.warmup_epochs must be >= 0, not {self.optim.warmup_epochs}")
        check_weight(self.distill.weight)
        self.mix.validate()
        if self.ema_decay is not None:
            check_decay(self.ema_decay)
        if self.ema_decay is not None and self.distributed == "fsdp":
            raise ValueError("ema_decay is not supported with distributed: fsdp (each rank holds only a shard); use ddp")
        if self.model.init_from and self.model.init_encoder:
            raise ValueError("model.init_from and model.init_encoder exclude each other: init_from loads a whole "
                             "model, init_encoder only the encoder into the model this config describes")
        if self.data.train is None:
            raise ValueError("data.train is required (a dataset path or spec)")
        if self.data.align and (self.optim.encoder_cache or (self.optim.encoder_cache is None and self.optim.freeze_encoder)):
            raise ValueError("data.align is not supported with the encoder feature cache (it caches un-aligned images): "
                             "set optim.encoder_cache: false")
        if not 0.0 < float(self.data.align_p) <= 1.0:  # from_dict has checked it is a number
            raise ValueError(f"data.align_p must be in (0, 1], not {self.data.align_p!r}")
        if not isinstance(self.data.align, (bool, str)):
            raise ValueError(f"data.align must be false, true or a face detector name, not {self.data.align!r}")
        return self


def _from_dict(cls: type, d: dict[str, Any], prefix: str) -> Any:
    if not isinstance(d, dict):
        raise ValueError(f"{prefix or 'config'}: expected a mapping, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"unknown config keys {[prefix + k for k in unknown]}; known: {sorted(fields)}")
    kw = {}
    for k, v in d.items():
        sub = _SECTIONS.get((cls, k))
        kw[k] = _from_dict(sub, v or {}, f"{prefix}{k}.") if sub else _coerce(v, str(fields[k].type), prefix + k)
    return cls(**kw)


def _coerce(v: Any, type_name: str, key: str) -> Any:
    """YAML 1.1 reads ``1e-5`` (no dot) as a string: make numbers of numeric fields numbers."""
    if not isinstance(v, str) or type_name.startswith("str"):
        return v
    for kind, conv in (("float", float), ("int", int)):
        if type_name.startswith(kind):
            try:
                return conv(v)
            except ValueError:
                raise ValueError(f"config key {key}: {v!r} is not a valid {kind}") from None
    return v


_SECTIONS = {(TrainConfig, "model"): ModelConfig, (TrainConfig, "data"): DataConfig, (TrainConfig, "optim"): OptimConfig,
             (TrainConfig, "distill"): DistillConfig, (TrainConfig, "mix"): MixConfig}


def parse_value(text: str) -> Any:
    """``--set`` values are YAML scalars/flow collections: 1e-5, true, null, [112, 112]."""
    return yaml.safe_load(text)


def apply_overrides(d: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides to a nested dict (in place; also returned)."""
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node = d
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {} if node.get(p) is None else _not_mapping(key, p)
            node = node[p]
        node[parts[-1]] = parse_value(text)
    return d


def _not_mapping(key: str, part: str) -> Any:
    raise ValueError(f"override {key!r}: {part!r} is not a section")


def bundled_config_path(name: str) -> Path:
    """Path of a config shipped in ``motivnet/configs`` (``paper`` -> paper.yaml)."""
    ref = resources.files("motivnet") / "configs" / (name if name.endswith(".yaml") else f"{name}.yaml")
    return Path(str(ref))


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML file (or a bundled config name), apply overrides, validate."""
    p = Path(path).expanduser()
    if not p.is_file():
        bundled = bundled_config_path(str(path))
        if not bundled.is_file():
            raise FileNotFoundError(f"{path}: no such config file or bundled config")
        p = bundled
    d = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    return TrainConfig.from_dict(apply_overrides(d, overrides)).validate()


def save_config(config: TrainConfig, path: str | os.PathLike) -> None:
    from ..fileio import atomic_write

    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    atomic_write(path, lambda p: Path(p).write_text(text, encoding="utf-8"))


__all__ = [
    "DataConfig",
    "DistillConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "bundled_config_path",
    "load_config",
    "save_config",
]
