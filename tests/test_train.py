"""The training engine on a tiny model and generated images: outputs, resume after a kill,
frozen-encoder feature cache, configs/CLI, and 2-process DDP == 1 process."""
from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from safetensors.torch import load_file

from motivnet.faces import Face
from motivnet.models import MotivNet
from motivnet.train import TrainConfig, load_config, train
from motivnet.train.config import bundled_config_path
from motivnet.train.optim import param_groups, schedule_lrs
from motivnet.train.setup import build_model
from motivnet.train.state import load_state

CLASSES = ["angry", "happy", "sad", "neutral"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """4 classes x 10 random 24x24 images; each class has its own mean colour (learnable)."""
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        (root / name).mkdir()
        for i in range(10):
            img = rng.integers(0, 60, (24, 24, 3)) + np.array([60 * c, 40, 200 - 50 * c])
            Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def tiny_config(faces: Path, run_dir: Path, **top) -> dict:
    d = {
        "run_dir": str(run_dir),
        "epochs": 2,
        "batch_size": 4,
        "grad_accum": 2,
        "seed": 3,
        "progress": False,
        "threads": 1,  # tiny tensors: one thread is fastest, and immune to a busy second core
        "model": {
            "encoder_config": {"embed_dim": 32, "depth": 2, "num_heads": 2, "image_size": [32, 32]},
            "decoder_dim": 32, "decoder_heads": 2, "decoder_ffn_dim": 64, "dropout": 0.0,
            "labels": ["anger", "happy", "sad", "neutral"],
        },
        "data": {"train": {"path": str(faces)}, "samples_per_class": "min", "val_fraction": 0.2, "augment": False},
        "optim": {"encoder_lr": 1e-3, "decoder_lr": 3e-3, "T_0": 1},
    }
    for k, v in top.items():
        section, _, key = k.partition("__")
        if key:
            d[section][key] = v
        else:
            d[k] = v
    return d


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def assert_same_weights(a: Path, b: Path, atol: float = 1e-6) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        x, y = wa[k], wb[k]
        if k.endswith("in_proj_bias"):
            # The key bias cannot change attention (softmax is shift-invariant), so its true
            # gradient is 0; Adam turns the ~1e-9 rounding noise of a different reduction
            # order into lr-sized steps. Compare the query and value biases only.
            d = x.numel() // 3
            x, y = torch.cat([x[:d], x[2 * d :]]), torch.cat([y[:d], y[2 * d :]])
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-5, msg=k)


def test_train_writes_run_and_learns(faces, tmp_path):
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path / "run", epochs=3, data__test={"path": str(faces)},
                                            data__augment=True))
    best = train(cfg)
    run = tmp_path / "run"
    assert best == run / "best"
    for f in ("config.yaml", "split.json", "metrics.csv", "state.pt", "test_metrics.json", "last/config.json"):
        assert (run / f).is_file(), f
    import importlib.util

    assert (run / "metrics.png").is_file() == (importlib.util.find_spec("matplotlib") is not None)
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    for key in ("train_loss", "val_acc", "val_auroc", "val_f1", "lr_decoder"):
        assert all(np.isfinite(float(r[key])) for r in rows), key
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])  # it learns the colours
    model = MotivNet.from_pretrained(best)  # `motivnet predict --weights runs/x/best` loads this
    assert model.labels == ("anger", "happy", "sad", "neutral")
    best_epoch = max(rows, key=lambda r: float(r["val_acc"]))  # the first maximum is the one kept
    assert load_state(run)["best"] == pytest.approx(float(best_epoch["val_acc"]), abs=1e-6)


def _kill_at(step: int):
    def hook(s: int) -> None:
        if s == step:
            raise KeyboardInterrupt("killed")
    return hook


def test_resume_mid_epoch_matches_uninterrupted(faces, tmp_path):
    base = dict(epochs=2, save_every_steps=1, data__augment={"hflip": 0.5, "brightness": 0.3}, model__dropout=0.1)
    full = train(TrainConfig.from_dict(tiny_config(faces, tmp_path / "full", **base)))
    # 32 train images / batch 4 = 8 batches = 4 steps per epoch: step 6 is mid-epoch 2.
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path / "cut", **base))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_step=_kill_at(6))
    state = load_state(tmp_path / "cut")
    assert (state["epoch"], state["batch"], state["step"]) == (1, 4, 6)
    resumed = train(cfg, resume=True)
    assert_same_weights(full.parent / "last", resumed.parent / "last")
    assert_same_weights(full, resumed)
    a = list(csv.DictReader(open(tmp_path / "full" / "metrics.csv")))
    b = list(csv.DictReader(open(tmp_path / "cut" / "metrics.csv")))
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]


def test_warmup_scales_the_scheduled_lr_linearly_and_resumes_exactly(faces, tmp_path):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([{"params": [p], "lr": 1.0}])
    cos = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=4, eta_min=0.0)
    for pos, want in [(0.0, 0.25 * 1.0), (0.5, 0.5 * (1 + np.cos(np.pi * 0.5 / 4)) / 2), (3.0, (1 + np.cos(np.pi * 3 / 4)) / 2)]:
        schedule_lrs(opt, cos, pos, 0.5, warmup_epochs=2.0)  # the step ending at pos + 0.5 epochs
        assert opt.param_groups[0]["lr"] == pytest.approx(want)
    flat = torch.optim.AdamW([{"params": [p], "lr": 2.0}])
    for pos in (0.0, 0.5, 0.5, 1.5):  # no scheduler: repeated calls do not compound
        schedule_lrs(flat, None, pos, 0.5, warmup_epochs=1.0)
    assert flat.param_groups[0]["lr"] == 2.0
    with pytest.raises(ValueError, match="warmup"):
        TrainConfig.from_dict(tiny_config(faces, tmp_path / "bad", optim__warmup_epochs=-1)).validate()
    # In the engine: a run killed mid-warmup resumes to the uninterrupted run's weights, and warmup changes them.
    base = dict(epochs=2, save_every_steps=1, optim__warmup_epochs=1.5, optim__T_0=2)
    full = train(TrainConfig.from_dict(tiny_config(faces, tmp_path / "full", **base)))
    plain = train(TrainConfig.from_dict(tiny_config(faces, tmp_path / "plain", **{**base, "optim__warmup_epochs": 0.0})))
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path / "cut", **base))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_step=_kill_at(5))  # 4 steps per epoch: step 5 is inside the 6-step warmup
    resumed = train(cfg, resume=True)
    assert_same_weights(full.parent / "last", resumed.parent / "last")
    a, b = weights(full.parent / "last"), weights(plain.parent / "last")
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_max_steps_stops_resumably(faces, tmp_path):
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path / "r", epochs=2, max_steps=2))
    train(cfg)
    assert load_state(tmp_path / "r")["step"] == 2 and not (tmp_path / "r" / "metrics.csv").exists()
    cfg.max_steps = None
    train(cfg, resume=True)
    assert load_state(tmp_path / "r")["step"] == 8


def test_frozen_encoder_trains_head_on_cached_features(faces, tmp_path):
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path / "fz", optim__freeze_encoder=True, data__augment=True))
    best = train(cfg)
    cache = tmp_path / "fz" / "cache" / "train.safetensors"
    assert cache.is_file() and load_file(str(cache))["features"].shape == (32, 32, 2, 2)
    torch.manual_seed(3)
    init = build_model(cfg.model).state_dict()
    trained = weights(best)
    assert all(torch.equal(trained[k], init[k]) for k in init if k.startswith("encoder."))
    assert any(not torch.equal(trained[k], init[k]) for k in init if k.startswith("decoder.") and "queries" not in k)
    # A second run reuses the cache file (fingerprint matches): same bytes, same result.
    mtime = cache.stat().st_mtime_ns
    cfg.run_dir = str(tmp_path / "fz")
    again = train(cfg)
    assert cache.stat().st_mtime_ns == mtime
    assert_same_weights(best, again)
    with pytest.raises(ValueError, match="frozen"):
        train(TrainConfig.from_dict(tiny_config(faces, tmp_path / "x", optim__encoder_cache=True)))


def test_layer_decay_groups(faces, tmp_path):
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path, optim__layer_decay=0.5, optim__encoder_lr=1.0))
    groups = param_groups(build_model(cfg.model), cfg.optim, train_encoder=True)
    lr = {g["name"]: g["lr"] for g in groups}
    assert lr["encoder.3.nd"] == 1.0 and lr["encoder.2"] == 0.5 and lr["encoder.0"] == lr["encoder.0.nd"] == 0.125
    assert lr["decoder.0"] == cfg.optim.decoder_lr
    assert all(g["weight_decay"] == 0.0 for g in groups if g["name"].endswith(".nd"))


def test_bundled_configs_and_overrides():
    paper = load_config("paper")
    assert paper.model.encoder == "sapiens-1b" and paper.model.image_size == [1024, 768]
    assert (paper.optim.encoder_lr, paper.optim.decoder_lr) == (1e-8, 1e-5)
    assert (paper.batch_size, paper.grad_accum, paper.epochs, paper.data.samples_per_class) == (2, 8, 30, 3750)
    small = load_config(bundled_config_path("cpu-small"), ["optim.decoder_lr=1e-4", "model.image_size=[64,64]"])
    assert small.optim.decoder_lr == 1e-4 and small.model.image_size == [64, 64]
    with pytest.raises(ValueError, match="unknown config keys"):
        load_config("paper", ["optim.lr=1"])


def test_cli_flags_become_overrides(faces, tmp_path):
    import argparse

    from motivnet.train.cli import add_train_args, overrides_from_args

    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump(tiny_config(faces, tmp_path / "cli")))
    p = argparse.ArgumentParser()
    add_train_args(p.add_subparsers(dest="command"))
    args = p.parse_args(["train", "--config", str(cfg_file), "--epochs", "1", "--skip-bad", "--set", "seed=9", "--resume",
                          "--ema-decay", "0.99"])
    assert args.resume is True
    cfg = load_config(args.config, overrides_from_args(args))
    assert (cfg.epochs, cfg.seed, cfg.data.skip_bad, cfg.ema_decay) == (1, 9, True, 0.99)
    args.resume = False
    assert args.run(args) == 0 and (tmp_path / "cli" / "best" / "model.safetensors").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_processes_equal_one(faces, tmp_path, mode):
    """2 ranks x batch 2 (gloo, CPU) == 1 process x batch 4: same samples per step."""
    one = tiny_config(faces, tmp_path / "one", batch_size=4, epochs=1)
    train(TrainConfig.from_dict(one))
    two = tiny_config(faces, tmp_path / "two", batch_size=2, epochs=1, distributed=mode)
    (tmp_path / "two.yaml").write_text(yaml.safe_dump(two))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           "-m", "motivnet.train", "--config", str(tmp_path / "two.yaml"), "--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 process(es)" in r.stderr
    assert_same_weights(tmp_path / "one" / "last", tmp_path / "two" / "last", atol=1e-5)


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_class_weights_smoothing(faces, tmp_path, amp):
    cfg = TrainConfig.from_dict(tiny_config(
        faces, tmp_path / amp, epochs=1, amp=amp,
        optim__class_weights="balanced", optim__label_smoothing=0.1, optim__grad_clip=0.5,
    ))
    best = train(cfg)
    w = weights(best)
    assert all(torch.isfinite(v).all() for v in w.values())
    torch.manual_seed(3)
    init = build_model(cfg.model).state_dict()
    assert not torch.equal(w["decoder.proj.weight"], init["decoder.proj.weight"])
    assert w["decoder.proj.weight"].dtype == torch.float32  # autocast never changes stored weights


@pytest.mark.parametrize("native", [True, False])
def test_amp_warning_names_emulated_bf16(monkeypatch, native):
    """bf16 autocast on a CPU without native bf16 is ~30x slower: train says so up front."""
    import motivnet.backends
    from motivnet.train.precision import amp_warning

    monkeypatch.setattr(motivnet.backends, "cpu_has_native_bf16", lambda: native)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert amp_warning("none") is None and amp_warning("fp16") is None
    message = amp_warning("bf16")
    assert (message is None) == native
    if not native:
        assert "emulated" in message and "amp=none" in message


def test_paper_style_tiny_encoder_lr_with_cache(faces, tmp_path):
    """encoder_cache with encoder_lr <= 1e-8 (the paper's) treats the encoder as frozen."""
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path / "p", epochs=1, optim__encoder_lr=1e-8,
                                            optim__encoder_cache=True))
    w = weights(train(cfg))
    torch.manual_seed(3)
    init = build_model(cfg.model).state_dict()
    assert all(torch.equal(w[k], init[k]) for k in init if k.startswith("encoder."))
    assert (tmp_path / "p" / "cache" / "val.safetensors").is_file()


def test_init_from_at_a_larger_input_resizes_the_position_embedding(faces, tmp_path):
    """Progressive resizing: model.init_from a 32x32 model with model.image_size 64x64 keeps
    every weight but the position embedding, which is resized to the 4x4 patch grid."""
    src = build_model(TrainConfig.from_dict(tiny_config(faces, tmp_path)).model).eval()
    folder = src.save_pretrained(tmp_path / "small")
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path, model__init_from=str(folder), model__image_size=[64, 64]))
    big = build_model(cfg.model)
    assert big.config.image_size == (64, 64) and big.config.encoder.grid == (4, 4)
    assert big.encoder.pos_embed.shape == (1, 16, 32)
    a, b = src.state_dict(), big.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        if k != "encoder.pos_embed":
            torch.testing.assert_close(a[k], b[k], msg=k)
    # A smooth embedding stays smooth: the 2x2 corners of the resized grid follow the source's.
    corners = big.encoder.pos_embed.reshape(4, 4, 32)[[0, 0, 3, 3], [0, 3, 0, 3]]
    src_grid = src.encoder.pos_embed.reshape(2, 2, 32)
    assert torch.corrcoef(torch.stack([corners.flatten(), src_grid.flatten()]))[0, 1] > 0.9
    big.eval()
    assert big(torch.zeros(1, 3, 64, 64)).shape == (1, 4)


def test_init_from_takes_the_configs_drop_path_rate_and_dropout(faces, tmp_path):
    """model.init_from with model.drop_path_rate / model.dropout trains with them (the
    checkpoint's own are replaced, every weight is kept); the same values change nothing."""
    src = build_model(TrainConfig.from_dict(tiny_config(faces, tmp_path, model__drop_path_rate=0.3)).model).eval()
    folder = src.save_pretrained(tmp_path / "src")
    messages: list[str] = []
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path, model__init_from=str(folder),
                                            model__drop_path_rate=0.1, model__dropout=0.2))
    model = build_model(cfg.model, log=messages.append)
    assert model.training
    assert model.config.encoder.drop_path_rate == 0.1 and model.config.decoder.dropout == 0.2
    assert [b.drop_path_rate for b in model.encoder.layers] == [0.0, 0.1]  # linear over depth 2
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.2}
    assert any("drop_path_rate 0.3 -> 0.1" in m for m in messages) and any("dropout 0.0 -> 0.2" in m for m in messages)
    a, b = src.state_dict(), model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # The saved config carries the new rates, so a run's model.safetensors says what trained it.
    again = MotivNet.from_pretrained(model.save_pretrained(tmp_path / "again"))
    assert again.config.encoder.drop_path_rate == 0.1 and again.config.decoder.dropout == 0.2
    same = TrainConfig.from_dict(tiny_config(faces, tmp_path, model__init_from=str(folder), model__drop_path_rate=0.3))
    messages.clear()
    build_model(same.model, log=messages.append)
    assert messages == []


def test_source_balance_weights_make_class_and_source_independent():
    from motivnet.train.setup import balance_weights, sample_sources

    ids = ["happy/ffhq_1.jpg", "happy/ffhq_2.jpg", "happy/ffhq_3.jpg", "happy/img4.jpg",
           "sad/ffhq_5.jpg", "sad/img6.jpg", "sad/img7.jpg", "sad/img8.jpg"]
    sources = sample_sources(ids, r"^[^/]+/(ffhq)_")
    assert sources == ["ffhq"] * 3 + ["other", "ffhq"] + ["other"] * 3
    targets = [0, 0, 0, 0, 1, 1, 1, 1]  # happy is mostly ffhq: the source predicts the class
    w, group = balance_weights(targets, sources)
    assert group[(0, "ffhq")] == pytest.approx(0.5 * 0.5 / (3 / 8)) and w.sum() == pytest.approx(len(ids))
    joint = {k: sum(wi for wi, t, s in zip(w.tolist(), targets, sources) if (t, s) == k) / w.sum() for k in group}
    assert all(v == pytest.approx(0.25) for v in joint.values())  # P(c, s) = P(c) P(s) once weighted


def test_weighted_epoch_order_is_seeded_and_follows_weights():
    from motivnet.train.sampler import epoch_order, rank_batches

    w = torch.tensor([0.0, 1.0, 3.0, 0.0])
    a = epoch_order(4000, 1, 0, weights=w.repeat(1000))
    assert a == epoch_order(4000, 1, 0, weights=w.repeat(1000)) and a != epoch_order(4000, 1, 1, weights=w.repeat(1000))
    kinds = np.bincount(np.array(a) % 4, minlength=4)
    assert kinds[0] == kinds[3] == 0 and 2.6 < kinds[2] / kinds[1] < 3.4
    # two ranks still split one global batch between them
    one = rank_batches(8, 4, 0, 1, 5, 2, weights=w.repeat(2))
    two = [rank_batches(8, 2, r, 2, 5, 2, weights=w.repeat(2)) for r in (0, 1)]
    assert one[0] == two[0][0] + two[1][0]


def test_train_with_source_balance_resumes_exactly(faces, tmp_path, capsys):
    mixed = tmp_path / "mixed"
    for c in CLASSES:
        (mixed / c).mkdir(parents=True)
        for i, f in enumerate(sorted((faces / c).iterdir())):
            # one class mostly from the "ffhq" source, the others mostly not
            name = f"ffhq_{f.name}" if (c == "happy") == (i < 8) else f.name
            (mixed / c / name).write_bytes(f.read_bytes())
    base = dict(epochs=2, save_every_steps=1, data__source_pattern=r"^[^/]+/(ffhq)_", data__balance="source",
                data__samples_per_class=None, best_metric="val_acc_balanced")
    full = train(TrainConfig.from_dict(tiny_config(mixed, tmp_path / "full", **base)))
    assert "balance source: draw weights per class/source: anger/ffhq" in capsys.readouterr().err
    rows = list(csv.DictReader(open(tmp_path / "full" / "metrics.csv")))
    assert all(0.0 <= float(r["val_acc_balanced"]) <= 1.0 for r in rows)
    best = max(float(r["val_acc_balanced"]) for r in rows)
    assert load_state(tmp_path / "full")["best"] == pytest.approx(best, abs=1e-6)  # chosen by it
    cfg = TrainConfig.from_dict(tiny_config(mixed, tmp_path / "cut", **base))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_step=_kill_at(6))
    resumed = train(cfg, resume=True)
    assert_same_weights(full.parent / "last", resumed.parent / "last")
    with pytest.raises(ValueError, match="source_pattern"):
        train(TrainConfig.from_dict(tiny_config(mixed, tmp_path / "bad", data__balance="source")))


def test_weight_ema_update_ramp_and_swap():
    from motivnet.train.ema import WeightEMA

    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.fill_(0.0)
    ema = WeightEMA(lin, decay=0.99)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    ema.update(lin)  # update 1: d = min(0.99, 2/11)
    assert ema.shadow["weight"][0, 0].item() == pytest.approx(1 - 2 / 11)
    with ema.applied(lin):
        assert lin.weight[0, 0].item() == pytest.approx(1 - 2 / 11)
    assert lin.weight[0, 0].item() == 1.0  # the live weights are back
    with pytest.raises(ValueError, match="between 0 and 1"):
        WeightEMA(lin, decay=1.0)


def test_ema_run_validates_and_exports_the_average_and_resumes_exactly(faces, tmp_path):
    base = dict(epochs=2, save_every_steps=1, ema_decay=0.9)
    full = train(TrainConfig.from_dict(tiny_config(faces, tmp_path / "full", **base)))
    state = load_state(tmp_path / "full")
    last = weights(full.parent / "last")
    for k, v in state["ema"]["shadow"].items():  # last/ is the average, not the live weights
        torch.testing.assert_close(last[k], v)
    assert any(not torch.equal(last[k], state["model"][k]) for k in last)
    assert state["ema"]["updates"] == state["step"] == 8
    rows = list(csv.DictReader(open(tmp_path / "full" / "metrics.csv")))
    assert all(0.0 <= float(r["live_val_acc"]) <= 1.0 for r in rows)
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path / "cut", **base))
    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_step=_kill_at(6))  # mid-epoch 2
    resumed = train(cfg, resume=True)
    assert_same_weights(full.parent / "last", resumed.parent / "last")
    with pytest.raises(ValueError, match="fsdp"):
        TrainConfig.from_dict(tiny_config(faces, tmp_path / "bad", ema_decay=0.9, distributed="fsdp")).validate()


def test_train_set_ignores_the_eval_crop_pct(faces, tmp_path):
    from motivnet.train.setup import build_data

    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path / "crop"))
    model = build_model(cfg.model)
    model.config.crop_pct = 0.5  # e.g. a model folder whose config.json sets an inference crop
    data = build_data(cfg, model, tmp_path / "crop", resume_split=False)
    assert data.train.preprocessor.crop_pct == 1.0  # random crops replace it in training
    assert data.val.preprocessor.crop_pct == 0.5  # validation scores what predict will see


def _teacher_csv(path: Path, files: list[str], probs: dict[str, float], failed: tuple[str, ...] = ()) -> Path:
    """A predictions file in evaluate's format: the same probabilities for every file."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "target", *(f"prob_{c}" for c in probs), "system", "dataset"])
        for rel in files:
            cells = ["" if rel in failed else f"{p:.6f}" for p in probs.values()]
            w.writerow([rel, rel.split("/")[0], *cells, "teacher", "faces"])
    return path


def test_distill_trains_toward_the_teachers_probabilities(faces, tmp_path):
    from motivnet.recognizer import EmotionRecognizer

    # The teacher says "happy" for every image. Its file names are .jpg where the images are .png
    # (framing.py's copies differ the other way round), its columns are in another order and it
    # has a class the model lacks: rows pair by name without suffix, columns by class name.
    files = [f"{c}/{i}.jpg" for c in CLASSES for i in range(10)]
    teacher = _teacher_csv(tmp_path / "t.csv", files, {"fear": 0.5, "sad": 0.0, "happy": 0.5, "anger": 0.0, "neutral": 0.0})
    cfg = TrainConfig.from_dict(tiny_config(faces, tmp_path / "d", epochs=3, distill={"predictions": str(teacher), "weight": 1.0}))
    best = train(cfg)
    rec = EmotionRecognizer(MotivNet.from_pretrained(best), detector=None)
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(faces.glob("*/*.png"))]
    top = rec.classify(images).argmax(1)
    assert (top == rec.labels.index("happy")).float().mean() > 0.9  # labels alone would give 1 in 4


def test_distill_names_what_the_teacher_file_lacks(faces, tmp_path):
    from motivnet.train.distill import soft_targets, teacher_probs

    ids = ["angry/0.png", "happy/1.png"]
    probs = {"anger": 0.2, "happy": 0.6, "sad": 0.2}
    t = teacher_probs(_teacher_csv(tmp_path / "ok.csv", ["angry/0.jpg", "happy/1.jpg"], probs), ids, ("happy", "anger"))
    torch.testing.assert_close(t, torch.tensor([[0.75, 0.25], [0.75, 0.25]]))  # renormalised over the model's classes
    torch.testing.assert_close(soft_targets(torch.tensor([1, 0]), t, 0.5), torch.tensor([[0.375, 0.625], [0.875, 0.125]]))
    with pytest.raises(ValueError, match=r"no teacher answer for 1 training image\(s\): happy/1.png"):
        teacher_probs(_teacher_csv(tmp_path / "part.csv", ["angry/0.jpg"], probs), ids, ("happy", "anger"))
    with pytest.raises(ValueError, match=r"no teacher answer .*happy/1.png"):
        teacher_probs(_teacher_csv(tmp_path / "f.csv", ["angry/0.jpg", "happy/1.jpg"], probs, failed=("happy/1.jpg",)), ids, ("happy",))
    with pytest.raises(ValueError, match="no probability column for class.*neutral"):
        teacher_probs(tmp_path / "ok.csv", ids, ("happy", "neutral"))
    with pytest.raises(ValueError, match=r"distill.weight must be in \(0, 1\]"):
        TrainConfig.from_dict(tiny_config(faces, tmp_path, distill={"predictions": "x.csv", "weight": 0.0})).validate()


def test_mixup_cutmix_run_trains_resumes_exactly_and_refuses_a_feature_cache(faces, tmp_path):
    mix = {"mixup_alpha": 0.4, "cutmix_alpha": 1.0}
    base = dict(epochs=2, save_every_steps=1, mix=mix)
    full = train(TrainConfig.from_dict(tiny_config(faces, tmp_path / "full", **base)))
    rows = list(csv.DictReader(open(tmp_path / "full" / "metrics.csv")))
    assert all(np.isfinite(float(r["train_loss"])) for r in rows)
    train(TrainConfig.from_dict(tiny_config(faces, tmp_path / "plain", epochs=2)))
    plain = list(csv.DictReader(open(tmp_path / "plain" / "metrics.csv")))
    assert [r["train_loss"] for r in plain] != [r["train_loss"] for r in rows]  # mixing changed the targets
    cut = TrainConfig.from_dict(tiny_config(faces, tmp_path / "cut", **base))
    with pytest.raises(KeyboardInterrupt):
        train(cut, on_step=_kill_at(6))
    assert_same_weights(full, train(cut, resume=True))
    cfg = load_config(bundled_config_path("cpu-small"), ["mix.mixup_alpha=0.2", "mix.prob=0.5"])
    assert (cfg.mix.mixup_alpha, cfg.mix.prob, cfg.mix.cutmix_alpha) == (0.2, 0.5, 0.0)
    with pytest.raises(ValueError, match="mix .*cached frozen encoder"):
        train(TrainConfig.from_dict(tiny_config(faces, tmp_path / "x", optim__freeze_encoder=True, mix=mix)))


CORNER_FACE = Face((2, 2, 14, 14), 0.9)  # the top-left of every 24x24 test image


def _corner_aligned_data(faces, run_dir, **overrides):
    """build_data with data.align on a detector that finds one face, CORNER_FACE, in every image."""
    from motivnet.faces import FaceDetector, register_detector
    from motivnet.faces import registry as registry_mod
    from motivnet.train.setup import build_data

    class CornerDetector(FaceDetector):
        def _detect(self, image):
            return [CORNER_FACE]

    register_detector("corner-test", CornerDetector)
    try:
        cfg = TrainConfig.from_dict(tiny_config(faces, run_dir, data__align="corner-test", **overrides)).validate()
        model = build_model(cfg.model)
        return model, build_data(cfg, model, run_dir, resume_split=False)
    finally:
        registry_mod._REGISTRY.pop("corner-test", None)


def _corner_aligned(pre, source):
    """The preprocessed tensor of ``source``'s CORNER_FACE, aligned."""
    from motivnet.faces import align_face

    return pre.tensor(align_face(np.asarray(Image.open(source).convert("RGB")), CORNER_FACE))


def test_data_align_puts_train_val_and_test_on_the_aligned_largest_face(faces, tmp_path):
    from motivnet.preprocess import Preprocessor

    model, data = _corner_aligned_data(faces, tmp_path / "run", data__test={"path": str(faces)})
    assert any("align:" in n for n in data.notes)
    pre = Preprocessor.from_config(model.config)
    for ds in (data.train, data.val, data.test):  # augment is off: each item is the aligned crop
        rgb = np.asarray(Image.open(ds.records[0].source).convert("RGB"))
        want = _corner_aligned(pre, ds.records[0].source)
        torch.testing.assert_close(ds[0][0], want)
        assert not torch.allclose(ds[0][0], pre.tensor(rgb))
    with pytest.raises(ValueError, match="data.align is not supported with the encoder feature cache"):
        TrainConfig.from_dict(tiny_config(faces, tmp_path / "r2", data__align=True, optim__freeze_encoder=True)).validate()


def test_data_align_p_aligns_a_share_of_training_draws_and_every_val_image(faces, tmp_path):
    from motivnet.preprocess import Preprocessor

    model, data = _corner_aligned_data(faces, tmp_path / "run", data__align_p=0.5)
    assert any("align: 0.5 of the training images" in n for n in data.notes)
    pre = Preprocessor.from_config(model.config)
    source = data.train.records[0].source
    aligned, whole = _corner_aligned(pre, source), pre.tensor(np.asarray(Image.open(source).convert("RGB")))
    views = []
    for epoch in range(40):  # the draw is per (seed, epoch, index): both views occur, nothing else
        data.train.set_epoch(epoch)
        x = data.train[0][0]
        views.append("aligned" if torch.allclose(x, aligned) else "whole" if torch.allclose(x, whole) else "other")
    assert "other" not in views and 5 < views.count("aligned") < 35
    torch.testing.assert_close(data.val[0][0], _corner_aligned(pre, data.val.records[0].source))
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="data.align_p must be in"):
            TrainConfig.from_dict(tiny_config(faces, tmp_path / "r3", data__align=True, data__align_p=bad)).validate()
