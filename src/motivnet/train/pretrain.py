"""``pretrain(PretrainConfig) -> RUN_DIR/encoder``: MAE pretraining of a Sapiens encoder on
unlabelled face images, to fine-tune afterwards with ``motivnet train --set model.init_encoder=RUN_DIR``.

A run folder holds ``config.yaml``, ``metrics.csv`` (epoch, step, loss, lr, images/s, seconds),
``state.pt`` (the resumable state: MAE weights, optimizer, counters, history) and ``encoder/``
(``encoder_io``: config.json + model.safetensors with SapiensViT's key names), rewritten after
every epoch. An existing run is never overwritten: pass ``resume=True`` to continue it.

AdamW (no decay on biases, norms, position embeddings and the mask token) with a per-step
linear warmup and cosine decay. Like ``motivnet train``, the batch order is a function of
(seed, epoch), augmentation of (seed, epoch, index) and the masks of (seed, step), so a run
killed after a saved step resumes to the weights an uninterrupted run ends with.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import torch
import yaml
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..fileio import atomic_write
from ..models.sapiens import SapiensConfig, SapiensViT, sapiens_config
from ..preprocess import SAPIENS_MEAN, SAPIENS_STD, Preprocessor
from .encoder_io import ENCODER_DIR, save_encoder
from .engine import step_seed
from .mae import MAE, MAEDecoderConfig
from .metrics import write_metrics_csv
from .optim import no_weight_decay
from .precision import amp_warning, autocast, check_amp, grad_scaler
from .pretrain_data import ImageFiles, collate_images, find_images, pretrain_augment
from .sampler import global_batches
from .state import STATE_NAME, load_state, save_state

CONFIG_FILE = "config.yaml"
METRICS_COLUMNS = ["epoch", "step", "loss", "lr", "images_per_s", "seconds"]
# What a run's results are made of; any of them in --run-dir means "a run lives here".
RUN_FILES = (CONFIG_FILE, STATE_NAME, "metrics.csv", ENCODER_DIR)
# Settings that may change when resuming; any other change would make the saved state meaningless.
RESUMABLE_CHANGES = ("sources", "epochs", "threads", "workers", "save_every_steps", "progress", "run_dir")


@dataclass
class PretrainConfig:
    sources: list[str] = field(default_factory=list)  # folders (recursive), files or globs
    run_dir: str = "runs/pretrain"
    encoder: str = "sapiens-tiny"  # a registry name
    encoder_config: dict[str, Any] | None = None  # SapiensConfig fields; replaces ``encoder`` (tests)
    image_size: list[int] | None = None  # (H, W); default: the encoder's
    patch_size: int | None = None  # default: the encoder's (16, padding 2)
    mask_ratio: float = 0.75
    decoder_dim: int = 256
    decoder_depth: int = 4
    decoder_heads: int = 8
    decoder_pos_embed: str = "sincos"  # or "learned"
    norm_pix_loss: bool = True
    epochs: int = 100
    batch_size: int = 64
    lr: float | None = None  # None: MAE's rule, 1.5e-4 * batch_size / 256
    min_lr: float = 0.0
    weight_decay: float = 0.05
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    warmup_epochs: float = 5.0
    grad_clip: float | None = None
    crop_scale: list[float] = field(default_factory=lambda: [0.2, 1.0])  # random resized crop area
    resize: str = "stretch"
    seed: int = 0
    threads: int | None = None
    workers: int = 0
    save_every_steps: int = 0  # also write state.pt every N steps (mid-epoch resume)
    grad_checkpointing: bool = False
    amp: str = "none"  # "none", "bf16" or "fp16" autocast of the forward pass (the loss stays float32)
    progress: bool = True

    @property
    def base_lr(self) -> float:
        return self.lr if self.lr is not None else 1.5e-4 * self.batch_size / 256

    def encoder_cfg(self) -> SapiensConfig:
        enc = SapiensConfig(**self.encoder_config) if self.encoder_config else sapiens_config(self.encoder)
        changes: dict[str, Any] = {}
        if self.image_size:
            changes["image_size"] = tuple(self.image_size)
        if self.patch_size:
            changes["patch_size"] = int(self.patch_size)
        return replace(enc, **changes)  # re-validates divisibility

    def decoder_cfg(self) -> MAEDecoderConfig:
        return MAEDecoderConfig(embed_dim=self.decoder_dim, depth=self.decoder_depth, num_heads=self.decoder_heads,
                                pos_embed=self.decoder_pos_embed, norm_pix_loss=self.norm_pix_loss)

    def validate(self) -> "PretrainConfig":
        if not self.sources:
            raise ValueError("no image sources given")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not 0.0 < self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), not {self.mask_ratio}")
        if self.warmup_epochs < 0:
            raise ValueError("warmup_epochs must be >= 0")
        check_amp(self.amp)
        self.encoder_cfg()
        self.decoder_cfg()
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PretrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown pretrain config keys {unknown}")
        return cls(**d)


def load_run_config(run_dir: str | Path) -> PretrainConfig:
    """The config a run was started with (``RUN_DIR/config.yaml``)."""
    p = Path(run_dir).expanduser() / CONFIG_FILE
    if not p.is_file():
        raise FileNotFoundError(f"{p}: missing; is {run_dir} a `motivnet pretrain` run folder?")
    return PretrainConfig.from_dict(yaml.safe_load(p.read_text(encoding="utf-8")) or {})


def lr_at(position: int, total: int, warmup: int, base: float, minimum: float) -> float:
    """Linear warmup over ``warmup`` steps, then a half cosine from ``base`` to ``minimum``."""
    if position < warmup:
        return base * (position + 1) / warmup
    progress = (position - warmup) / max(1, total - warmup)
    return minimum + (base - minimum) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def pretrain(config: PretrainConfig, resume: bool = False, on_step: Callable[[int], None] | None = None,
             log: Callable[[str], None] | None = None) -> Path:
    """Pretrain as ``config`` says; returns the ``encoder/`` folder. ``on_step(step)`` runs after
    every optimizer step (and after the state is saved, if it is); tests raise from it."""
    return Pretrainer(config.validate(), on_step, log).run(resume)


class Pretrainer:
    def __init__(self, config: PretrainConfig, on_step: Callable[[int], None] | None, log: Callable[[str], None] | None) -> None:
        self.cfg = config
        self.on_step = on_step
        self.log = log or (lambda m: print(f"[motivnet pretrain] {m}", file=sys.stderr, flush=True))
        self.run_dir = Path(config.run_dir).expanduser()

    def run(self, resume: bool) -> Path:
        cfg = self.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if warning := amp_warning(cfg.amp):
            self.log(f"warning: {warning}")
        state = self._check_run_dir(resume)
        torch.manual_seed(cfg.seed)
        self.mae = MAE(SapiensViT(cfg.encoder_cfg()), cfg.decoder_cfg(), cfg.mask_ratio)
        self.mae.encoder.set_grad_checkpointing(cfg.grad_checkpointing)
        enc = self.mae.encoder.cfg
        files = find_images(cfg.sources, Preprocessor(enc.image_size).max_pixels, warn=self.log)
        if len(files) < cfg.batch_size:
            raise ValueError(f"{len(files)} usable images, fewer than one batch of {cfg.batch_size}")
        self.pre = Preprocessor(enc.image_size, resize=cfg.resize)
        self.data = ImageFiles(files, self.pre, pretrain_augment(tuple(cfg.crop_scale)), seed=cfg.seed, warn=self.log)
        self.steps_per_epoch = len(files) // cfg.batch_size
        self.total = cfg.epochs * self.steps_per_epoch
        self.warmup = round(cfg.warmup_epochs * self.steps_per_epoch)
        groups: dict[bool, list[torch.nn.Parameter]] = {True: [], False: []}
        for name, p in self.mae.named_parameters():
            groups[no_weight_decay(name, p) or name == "mask_token"].append(p)
        self.optimizer = torch.optim.AdamW(
            [{"params": groups[False], "weight_decay": cfg.weight_decay}, {"params": groups[True], "weight_decay": 0.0}],
            lr=cfg.base_lr, betas=tuple(cfg.betas),
        )
        self.scaler = grad_scaler(cfg.amp)
        self.epoch, self.batch, self.step = 0, 0, 0
        self.history: list[dict[str, Any]] = []
        self.partial = {"loss_sum": 0.0, "images": 0}
        if state is not None:
            self._restore(state)
        atomic_write(self.run_dir / CONFIG_FILE, lambda p: Path(p).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False)))
        self.log(f"{len(files)} images, {enc.image_size[0]}x{enc.image_size[1]}, {enc.grid[0]}x{enc.grid[1]} tokens of "
                 f"{enc.patch_size}px, mask ratio {cfg.mask_ratio}; {self.steps_per_epoch} steps of {cfg.batch_size} per epoch, "
                 f"lr {cfg.base_lr:.3g}, warmup {self.warmup} steps")
        if self.warmup >= self.total:
            self.log(f"warning: the warmup ({self.warmup} steps) is not shorter than the run ({self.total} steps): "
                     "the learning rate never reaches its peak; lower --warmup-epochs")
        for epoch in range(self.epoch, cfg.epochs):
            self._epoch(epoch, self.batch if epoch == self.epoch else 0)
        return self.run_dir / ENCODER_DIR

    # -- run folder and state ------------------------------------------------------------------
    def _check_run_dir(self, resume: bool) -> dict[str, Any] | None:
        """Refuse to overwrite a run's results; on resume, the state and the saved config."""
        if not resume:
            found = [n for n in RUN_FILES if (self.run_dir / n).exists()]
            if found:
                raise ValueError(f"{self.run_dir} already holds a run ({', '.join(found)}); pass --resume to continue "
                                 "it, or choose another --run-dir")
            self.run_dir.mkdir(parents=True, exist_ok=True)
            return None
        state = load_state(self.run_dir / STATE_NAME)
        saved, now = state["config"], self.cfg.to_dict()
        changed = sorted(k for k in now if k not in RESUMABLE_CHANGES and now[k] != saved.get(k))
        if changed:
            raise ValueError(f"cannot resume {self.run_dir} with different " + ", ".join(
                f"{k} ({saved.get(k)!r} -> {now[k]!r})" for k in changed))
        self.log(f"resuming at epoch {state['epoch'] + 1}, batch {state['batch']}, step {state['step']}")
        return state

    def _restore(self, s: dict[str, Any]) -> None:
        if s["steps_per_epoch"] != self.steps_per_epoch:
            self.log(f"the sources now give {self.steps_per_epoch} steps per epoch (was {s['steps_per_epoch']}): "
                     "the batch order differs from the interrupted run's")
        self.mae.load_state_dict(s["model"])
        self.optimizer.load_state_dict(s["optimizer"])
        if s.get("scaler"):  # states from before amp existed have none
            self.scaler.load_state_dict(s["scaler"])
        self.epoch, self.batch, self.step = int(s["epoch"]), int(s["batch"]), int(s["step"])
        self.history = list(s["history"])
        self.partial = dict(s["partial"])

    def _save_state(self, epoch: int, batch: int) -> None:
        save_state(self.run_dir / STATE_NAME, {
            "model": {k: v.detach().cpu() for k, v in self.mae.state_dict().items()},
            "optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(),
            "epoch": epoch, "batch": batch, "step": self.step, "steps_per_epoch": self.steps_per_epoch,
            "history": self.history, "partial": dict(self.partial), "config": self.cfg.to_dict(),
        })

    # -- loop ----------------------------------------------------------------------------------
    def _epoch(self, epoch: int, start: int) -> None:
        cfg = self.cfg
        batches = global_batches(len(self.data), cfg.batch_size, 1, cfg.seed, epoch)[start:]
        self.data.set_epoch(epoch)
        loader = DataLoader(self.data, batch_sampler=batches, num_workers=cfg.workers, collate_fn=collate_images)
        if start == 0:
            self.partial = {"loss_sum": 0.0, "images": 0}
        self.mae.train()
        t0, seen = time.time(), 0
        bar = tqdm(total=self.steps_per_epoch, initial=start, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not cfg.progress, leave=False, dynamic_ncols=True)
        for b, images in enumerate(loader, start=start):
            position = epoch * self.steps_per_epoch + b
            if images is not None:  # None: every image of the batch failed to decode (warned)
                loss = self._train_step(images, position)
                self.partial["loss_sum"] += loss * len(images)
                self.partial["images"] += len(images)
                seen += len(images)
                bar.set_postfix(loss=f"{loss:.4f}")
            bar.update(1)
            done = b + 1
            if cfg.save_every_steps and self.step % cfg.save_every_steps == 0 and done < self.steps_per_epoch:
                self._save_state(epoch, done)
            if self.on_step is not None and images is not None:
                self.on_step(self.step)
        bar.close()
        self._end_epoch(epoch, time.time() - t0, seen)

    def _train_step(self, images: torch.Tensor, position: int) -> float:
        cfg = self.cfg
        lr = lr_at(position, self.total, self.warmup, cfg.base_lr, cfg.min_lr)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        torch.manual_seed(step_seed(cfg.seed, 0, position))  # the masks (and drop path) of this step
        with autocast(cfg.amp):
            loss = self.mae(images).loss
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.mae.parameters(), cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        return float(loss.detach())

    def _end_epoch(self, epoch: int, seconds: float, seen: int) -> None:
        p = self.partial
        row = {
            "epoch": epoch + 1, "step": self.step,
            "loss": p["loss_sum"] / max(p["images"], 1),
            "lr": self.optimizer.param_groups[0]["lr"],
            "images_per_s": round(seen / max(seconds, 1e-9), 2), "seconds": round(seconds, 2),
        }
        self.history.append(row)
        self.log(f"epoch {epoch + 1}/{self.cfg.epochs}: loss {row['loss']:.4f}, lr {row['lr']:.3g}, {row['images_per_s']} img/s")
        write_metrics_csv(self.history, self.run_dir / "metrics.csv", METRICS_COLUMNS)
        save_encoder(self.mae.encoder, self.run_dir / ENCODER_DIR, self._encoder_info(epoch + 1, row["loss"]))
        self._save_state(epoch + 1, 0)

    def _encoder_info(self, epoch: int, loss: float) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "encoder_name": None if cfg.encoder_config else cfg.encoder,
            "made_by": (f"motivnet pretrain: masked autoencoder (mask ratio {cfg.mask_ratio}) on {len(self.data)} "
                        f"unlabelled images, epoch {epoch} of {cfg.epochs}, masked-patch loss {loss:.4f}; "
                        f"fine-tune with motivnet train --set model.init_encoder=RUN_DIR"),
            "pretrain": {
                "epoch": epoch, "epochs": cfg.epochs, "step": self.step, "images": len(self.data), "loss": loss,
                "mask_ratio": cfg.mask_ratio, "sources": list(cfg.sources), "decoder": cfg.decoder_cfg().to_dict(),
            },
            "resize": cfg.resize, "mean": list(SAPIENS_MEAN), "std": list(SAPIENS_STD),
        }


__all__ = ["PretrainConfig", "Pretrainer", "load_run_config", "lr_at", "pretrain"]
