"""The paper's three criteria for a Sapiens downstream model, as facts about the evaluated
model: (1) architecture similarity to Sapiens, (2) data similarity, (3) benchmark standing.

The references are the paper's setup: Sapiens-1B at 1024x768 with the authors' ML-Decoder
head, trained on AffectNet (8 classes, 3,750 per class, 9:1 split), and its published
AffectNet table.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch
import yaml

from ..models import MotivNet
from ..labels import AFFECTNET8
from ..models.ml_decoder import MLDecoder, MLDecoderConfig
from ..models.sapiens import SAPIENS_CONFIGS, SapiensConfig, SapiensViT, sapiens_config
from .scoring import EvalResult

PAPER_ENCODER = "sapiens-1b"
PAPER_IMAGE_SIZE = (1024, 768)
# The authors' head: ML-Decoder, one query per class (their released checkpoint has 7 classes).
PAPER_HEAD = MLDecoderConfig(num_classes=8, in_dim=1536, embed_dim=1152, num_layers=2, num_heads=8, ffn_dim=2048, dropout=0.1)
PAPER_DATA = {
    "dataset": "AffectNet (official, manually annotated)",
    "selection": "3,750 images per class by simple random sampling (30,000), 9:1 train/val split",
    "classes": "affectnet8",
    "initialisation": "Sapiens-1B pre-trained encoder (Humans-300M)",
    "augmentation": "none (as configs/paper.yaml reads the paper)",
    "test": "AffectNet official validation set",
}
# Published AffectNet accuracy (%), official validation set, 8 classes (the paper's table).
PUBLISHED_AFFECTNET: list[tuple[str, float]] = [
    ("Norface", 68.69),
    ("LFNSB", 63.12),
    ("Multi-task EfficientNet-B0", 61.32),
    ("ViT-tiny", 58.28),
    ("MotivNet (paper)", 57.49),
]
BENCHMARK_CAVEAT = (
    "The published numbers are on AffectNet's official validation set (8 classes, full-size images). "
    "The rows measured here are on the dataset named in the row: for affectnet96 that is a different split and "
    "re-distribution of AffectNet at 96x96 px, so the numbers are indicative, not a like-for-like comparison."
)
FEWER_CLASSES_CAVEAT = (
    " Rows with fewer than 8 classes are scored on the classes the system shares with the dataset only "
    "(e.g. contempt samples dropped): an easier task than the 8-class one."
)
TRAINING_FILES = ("training.json", "config.yaml")


def _param_count(module_cls: type, config: Any) -> int:
    with torch.device("meta"):  # shapes only: no memory for a 1B-parameter reference
        return sum(p.numel() for p in module_cls(config).parameters())


def _size_name(enc: SapiensConfig) -> str:
    for name, ref in SAPIENS_CONFIGS.items():
        if (ref.embed_dim, ref.depth, ref.num_heads) == (enc.embed_dim, enc.depth, enc.num_heads):
            return name
    return "custom"


def architecture(model: MotivNet) -> dict[str, Any]:
    """Rows (property, evaluated, paper) for encoder and head, and the list of differences."""
    cfg = model.config
    enc, dec = cfg.encoder, cfg.decoder
    ref = sapiens_config(PAPER_ENCODER, image_size=PAPER_IMAGE_SIZE)
    grid, ref_grid = enc.grid, ref.grid
    enc_params = sum(p.numel() for p in model.encoder.parameters())
    dec_params = sum(p.numel() for p in model.decoder.parameters())
    ref_head = PAPER_HEAD
    ref_enc_params, ref_dec_params = _param_count(SapiensViT, ref), _param_count(MLDecoder, ref_head)
    size = cfg.encoder_name or _size_name(enc)

    def row(prop: str, ours: Any, paper: Any, same: bool | None = None) -> dict[str, Any]:
        return {"property": prop, "evaluated": ours, "paper": paper, "same": ours == paper if same is None else same}

    rows = [
        row("encoder", "Sapiens ViT", "Sapiens ViT"),
        row("encoder size", size, PAPER_ENCODER),
        row("width (embed dim)", enc.embed_dim, ref.embed_dim),
        row("depth (blocks)", enc.depth, ref.depth),
        row("attention heads", enc.num_heads, ref.num_heads),
        row("MLP ratio", enc.mlp_ratio, ref.mlp_ratio),
        row("patch size", enc.patch_size, ref.patch_size),
        row("input size (HxW)", "x".join(map(str, enc.image_size)), "x".join(map(str, ref.image_size))),
        row("tokens", f"{grid[0]}x{grid[1]} = {grid[0] * grid[1]}", f"{ref_grid[0]}x{ref_grid[1]} = {ref_grid[0] * ref_grid[1]}"),
        row("encoder parameters", enc_params, ref_enc_params),
        row("resize", cfg.resize, "stretch"),
        row("head", "ML-Decoder", "ML-Decoder"),
        row("head width", dec.embed_dim, ref_head.embed_dim),
        row("head layers", dec.num_layers, ref_head.num_layers),
        row("head attention heads", dec.num_heads, ref_head.num_heads),
        row("head FFN", dec.ffn_dim, ref_head.ffn_dim),
        row("head queries", "one per class" if dec.num_groups == dec.num_classes else dec.num_groups, "one per class"),
        row("head parameters", dec_params, ref_dec_params),
        row("classes", f"{len(cfg.labels)}: {', '.join(cfg.labels)}", "8: AffectNet-8",
            same=tuple(cfg.labels) == AFFECTNET8.classes),
    ]
    return {
        "rows": rows,
        "differences": [r["property"] for r in rows if not r["same"]],
        "encoder_parameter_ratio": enc_params / ref_enc_params,
    }


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _training_files(weights: Path) -> list[Path]:
    """Training records beside the weights, or in the run folder above ``best``/``last``."""
    here = weights if weights.is_dir() else weights.parent
    found = [here / f for f in TRAINING_FILES if (here / f).is_file()]
    if not found and weights.is_dir() and (here.parent / "config.yaml").is_file():
        found = [here.parent / "config.yaml"]
    return found


def training_data(weights: str | os.PathLike | None) -> dict[str, Any]:
    """What the model was trained on, from ``training.json`` / ``config.yaml`` beside the weights
    (or the run folder's ``config.yaml`` + ``split.json``); ``known: False`` if nothing is recorded."""
    if weights is None:
        return {"known": False, "reason": "no model weights evaluated"}
    files = _training_files(Path(weights))
    if not files:
        return {"known": False, "reason": f"no {' or '.join(TRAINING_FILES)} next to {weights}"}
    out: dict[str, Any] = {"known": True, "files": [str(f) for f in files]}
    for f in files:
        if f.suffix == ".json":
            try:
                out["training_json"] = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                out["training_json_error"] = str(e)
            continue
        cfg = _read_yaml(f)
        data, model = cfg.get("data") or {}, cfg.get("model") or {}
        out.update(
            train=data.get("train"),
            val=data.get("val"),
            test=data.get("test"),
            samples_per_class=data.get("samples_per_class"),
            val_fraction=data.get("val_fraction"),
            augment=bool(data.get("augment")),
            labels=model.get("labels"),
            init_from=model.get("init_from"),
            epochs=cfg.get("epochs"),
        )
        split = f.parent / "split.json"
        if split.is_file():
            try:
                s = json.loads(split.read_text(encoding="utf-8"))
                out["split"] = {"source": s.get("source"), "counts": s.get("counts"), "n_per_class": s.get("n")}
            except (OSError, json.JSONDecodeError):
                pass
    train = json.dumps(out.get("train") or out.get("training_json") or "").lower()
    out["affectnet"] = "affectnet" in train
    if "train" in out:
        out["comparison"] = _compare_data(out)
    return out


def _compare_data(info: dict[str, Any]) -> list[dict[str, str]]:
    """Aspect-by-aspect: the evaluated model's training data (from its config) vs the paper's."""
    train = info.get("train")
    path = train.get("path") if isinstance(train, dict) else train
    n = info.get("samples_per_class")
    counts = (info.get("split") or {}).get("counts") or {}
    selection = (
        "all images (unbalanced)" if n is None else "balanced at the smallest class" if n == "min" else f"{n} images per class"
    )
    if counts:
        selection += f"; train {counts.get('train')}, val {counts.get('val')}"
    rows = [
        ("dataset", f"{path} ({'AffectNet-derived' if info.get('affectnet') else 'not AffectNet by name'})"),
        ("selection", selection),
        ("classes", str(info.get("labels"))),
        ("initialisation", info.get("init_from") or "from scratch: no Sapiens pre-trained weights"),
        ("augmentation", "yes" if info.get("augment") else "none"),
        ("test", json.dumps(info.get("test"))),
    ]
    return [{"aspect": a, "evaluated": v, "paper": PAPER_DATA[a]} for a, v in rows]


def benchmark(results: Sequence[EvalResult]) -> dict[str, Any]:
    """The published AffectNet table with our rows on AffectNet-like datasets beside it."""
    ours = [
        {"method": f"{r.system} (measured here: {r.dataset}, {len(r.scores.classes)} classes, n={r.scores.n})",
         "accuracy": 100 * r.scores.accuracy}
        for r in results
        if "affectnet" in f"{r.dataset} {r.source}".lower() and r.scores.n
    ]
    published = [{"method": m, "accuracy": a} for m, a in PUBLISHED_AFFECTNET]
    table = sorted(published + ours, key=lambda row: -row["accuracy"])
    fewer = any(len(r.scores.classes) < 8 for r in results if "affectnet" in f"{r.dataset} {r.source}".lower())
    caveat = BENCHMARK_CAVEAT + (FEWER_CLASSES_CAVEAT if fewer else "")
    return {"table": table, "published": published, "ours": ours, "caveat": caveat}


def criteria(model: MotivNet | None, weights: str | os.PathLike | None, results: Sequence[EvalResult]) -> dict[str, Any]:
    return {
        "architecture": architecture(model) if model is not None else None,
        "data": training_data(weights),
        "paper_data": PAPER_DATA,
        "benchmark": benchmark(results),
    }


__all__ = ["BENCHMARK_CAVEAT", "PUBLISHED_AFFECTNET", "architecture", "benchmark", "criteria", "training_data"]
