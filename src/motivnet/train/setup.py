"""Build the model and the train/val/test datasets a TrainConfig describes."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

from ..data import Augment, EmotionDataset, Split, build_augment, build_dataset, load_manifest, save_manifest, select
from ..labels import LabelSet, label_set
from ..models import MLDecoderConfig, MotivNet, MotivNetConfig, SapiensConfig, resize_pos_embed, sapiens_config
from ..preprocess import Preprocessor
from .config import DataConfig, ModelConfig, TrainConfig


def build_model(cfg: ModelConfig, log: Callable[[str], None] | None = None) -> MotivNet:
    """A fresh MotivNet (seed the RNG first for a reproducible init), or ``init_from``'s weights
    and architecture with this config's ``image_size`` (when given), ``drop_path_rate`` and
    ``dropout``; with ``init_encoder`` the encoder then takes pretrained weights
    (``encoder_io.load_encoder_weights``). The model is returned in training mode."""
    if cfg.init_from and cfg.init_encoder:
        raise ValueError("model.init_from and model.init_encoder exclude each other")
    if cfg.init_from:
        model = MotivNet.from_pretrained(cfg.init_from)
        image_size = tuple(cfg.image_size) if cfg.image_size else None
        model = with_settings(model, image_size=image_size, drop_path_rate=cfg.drop_path_rate,
                              dropout=cfg.dropout, log=log).train()
    else:
        model = _fresh_model(cfg, log)
    model.encoder.set_grad_checkpointing(cfg.grad_checkpointing)
    return model


def _fresh_model(cfg: ModelConfig, log: Callable[[str], None] | None) -> MotivNet:
    enc = SapiensConfig(**cfg.encoder_config) if cfg.encoder_config else sapiens_config(cfg.encoder)
    changes = {"drop_path_rate": cfg.drop_path_rate}
    if cfg.image_size:
        changes["image_size"] = tuple(cfg.image_size)
    enc = replace(enc, **changes)
    classes = label_set(cfg.labels).classes
    dec = MLDecoderConfig(
        num_classes=len(classes), in_dim=enc.embed_dim, embed_dim=cfg.decoder_dim, num_layers=cfg.decoder_layers,
        num_heads=cfg.decoder_heads, ffn_dim=cfg.decoder_ffn_dim, dropout=cfg.dropout,
    )
    name = None if cfg.encoder_config else cfg.encoder
    model = MotivNet(MotivNetConfig(encoder=enc, decoder=dec, labels=classes, resize=cfg.resize, encoder_name=name))
    if cfg.init_encoder:
        from .encoder_io import load_encoder_weights

        load_encoder_weights(model.encoder, cfg.init_encoder, log)
    return model


def with_settings(model: MotivNet, image_size: tuple[int, int] | None = None, drop_path_rate: float | None = None,
                  dropout: float | None = None, log: Callable[[str], None] | None = None) -> MotivNet:
    """``model`` with another input size (H, W), stochastic-depth rate or decoder dropout: a new
    MotivNet with the same weights, the position embedding resized bicubically when the patch
    grid changes (progressive resizing). None keeps a setting; ``model`` itself is returned
    when nothing changes. Each change is logged."""
    enc, dec = model.config.encoder, model.config.decoder
    enc_changes: dict = {}
    if image_size is not None and tuple(image_size) != enc.image_size:
        enc_changes["image_size"] = tuple(image_size)
    if drop_path_rate is not None and drop_path_rate != enc.drop_path_rate:
        enc_changes["drop_path_rate"] = drop_path_rate
    dec_changes = {"dropout": dropout} if dropout is not None and dropout != dec.dropout else {}
    if not enc_changes and not dec_changes:
        return model
    new_enc, new_dec = replace(enc, **enc_changes), replace(dec, **dec_changes)
    new = MotivNet(replace(model.config, encoder=new_enc, decoder=new_dec))
    state = model.state_dict()
    if new_enc.grid != enc.grid:
        state["encoder.pos_embed"] = resize_pos_embed(state["encoder.pos_embed"], enc.grid, new_enc.grid)
    new.load_state_dict(state)
    new.train(model.training)
    if log:
        if "image_size" in enc_changes:
            log(f"init_from: input {enc.image_size} -> {new_enc.image_size}; position embedding resized from a "
                f"{enc.grid[0]}x{enc.grid[1]} to a {new_enc.grid[0]}x{new_enc.grid[1]} patch grid (bicubic)")
        if "drop_path_rate" in enc_changes:
            log(f"init_from: encoder drop_path_rate {enc.drop_path_rate} -> {new_enc.drop_path_rate}")
        if dec_changes:
            log(f"init_from: decoder dropout {dec.dropout} -> {new_dec.dropout}")
    return new


@dataclass
class Data:
    train: EmotionDataset  # with augmentation
    val: EmotionDataset
    test: EmotionDataset | None
    split: Split | None
    notes: list[str]
    train_weights: torch.Tensor | None = None  # (len(train),) draw weights, None: a plain shuffle
    val_weights: torch.Tensor | None = None  # (len(val),) source-balance weights for val_acc_balanced


def build_data(config: TrainConfig, model: MotivNet, run_dir: Path, resume_split: bool) -> Data:
    """Open the datasets in the model's label set; sample and split the train set as the
    paper does unless ``data.val`` is given; save/reuse ``split.json`` in the run dir."""
    dc: DataConfig = config.data
    labels = label_set(list(model.labels))
    pre = Preprocessor.from_config(model.config)
    opts = {"skip_bad": dc.skip_bad, "preprocessor": pre}

    def open_(spec, split: str) -> EmotionDataset:
        if isinstance(spec, (str, Path)):
            spec = {"path": str(spec)}
        spec = {"split": split, **spec}
        ds = build_dataset(spec, **opts)
        return ds if ds.labels == labels else ds.with_labels(labels)

    full = open_(dc.train, "train")
    notes = [full.describe()]
    if full.skipped:
        notes.append(f"train: {len(full.skipped)} bad entries skipped, e.g. {full.skipped[0]}")
    manifest = Path(dc.manifest).expanduser() if dc.manifest else None
    own = run_dir / "split.json"
    if manifest is None and resume_split and own.is_file():
        manifest = own  # a resumed run keeps its own split
    seed = config.seed if dc.split_seed is None else dc.split_seed
    if manifest is not None:
        split = load_manifest(manifest)
    else:
        n = dc.samples_per_class
        split = select(full, n=n, val_fraction=0.0 if dc.val is not None else dc.val_fraction, seed=seed)
    train, val = split.apply(full)
    if dc.val is not None:
        val = open_(dc.val, "val")
    test = open_(dc.test, "test") if dc.test is not None else None
    augment = build_augment(dc.augment)
    aligner = build_aligner(dc.align)
    if aligner is not None:
        share = "every image" if dc.align_p >= 1.0 else f"{dc.align_p:g} of the training images (drawn per image and epoch) and every val/test image"
        notes.append(f"align: {share} cut to its largest face, detected ({dc.align if isinstance(dc.align, str) else 'default detector'}) "
                     "and aligned as predict does; an image without a face is used whole")
        augment = then(sometimes(aligner, dc.align_p), augment)
        val = val.with_transform(augment=aligner)
        test = test.with_transform(augment=aligner) if test is not None else None
    # The train set sees whole images under its random crops; crop_pct is evaluation's.
    train = train.with_transform(preprocessor=replace(pre, crop_pct=1.0), augment=augment, seed=config.seed)
    notes.append(f"selected: train {len(train)}, val {len(val)}" + (f", test {len(test)}" if test else "")
                 + (f" (n={split.n} per class, seed {split.seed})" if split.n else ""))
    weights, note = train_sample_weights(dc, train)
    if note:
        notes.append(note)
    val_weights = None
    if dc.source_pattern:
        val_sources = sample_sources(val.ids, dc.source_pattern)
        if len(set(val_sources)) > 1:
            val_weights = balance_weights(val.targets, val_sources)[0]
    return Data(train, val, test, split, notes, weights, val_weights)


def build_aligner(spec: bool | str) -> Augment | None:
    """``data.align``: None (False), or the caching largest-face aligner of the default detector
    (True) or of the named one; faceless images pass through whole."""
    if not spec:
        return None
    from ..faces import get_detector, main_face_aligner

    detector = get_detector() if spec is True else get_detector(str(spec))
    return main_face_aligner(detector, no_face="whole", cache=True)


def sometimes(step: Augment, p: float) -> Augment:
    """``step`` with probability ``p`` (drawn from the sample's generator), else the image as it is;
    ``step`` itself when ``p >= 1``, so no draw shifts the augmentation that follows."""
    if p >= 1.0:
        return step
    return lambda rgb, g: step(rgb, g) if float(torch.rand((), generator=g)) < p else rgb


def then(first: Augment, second: Augment | None) -> Augment:
    """``second(first(rgb))`` with one generator (``first`` alone when ``second`` is None)."""
    if second is None:
        return first
    return lambda rgb, g: second(first(rgb, g), g)


def save_split(split: Split, run_dir: Path) -> None:
    save_manifest(split, run_dir / "split.json")


# affectnet96's FFHQ faces are named ffhq_*: the source pattern of the benchmark scripts.
AFFECTNET96_SOURCE_PATTERN = r"(?:^|/)(ffhq)_[^/]*$"


def sample_sources(ids: list[str], pattern: str) -> list[str]:
    """The source of every id: the regex's first group (or whole match), "other" if none."""
    rx = re.compile(pattern)
    out = []
    for i in ids:
        m = rx.search(i)
        out.append("other" if m is None else (m.group(1) if rx.groups else m.group(0)))
    return out


def balance_weights(targets: list[int], sources: list[str]) -> tuple[torch.Tensor, dict[tuple[int, str], float]]:
    """(N,) weights P(c) P(s) / P(c, s) for each sample's class c and source s: drawn in
    proportion to them, class and source are independent and each keeps its overall frequency.
    Also returns the weight of each (class, source) group."""
    n = len(targets)
    pc, ps, pcs = Counter(targets), Counter(sources), Counter(zip(targets, sources))
    group = {k: (pc[k[0]] / n) * (ps[k[1]] / n) / (v / n) for k, v in pcs.items()}
    return torch.tensor([group[k] for k in zip(targets, sources)], dtype=torch.float64), group


def weighted_accuracy(correct: torch.Tensor, weights: torch.Tensor) -> float:
    """sum(w * correct) / sum(w) over (N,) bools and (N,) weights: with ``balance_weights``, the
    source-balanced accuracy."""
    return float((weights * correct.double()).sum() / weights.sum())


def train_sample_weights(dc: DataConfig, train: EmotionDataset) -> tuple[torch.Tensor | None, str | None]:
    """The draw weights ``data.balance`` asks for, and a one-line note of them (or None, None)."""
    if dc.balance is None:
        return None, None
    if dc.balance != "source":
        raise ValueError(f"data.balance must be null or 'source', not {dc.balance!r}")
    if not dc.source_pattern:
        raise ValueError("data.balance: source needs data.source_pattern (a regex naming each file's source)")
    sources = sample_sources(train.ids, dc.source_pattern)
    if len(set(sources)) < 2:
        raise ValueError(f"data.source_pattern {dc.source_pattern!r} finds one source ({sources[0]!r}) in the train set: nothing to balance")
    weights, group = balance_weights(train.targets, sources)
    names = train.labels.classes
    parts = ", ".join(f"{names[c]}/{s} {w:.2f}" for (c, s), w in sorted(group.items()))
    return weights, f"balance source: draw weights per class/source: {parts}"


def class_weights(spec, train: EmotionDataset, labels: LabelSet) -> torch.Tensor | None:
    """None, "balanced" (N / (C * count_c)) or an explicit list, as a (C,) tensor."""
    if spec is None:
        return None
    if spec == "balanced":
        counts = torch.bincount(torch.tensor(train.targets), minlength=len(labels)).float()
        return len(train) / (len(labels) * counts.clamp(min=1))
    w = torch.tensor([float(v) for v in spec])
    if w.numel() != len(labels):
        raise ValueError(f"class_weights has {w.numel()} values for {len(labels)} classes")
    return w


__all__ = ["AFFECTNET96_SOURCE_PATTERN", "Data", "balance_weights", "build_data", "build_model", "class_weights", "sample_sources", "save_split", "train_sample_weights", "weighted_accuracy", "with_settings"]
