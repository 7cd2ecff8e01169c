"""The training loop: ``train(config) -> run_dir / "best"``.

A run directory holds ``config.yaml``, ``split.json``, ``metrics.csv`` (+ ``metrics.png``),
``best/`` and ``last/`` (MotivNet folders: ``motivnet predict --weights runs/x/best``) and
``state.pt``, the resumable state (weights, optimizer, scheduler, counters, history).

With ``ema_decay`` set (``train/ema.py``), validation, ``best/`` and ``last/`` use the moving
average of the weights; ``state.pt`` keeps both it and the live weights.

Reproducibility: the batch order is a function of (seed, epoch), augmentation of
(seed, epoch, index) and dropout of (seed, rank, optimizer step), so a resumed run skips the
batches already done and ends with the weights an uninterrupted run ends with.
"""
from __future__ import annotations

import contextlib
import json
import math
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from ..fileio import atomic_write
from ..models import MotivNet
from .cache import cached_features
from .config import TrainConfig, save_config
from .distill import soft_targets, teacher_probs
from .distributed import DistContext, setup_distributed
from .ema import WeightEMA
from .metrics import classification_metrics, plot_metrics, write_metrics_csv
from .mixing import mix_batch
from .optim import build_optimizer, build_scheduler, group_lrs, schedule_lrs, set_frozen
from .precision import amp_warning, autocast, grad_scaler
from .sampler import eval_shard, global_batches, rank_batches
from .setup import Data, build_data, build_model, class_weights, save_split, weighted_accuracy
from .state import STATE_NAME, load_state, save_state

StepHook = Callable[[int], None]


class StopTraining(Exception):
    """Raised inside the loop when ``max_steps`` is reached (after the state is saved)."""


def train(config: TrainConfig, resume: bool | str = False, on_step: StepHook | None = None) -> Path:
    """Train as ``config`` says; returns the path of the best checkpoint folder.

    resume: True continues from ``run_dir/state.pt``; a path names another state file.
    on_step: called with the global optimizer step after each step (and after the state
        is saved, when ``save_every_steps`` says so); tests raise from it to kill a run.
    """
    config.validate()
    ctx = setup_distributed(config.distributed)
    try:
        return Trainer(config, ctx, on_step).run(resume)
    finally:
        ctx.close()


def step_seed(seed: int, rank: int, step: int) -> int:
    return ((seed * 1_000_003 + step) * 1_009 + rank) % (2**63 - 1)


class Trainer:
    def __init__(self, config: TrainConfig, ctx: DistContext, on_step: StepHook | None = None) -> None:
        self.cfg = config
        self.ctx = ctx
        self.on_step = on_step
        self.run_dir = Path(config.run_dir).expanduser()
        self.notes: list[str] = []

    # -- logging --------------------------------------------------------------------------
    def log(self, msg: str) -> None:
        if self.ctx.is_main:
            print(f"[motivnet train] {msg}", file=sys.stderr, flush=True)

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.cfg.amp)

    # -- setup ----------------------------------------------------------------------------
    def run(self, resume: bool | str) -> Path:
        cfg, ctx = self.cfg, self.ctx
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if (warning := amp_warning(cfg.amp)) and ctx.is_main:
            self.log(f"warning: {warning}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = None
        if resume:
            state = load_state(self.run_dir / STATE_NAME if resume is True else Path(resume).expanduser())
            self.log(f"resuming at epoch {state['epoch']}, batch {state['batch']}, step {state['step']}")
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.model = model = build_model(cfg.model, log=self.log)
        oc = cfg.optim
        self.use_cache = bool(oc.encoder_cache if oc.encoder_cache is not None else oc.freeze_encoder)
        if self.use_cache and not oc.freeze_encoder and oc.encoder_lr > 1e-8:
            raise ValueError(
                f"encoder_cache needs a frozen encoder: set optim.freeze_encoder: true, or an encoder_lr <= 1e-8 "
                f"(now {oc.encoder_lr}) to treat it as frozen"
            )
        self.train_encoder = not (oc.freeze_encoder or self.use_cache)
        if self.use_cache and cfg.mix.active:
            raise ValueError("mix (mixup / CutMix) mixes images, but a cached frozen encoder trains on stored "
                             "features: turn mix off or set optim.encoder_cache: false")
        set_frozen(model.encoder, not self.train_encoder)

        self.data: Data = build_data(cfg, model, self.run_dir, resume_split=bool(resume))
        for n in self.data.notes:
            self.log(n)
        if ctx.is_main:
            save_config(cfg, self.run_dir / "config.yaml")
            if self.data.split is not None:
                save_split(self.data.split, self.run_dir)
        self.num_classes = len(model.labels)
        if len(self.data.train) < cfg.batch_size * ctx.world_size:
            raise ValueError(f"train set has {len(self.data.train)} images, fewer than one global batch")

        if self.use_cache:
            self.log("encoder frozen: caching encoder features (no augmentation)")
            self.features = self._build_cache()
        # What the optimizer and DDP see: the whole model, or only the head.
        self.trainable: nn.Module = model if self.train_encoder else model.decoder
        self.wrapped = self._wrap(self.trainable)
        self.optimizer = build_optimizer(model, oc, self.train_encoder)
        self.scheduler = build_scheduler(self.optimizer, oc)
        self.scaler = grad_scaler(cfg.amp)
        self.ema = WeightEMA(self.trainable, cfg.ema_decay) if cfg.ema_decay else None
        self.teacher = self._load_teacher()
        weights = class_weights(oc.class_weights, self.data.train, self.data.train.labels)
        self.criterion = nn.CrossEntropyLoss(weight=weights, label_smoothing=oc.label_smoothing)

        self.epoch, self.batch, self.step = 0, 0, 0
        self.history: list[dict[str, Any]] = []
        self.best = None
        self.partial: dict[str, torch.Tensor] = {}
        if state is not None:
            self._restore(state)
        try:
            self._loop()
        except StopTraining:
            self.log(f"stopped at step {self.step} (max_steps); resume with --resume")
            return self.run_dir / "best"
        self._final_test()
        return self.run_dir / "best"

    def _load_teacher(self) -> torch.Tensor | None:
        """(len(train), K) teacher probabilities when ``distill.predictions`` is set."""
        dc = self.cfg.distill
        if not dc.predictions:
            return None
        probs = teacher_probs(Path(dc.predictions).expanduser(), self.data.train.ids, self.model.labels)
        agree = (probs.argmax(1) == torch.tensor(self.data.train.targets)).float().mean().item()
        self.log(f"distill: {len(probs)} teacher answers from {dc.predictions}, weight {dc.weight:g} "
                 f"(the teacher's top class is the label for {100 * agree:.1f} %)")
        return probs

    def _wrap(self, module: nn.Module) -> nn.Module:
        if not self.ctx.active:
            return module
        if self.ctx.mode == "fsdp":
            from torch.distributed.fsdp import fully_shard

            blocks = getattr(module, "encoder", None)
            for layer in (blocks.layers if blocks is not None else []):
                fully_shard(layer)
            fully_shard(module)
            return module
        return nn.parallel.DistributedDataParallel(module)

    def _build_cache(self) -> dict[str, torch.Tensor]:
        cfg, d = self.cfg, self.data
        kw = dict(
            batch_size=cfg.eval_batch_size or max(cfg.batch_size, 16), num_workers=cfg.data.num_workers,
            dtype=getattr(torch, cfg.cache_dtype), autocast=self.autocast, progress=cfg.progress,
        )
        cache_dir = self.run_dir / "cache"
        out = {"train": cached_features(cache_dir / "train.safetensors", self.model.encoder, d.train.with_transform(augment=None), self.ctx, **kw)}
        out["val"] = cached_features(cache_dir / "val.safetensors", self.model.encoder, d.val, self.ctx, **kw)
        if d.test is not None:
            out["test"] = cached_features(cache_dir / "test.safetensors", self.model.encoder, d.test, self.ctx, **kw)
        return out

    # -- state ----------------------------------------------------------------------------
    def _model_state(self) -> dict[str, torch.Tensor]:
        if self.ctx.mode == "fsdp" and self.ctx.active:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

            sd = get_model_state_dict(self.trainable, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
            if self.trainable is not self.model:  # head only: add the frozen encoder
                sd = {**{f"encoder.{k}": v for k, v in self.model.encoder.state_dict().items()}, **{f"decoder.{k}": v for k, v in sd.items()}}
            return sd
        return {k: v.detach().cpu() for k, v in self.model.state_dict().items()}

    def _load_model_state(self, state: dict[str, torch.Tensor]) -> None:
        if self.ctx.mode == "fsdp" and self.ctx.active:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

            if self.trainable is not self.model:
                self.model.encoder.load_state_dict({k[8:]: v for k, v in state.items() if k.startswith("encoder.")})
                state = {k[8:]: v for k, v in state.items() if k.startswith("decoder.")}
            set_model_state_dict(self.trainable, state, options=StateDictOptions(full_state_dict=True))
        else:
            self.model.load_state_dict(state)

    def _optim_state(self) -> dict[str, Any]:
        if self.ctx.mode == "fsdp" and self.ctx.active:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            return get_optimizer_state_dict(self.trainable, self.optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return self.optimizer.state_dict()

    def _save_state(self, epoch: int, batch: int) -> None:
        """Collective (every rank calls it); rank 0 writes."""
        partial = {}
        if batch > 0:  # mid-epoch: keep the epoch's train predictions so far, from all ranks
            parts = self.ctx.gather_objects((self.partial.get("logits"), self.partial.get("targets")))
            logits = [p[0] for p in parts if p[0] is not None]
            if logits:
                partial = {"logits": torch.cat(logits), "targets": torch.cat([p[1] for p in parts if p[1] is not None])}
        model_state, optim_state = self._model_state(), self._optim_state()
        if self.ctx.is_main:
            save_state(self.run_dir / STATE_NAME, {
                "model": model_state,
                "optimizer": optim_state,
                "scheduler": self.scheduler.state_dict() if self.scheduler else {},
                "scaler": self.scaler.state_dict(),
                "epoch": epoch, "batch": batch, "step": self.step,
                "global_batch": self.cfg.batch_size * self.ctx.world_size,
                "history": self.history, "best": self.best, "partial": partial,
                "ema": self.ema.state_dict() if self.ema else None,
            })
        self.ctx.barrier()

    def _restore(self, s: dict[str, Any]) -> None:
        gb = self.cfg.batch_size * self.ctx.world_size
        if s["global_batch"] != gb:
            raise ValueError(f"the state was saved with a global batch of {s['global_batch']}, this run has {gb} "
                             "(batch_size x processes must match to resume mid-run)")
        self._load_model_state(s["model"])
        if self.ctx.mode == "fsdp" and self.ctx.active:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(self.trainable, self.optimizer, s["optimizer"], options=StateDictOptions(full_state_dict=True))
        else:
            self.optimizer.load_state_dict(s["optimizer"])
        if self.scheduler and s["scheduler"]:
            self.scheduler.load_state_dict(s["scheduler"])
        self.scaler.load_state_dict(s["scaler"])
        if self.ema is not None:
            if s.get("ema"):
                self.ema.load_state_dict(s["ema"])
            else:  # the saved run kept no average: start one from the restored weights
                self.ema = WeightEMA(self.trainable, self.ema.decay)
                self.log("the state has no weight average (ema_decay was off): starting one from its weights")
        self.epoch, self.batch, self.step = int(s["epoch"]), int(s["batch"]), int(s["step"])
        self.history, self.best = list(s["history"]), s["best"]
        self.restored_partial = s.get("partial") or {}

    # -- loop -----------------------------------------------------------------------------
    def _batches(self, epoch: int, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(inputs, labels (B,), loss targets: the labels, or (B, K) soft targets when distilling or
        mixing). Under mixing the labels (B,) are the unmixed images', which the training accuracy uses."""
        cfg, ctx = self.cfg, self.ctx
        idx = rank_batches(len(self.data.train), cfg.batch_size, ctx.rank, ctx.world_size, cfg.seed, epoch, start,
                           weights=self.data.train_weights)
        if self.use_cache:
            feats, labels = self.features["train"], torch.tensor(self.data.train.targets)
            batches: Iterator[tuple[torch.Tensor, torch.Tensor]] = ((feats[b].float(), labels[b]) for b in idx)
        else:
            self.data.train.set_epoch(epoch)
            batches = iter(DataLoader(self.data.train, batch_sampler=idx, num_workers=cfg.data.num_workers))
        mix_at = epoch * 1_000_003  # one mixing seed per (epoch, batch), independent of resume
        for i, (b, (x, y)) in enumerate(zip(idx, batches), start=start):  # the loader keeps the sampler's order
            target = y if self.teacher is None else soft_targets(y, self.teacher[b], cfg.distill.weight)
            if cfg.mix.active:
                x, target = mix_batch(x, target, self.num_classes, cfg.mix, step_seed(cfg.seed, ctx.rank, mix_at + i))
            yield x, y, target

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.train_encoder or self.use_cache:
            return self.wrapped(x)
        with torch.no_grad():  # frozen encoder without a cache: no activations kept
            feats = self.model.encoder(x)
        return self.wrapped(feats)

    def _set_train_mode(self) -> None:
        self.model.train()
        if not self.train_encoder:
            self.model.encoder.eval()  # frozen: no drop-path noise

    def _loop(self) -> None:
        cfg, ctx = self.cfg, self.ctx
        n_batches = len(global_batches(len(self.data.train), cfg.batch_size, ctx.world_size, cfg.seed, 0))
        accum = cfg.grad_accum
        steps_per_epoch = math.ceil(n_batches / accum)
        self.step_epochs = 1.0 / steps_per_epoch
        if self.cfg.optim.warmup_epochs > 0:  # the first step's lr (later ones are set after each step)
            schedule_lrs(self.optimizer, self.scheduler, self.epoch + self.batch / n_batches, self.step_epochs,
                         self.cfg.optim.warmup_epochs)
        self.log(f"{n_batches} batches of {cfg.batch_size} x {ctx.world_size} process(es), {steps_per_epoch} optimizer steps per epoch")
        first = True
        for epoch in range(self.epoch, cfg.epochs):
            start = self.batch if first else 0
            first = False
            self._set_train_mode()
            self.partial = {}
            restored = getattr(self, "restored_partial", {}) if start > 0 else {}
            t0, seen = time.time(), 0
            bar = tqdm(total=n_batches, initial=start, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                       disable=not (cfg.progress and ctx.is_main), leave=False, dynamic_ncols=True)
            self.optimizer.zero_grad(set_to_none=True)
            for b, (x, y, target) in enumerate(self._batches(epoch, start), start=start):
                group_start = (b // accum) * accum
                group = min(accum, n_batches - group_start)
                last_in_group = b - group_start == group - 1
                if b == group_start:  # dropout noise is a function of (seed, rank, step)
                    torch.manual_seed(step_seed(cfg.seed, ctx.rank, self.step))
                sync = contextlib.nullcontext()
                if ctx.active and ctx.mode == "ddp" and not last_in_group:
                    sync = self.wrapped.no_sync()
                with sync:
                    with self.autocast():
                        logits = self._forward(x)
                        loss = self.criterion(logits.float(), target)
                    self.scaler.scale(loss / group).backward()
                self._record(logits.detach().float(), y)
                seen += len(y)
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
                if last_in_group:
                    self._optimizer_step(epoch + (b + 1) / n_batches)
                    done = b + 1
                    if cfg.save_every_steps and self.step % cfg.save_every_steps == 0 and done < n_batches:
                        self._save_state(epoch, done)
                    if self.on_step is not None:
                        self.on_step(self.step)
                    if cfg.max_steps and self.step >= cfg.max_steps and done < n_batches:
                        self._save_state(epoch, done)
                        bar.close()
                        raise StopTraining
            bar.close()
            self._end_epoch(epoch, restored, time.time() - t0, seen * ctx.world_size)
            if cfg.max_steps and self.step >= cfg.max_steps and epoch + 1 < cfg.epochs:
                raise StopTraining

    def _record(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        p = self.partial
        p["logits"] = logits if "logits" not in p else torch.cat([p["logits"], logits])
        p["targets"] = y if "targets" not in p else torch.cat([p["targets"], y])

    def _optimizer_step(self, epoch_pos: float) -> None:
        params = [p for p in self.trainable.parameters() if p.requires_grad]
        if self.cfg.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        schedule_lrs(self.optimizer, self.scheduler, epoch_pos, self.step_epochs, self.cfg.optim.warmup_epochs)
        if self.ema is not None:
            self.ema.update(self.trainable)
        self.step += 1

    # -- evaluation -----------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (N, C) and targets (N,) of ``split`` (val/test), gathered from all ranks."""
        ds = getattr(self.data, split)
        idx = eval_shard(len(ds), self.ctx.rank, self.ctx.world_size)
        bs = self.cfg.eval_batch_size or max(self.cfg.batch_size, 16)
        self.model.eval()
        outs = []
        if self.use_cache:
            feats = self.features[split]
            for i in range(0, len(idx), bs):
                with self.autocast():
                    outs.append(self.model.decoder(feats[idx[i : i + bs]].float()).float())
        else:
            loader = DataLoader(Subset(ds, idx), batch_size=bs, num_workers=self.cfg.data.num_workers)
            for x, _ in loader:
                with self.autocast():
                    outs.append(self.model(x).float())
        mine = torch.cat(outs) if outs else torch.empty(0, self.num_classes)
        logits = torch.empty(len(ds), self.num_classes)
        for i, l in self.ctx.gather_objects((idx, mine)):
            if len(i):
                logits[torch.tensor(i)] = l
        return logits, torch.tensor(ds.targets, dtype=torch.long)

    def _end_epoch(self, epoch: int, restored: dict[str, Any], seconds: float, images: int) -> None:
        parts = self.ctx.gather_objects((self.partial.get("logits"), self.partial.get("targets")))
        logits = [p[0] for p in parts if p[0] is not None]
        targets = [p[1] for p in parts if p[1] is not None]
        if restored:
            logits.insert(0, restored["logits"])
            targets.insert(0, restored["targets"])
        tr = classification_metrics(torch.cat(logits), torch.cat(targets), self.num_classes)
        live: dict[str, Any] = {}
        if self.ema is not None:  # the last step's weights, for comparison; the rest is the average's
            ll, lt = self.evaluate("val")
            live["live_val_acc"] = classification_metrics(ll, lt, self.num_classes)["acc"]
            if self.data.val_weights is not None:
                live["live_val_acc_balanced"] = weighted_accuracy(ll.argmax(1) == lt, self.data.val_weights)
        with self.ema.applied(self.trainable) if self.ema is not None else contextlib.nullcontext():
            self._score_and_export(epoch, tr, live, seconds, images)
        self._save_state(epoch + 1, 0)

    def _score_and_export(self, epoch: int, tr: dict[str, float], live: dict[str, Any], seconds: float,
                          images: int) -> None:
        """Validate the weights the model holds now, log the epoch, write last/ (and best/)."""
        vl, vt = self.evaluate("val")
        va = classification_metrics(vl, vt, self.num_classes)
        row: dict[str, Any] = {"epoch": epoch + 1, "step": self.step, **group_lrs(self.optimizer)}
        row.update({f"train_{k}": v for k, v in tr.items()})
        row.update({f"val_{k}": v for k, v in va.items()})
        balanced = ""
        if self.data.val_weights is not None:  # as if every source had the same class mix
            row["val_acc_balanced"] = weighted_accuracy(vl.argmax(1) == vt, self.data.val_weights)
            balanced = f" balanced {row['val_acc_balanced']:.4f}"
        row.update(live)
        row.update({"seconds": round(seconds, 2), "images_per_s": round(images / max(seconds, 1e-9), 2)})
        self.history.append(row)
        self.log(
            f"epoch {epoch + 1}: train loss {tr['loss']:.4f} acc {tr['acc']:.4f} | val loss {va['loss']:.4f} "
            f"acc {va['acc']:.4f}{balanced} auroc {va['auroc']:.4f} f1 {va['f1']:.4f}"
            + (f" (ema; last step's weights: acc {live['live_val_acc']:.4f})" if live else "")
            + f" | {row['images_per_s']} img/s"
        )
        key = self.cfg.best_metric
        value = row.get(key)
        if value is None and key == "val_acc_balanced":
            raise KeyError("best_metric 'val_acc_balanced' needs data.source_pattern (and two sources in val)")
        if value is None:
            raise KeyError(f"best_metric {key!r} is not a metrics column ({', '.join(row)})")
        better = self.best is None or (value < self.best if key.endswith("loss") else value > self.best)
        if self.ctx.is_main:
            write_metrics_csv(self.history, self.run_dir / "metrics.csv")
            note = plot_metrics(self.history, self.run_dir / "metrics.png")
            if len(self.history) == 1 and not note.startswith("wrote"):
                self.log(note)
        state = self._model_state()
        if self.ctx.is_main:
            self._export(state, "last")
            if better:
                self._export(state, "best")
        if better:
            self.best = value

    def _export(self, state: dict[str, torch.Tensor], name: str) -> None:
        """Write a MotivNet folder as ``name``: built beside it, then swapped in, so a
        reader never sees a half-written checkpoint."""
        if self.ctx.mode == "fsdp" and self.ctx.active:
            out = MotivNet(self.model.config)  # a plain copy of the gathered full weights
            out.load_state_dict(state)
        else:
            out = self.model  # already holds exactly these weights: no second copy of a big model
        tmp, final, old = self.run_dir / f".{name}.new", self.run_dir / name, self.run_dir / f".{name}.old"
        shutil.rmtree(tmp, ignore_errors=True)
        out.save_pretrained(tmp)
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)

    def _final_test(self) -> None:
        if self.data.test is None:
            return
        self._load_model_state(MotivNet.from_pretrained(self.run_dir / "best").state_dict())
        logits, targets = self.evaluate("test")
        m = classification_metrics(logits, targets, self.num_classes)
        self.log(f"test (best checkpoint): " + ", ".join(f"{k} {v:.4f}" for k, v in m.items()))
        if self.ctx.is_main:
            text = json.dumps({"dataset": self.data.test.name, "images": len(self.data.test), **m}, indent=2) + "\n"
            atomic_write(self.run_dir / "test_metrics.json", lambda p: Path(p).write_text(text))


__all__ = ["StopTraining", "Trainer", "train"]
