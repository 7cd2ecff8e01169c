"""MAE pretraining (motivnet.train.mae / pretrain, ``motivnet pretrain``) on a tiny encoder and
generated images, and fine-tuning from it with ``model.init_encoder``."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from motivnet.cli import main
from motivnet.models import MotivNet, SapiensConfig, SapiensViT, resize_pos_embed
from motivnet.train import TrainConfig, train
from motivnet.train.mae import MAE, MAEDecoderConfig, mae_loss, patchify, random_masking
from motivnet.train.pretrain import PretrainConfig, pretrain
from motivnet.train.setup import build_model
from motivnet.train.state import load_state

# Patch 8 on 32x32: a 4x4 grid, so masking 75% keeps 4 of 16 tokens.
TINY = {"embed_dim": 32, "depth": 2, "num_heads": 2, "patch_size": 8, "image_size": [32, 32]}
DECODER = {"decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 2}


def tiny_mae(seed: int = 0, **decoder) -> MAE:
    torch.manual_seed(seed)
    return MAE(SapiensViT(SapiensConfig(**TINY)), MAEDecoderConfig(**{"embed_dim": 32, "depth": 1, "num_heads": 2, **decoder}))


def waves(n: int, seed: int) -> torch.Tensor:
    """(n, 3, 32, 32) smooth sinusoids: masked patches are predictable from visible ones."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    f = torch.rand(n, 3, 2, generator=g) * 0.3 + 0.1
    phase = torch.rand(n, 3, 1, 1, generator=g) * 6
    return torch.sin(f[..., 0, None, None] * yy + f[..., 1, None, None] * xx + phase)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """14 random images of assorted sizes in class folders (one nested), plus, outside them, a
    file that is no image and a PNG cut short (its header reads, its pixels do not)."""
    root = tmp_path_factory.mktemp("unlabelled")
    rng = np.random.default_rng(0)
    for i in range(14):
        folder = root / ("happy" if i % 2 else "sad/more")
        folder.mkdir(parents=True, exist_ok=True)
        h, w = 30 + 2 * i, 44 - i
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (root / "broken.jpg").write_bytes(b"this is not a JPEG")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(root / "cut.png")
    data = (root / "cut.png").read_bytes()
    (root / "cut.png").write_bytes(data[: len(data) // 2])
    return root


def tiny_pretrain(faces: Path, run_dir: Path, **kw) -> PretrainConfig:
    return PretrainConfig(**{
        "sources": [str(faces)], "run_dir": str(run_dir), "encoder_config": dict(TINY), **DECODER,
        "epochs": 2, "batch_size": 4, "lr": 1e-3, "warmup_epochs": 1, "seed": 5, "threads": 1, "progress": False, **kw,
    })


@pytest.fixture(scope="module")
def pretrained(faces, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("pt") / "run"
    pretrain(tiny_pretrain(faces, run), log=lambda m: None)
    return run


# -- the model -------------------------------------------------------------------------------------

def test_targets_are_exactly_the_patch_embedding_windows():
    """Sapiens' patch embedding pads by 2: each target must be the pixels its token's conv sees."""
    mae = tiny_mae()
    x = torch.randn(2, 3, 32, 32)
    targets = patchify(x, 8, 2)
    assert targets.shape == (2, 16, 3 * 8 * 8)
    conv = mae.encoder.patch_embed.projection
    tokens, grid = mae.encoder.patch_embed(x)
    assert grid == (4, 4)
    as_linear = targets @ conv.weight.reshape(conv.out_channels, -1).T + conv.bias
    torch.testing.assert_close(as_linear, tokens, atol=1e-5, rtol=1e-5)
    # token (1, 2) sees rows 6..13 and columns 14..21 of the image (8*i - 2 ...)
    torch.testing.assert_close(targets[0, 1 * 4 + 2].reshape(3, 8, 8), x[0, :, 6:14, 14:22])


def test_masking_keeps_the_right_tokens_per_sample():
    torch.manual_seed(0)
    tokens = torch.randn(8, 16, 5)
    visible, mask, ids_restore = random_masking(tokens, 0.75)
    assert visible.shape == (8, 4, 5)
    assert mask.sum(dim=1).tolist() == [12.0] * 8
    for b in range(8):  # the visible tokens are exactly the unmasked ones, in shuffled order
        kept = tokens[b][mask[b] == 0]
        assert sorted(map(tuple, kept.tolist())) == sorted(map(tuple, visible[b].tolist()))
    assert len({tuple(m.tolist()) for m in mask}) > 1  # each sample has its own mask
    # ids_restore puts (visible, then masked) back into grid order
    rest = torch.stack([tokens[b][mask[b] == 1] for b in range(8)])
    shuffled = torch.cat([visible, torch.zeros_like(rest)], dim=1)
    restored = torch.gather(shuffled, 1, ids_restore[..., None].expand(-1, -1, 5))
    torch.testing.assert_close(restored[mask == 0], tokens[mask == 0])
    # through the model: fixed noise fixes the mask
    mae = tiny_mae()
    noise = torch.rand(3, 16)
    out1, out2 = mae(torch.randn(3, 3, 32, 32), noise=noise), mae(torch.randn(3, 3, 32, 32), noise=noise)
    assert torch.equal(out1.mask, out2.mask) and out1.mask.sum(dim=1).tolist() == [12.0] * 3


def test_loss_covers_masked_patches_only():
    # The function: a perfect prediction of the masked patches is a zero loss, whatever the rest.
    target = torch.randn(2, 16, 12)
    mask = (torch.arange(16) % 3 == 0).float().expand(2, 16)
    pred = torch.where(mask[..., None] == 1, target, torch.randn(2, 16, 12) * 100)
    assert mae_loss(pred, target, mask, norm_pix=False)[0].item() == 0.0
    pred[0, 0] += 1.0  # patch 0 is masked
    assert mae_loss(pred, target, mask, norm_pix=False)[0].item() > 0.0
    # The model: the loss has no gradient through the predictions of visible patches, and no
    # visible token sees a pixel of a masked patch's target.
    mae = tiny_mae()
    x, noise = torch.randn(2, 3, 32, 32), torch.rand(2, 16)
    tokens, grid = mae.encoder.embed_tokens(x)
    visible, mask, ids_restore = random_masking(tokens, 0.75, noise)
    pred = mae.decode(mae.encoder.encode_tokens(visible), ids_restore, grid).detach().requires_grad_()
    loss, _ = mae_loss(pred, mae.targets(x), mask)
    loss.backward()
    per_patch = pred.grad.abs().sum(dim=-1)
    assert (per_patch[mask == 0] == 0).all() and (per_patch[mask == 1] > 0).all()
    y = x.clone()
    vis = int((mask[0] == 0).nonzero()[0])
    r, c = divmod(vis, 4)
    window = y[0, :, max(0, 8 * r - 2) : 8 * r + 6, max(0, 8 * c - 2) : 8 * c + 6]  # what token (r, c) sees
    window += torch.randn_like(window)
    changed = (mae(y, noise=noise).target != mae(x, noise=noise).target).any(dim=-1)
    assert changed[0].nonzero().flatten().tolist() == [vis] and not changed[1].any()


def test_a_few_steps_on_a_fixed_batch_lower_the_loss():
    mae = tiny_mae(seed=0)
    x, noise = waves(4, seed=0), torch.rand(4, 16, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.AdamW(mae.parameters(), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(60):
        loss = mae(x, noise=noise).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # With per-patch normalised targets, predicting each patch's mean scores 1.0.
    assert losses[-1] < 0.8 < losses[0] and losses[-1] < 0.6 * losses[0]  # 1.28 -> 0.63 when written


def test_sapiens_forward_unchanged_by_the_token_hooks():
    torch.manual_seed(0)
    enc = SapiensViT(SapiensConfig(**TINY)).eval()
    x = torch.randn(2, 3, 32, 32)
    tokens, grid = enc.embed_tokens(x)
    by_hand = enc.encode_tokens(tokens).transpose(1, 2).reshape(2, 32, *grid)
    torch.testing.assert_close(enc(x), by_hand)
    # MAE on another grid than the config's: both position embeddings resize
    learned = tiny_mae(pos_embed="learned")
    out = learned(torch.randn(2, 3, 48, 32))  # another grid: both position embeddings resize
    assert out.pred.shape == (2, 24, 192) and out.mask.sum(dim=1).tolist() == [18.0, 18.0]


# -- the CLI and the run folder --------------------------------------------------------------------

def test_cli_end_to_end_skips_bad_files_and_refuses_to_overwrite(faces, tmp_path, capsys):
    run = tmp_path / "cli"
    args = ["pretrain", str(faces), "--run-dir", str(run), "--encoder", "sapiens-tiny", "--image-size", "32", "32",
            "--patch-size", "8", "--epochs", "2", "--batch-size", "4", "--decoder-dim", "32", "--decoder-depth", "1",
            "--decoder-heads", "2", "--warmup-epochs", "1", "--threads", "1", "--no-progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning: skipping" in line]
    assert any("broken.jpg" in line and "not an image" in line for line in warnings), err
    assert any("cut.png" in line and "truncated or corrupt" in line for line in warnings), err
    assert len(warnings) == 2  # the cut file is reported once, not once per epoch
    assert "15 images" in err  # 14 good + the cut one (its header reads; it fails when decoded)

    cfg = json.loads((run / "encoder" / "config.json").read_text())
    assert cfg["model_type"] == "sapiens_encoder" and cfg["encoder_name"] == "sapiens-tiny"
    enc_cfg = SapiensConfig.from_dict(cfg["encoder"])
    assert (enc_cfg.embed_dim, enc_cfg.patch_size, enc_cfg.image_size) == (192, 8, (32, 32))
    assert "masked autoencoder" in cfg["made_by"] and cfg["pretrain"]["epoch"] == 2
    weights = load_file(str(run / "encoder" / "model.safetensors"))
    assert weights.keys() == SapiensViT(enc_cfg).state_dict().keys()
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and list(rows[0]) == ["epoch", "step", "loss", "lr", "images_per_s", "seconds"]
    assert rows[-1]["step"] == "6" and all(np.isfinite(float(r["loss"])) and float(r["lr"]) > 0 for r in rows)

    before = (run / "encoder" / "model.safetensors").stat().st_mtime_ns
    assert main(args) == 2  # a second run into the same folder is refused
    assert "--resume" in capsys.readouterr().err
    assert (run / "encoder" / "model.safetensors").stat().st_mtime_ns == before

    # --resume alone takes the run's own settings; --epochs may extend it
    assert main(["pretrain", "--run-dir", str(run), "--resume", "--epochs", "3", "--no-progress"]) == 0
    assert [r["epoch"] for r in csv.DictReader(open(run / "metrics.csv"))] == ["1", "2", "3"]
    assert main(["pretrain", "--run-dir", str(run), "--resume", "--mask-ratio", "0.5"]) == 2
    assert "mask_ratio" in capsys.readouterr().err


def test_resume_mid_epoch_matches_uninterrupted(faces, tmp_path):
    full = pretrain(tiny_pretrain(faces, tmp_path / "full", save_every_steps=1), log=lambda m: None)
    cfg = tiny_pretrain(faces, tmp_path / "cut", save_every_steps=1)

    def kill(step: int) -> None:
        if step == 5:  # 15 files / batch 4 = 3 steps per epoch: step 5 is mid-epoch 2
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        pretrain(cfg, on_step=kill, log=lambda m: None)
    state = load_state(tmp_path / "cut")
    assert (state["epoch"], state["batch"], state["step"]) == (1, 2, 5)
    resumed = pretrain(cfg, resume=True, log=lambda m: None)
    a, b = load_file(str(full / "model.safetensors")), load_file(str(resumed / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ra = list(csv.DictReader(open(tmp_path / "full" / "metrics.csv")))
    rb = list(csv.DictReader(open(tmp_path / "cut" / "metrics.csv")))
    assert [r["loss"] for r in ra] == [r["loss"] for r in rb]


def test_bf16_pretraining_runs_in_bf16_and_writes_a_float32_encoder(faces, tmp_path):
    with pytest.raises(ValueError, match="amp"):
        tiny_pretrain(faces, tmp_path / "bad", amp="fp8").validate()
    fp32 = pretrain(tiny_pretrain(faces, tmp_path / "fp32"), log=lambda m: None)
    bf16 = pretrain(tiny_pretrain(faces, tmp_path / "bf16", amp="bf16"), log=lambda m: None)
    a, b = load_file(str(fp32 / "model.safetensors")), load_file(str(bf16 / "model.safetensors"))
    assert a.keys() == b.keys() and all(v.dtype == torch.float32 for v in b.values())
    # Same seed, data and masks: only the forward pass's precision differs, and it shows.
    assert any(not torch.equal(a[k], b[k]) for k in a)
    rows = list(csv.DictReader(open(tmp_path / "bf16" / "metrics.csv")))
    assert len(rows) == 2 and all(np.isfinite(float(r["loss"])) for r in rows)
    assert load_state(tmp_path / "bf16")["config"]["amp"] == "bf16"


# -- fine-tuning from it ---------------------------------------------------------------------------

def finetune_config(faces: Path, run_dir: Path, init: Path | str, **model) -> TrainConfig:
    return TrainConfig.from_dict({
        "run_dir": str(run_dir), "epochs": 1, "batch_size": 4, "seed": 3, "progress": False, "threads": 1,
        "model": {"encoder_config": dict(TINY), "decoder_dim": 32, "decoder_heads": 2, "decoder_ffn_dim": 64,
                  "labels": ["happy", "sad"], "init_encoder": str(init), **model},
        "data": {"train": {"path": str(faces), "skip_bad": True}, "samples_per_class": None, "val_fraction": 0.25,
                 "augment": False},
        "optim": {"freeze_encoder": True, "decoder_lr": 1e-3},
    })


def test_train_starts_from_the_pretrained_encoder(pretrained, faces, tmp_path):
    enc = load_file(str(pretrained / "encoder" / "model.safetensors"))
    cfg = finetune_config(faces, tmp_path / "ft", pretrained)
    model = build_model(cfg.model)
    assert all(torch.equal(model.encoder.state_dict()[k], v) for k, v in enc.items())
    torch.manual_seed(0)
    fresh_a = build_model(cfg.model).decoder.state_dict()
    torch.manual_seed(0)
    fresh_b = build_model(finetune_config(faces, tmp_path / "x", "", init_encoder=None).model).decoder.state_dict()
    assert all(torch.equal(fresh_a[k], fresh_b[k]) for k in fresh_a)  # the decoder is a fresh one
    # through `motivnet train` (frozen encoder, so the result still holds the pretrained weights);
    # the class-folder dataset's files are the pretraining images
    best = train(cfg)
    trained = MotivNet.from_pretrained(best).encoder.state_dict()
    assert all(torch.equal(trained[k], v) for k, v in enc.items())


def test_init_encoder_resizes_the_grid_and_rejects_other_architectures(pretrained, faces, tmp_path, weights):
    enc = load_file(str(pretrained / "encoder" / "model.safetensors"))
    notes: list[str] = []
    model = build_model(finetune_config(faces, tmp_path, pretrained / "encoder", image_size=[48, 48]).model, log=notes.append)
    state = model.encoder.state_dict()
    torch.testing.assert_close(state["pos_embed"], resize_pos_embed(enc["pos_embed"], (4, 4), (6, 6)))
    assert all(torch.equal(state[k], v) for k, v in enc.items() if k != "pos_embed")
    assert any("4x4 to a 6x6" in n for n in notes)
    assert model(torch.randn(1, 3, 48, 48)).shape == (1, 2)

    deeper = {**TINY, "depth": 3}
    with pytest.raises(ValueError, match=r"missing keys \(\d+\): layers\.2\..*depth 2"):
        build_model(finetune_config(faces, tmp_path, pretrained, encoder_config=deeper).model)
    with pytest.raises(FileNotFoundError, match="motivnet pretrain"):
        build_model(finetune_config(faces, tmp_path, tmp_path).model)
    with pytest.raises(ValueError, match="exclude each other"):
        finetune_config(faces, tmp_path, pretrained, init_from=str(weights)).validate()

    # a whole MotivNet folder: its encoder.* weights (conftest's tiny model: depth 1, patch 16)
    other = {"embed_dim": 32, "depth": 1, "num_heads": 2, "image_size": [32, 32]}
    model = build_model(finetune_config(faces, tmp_path, weights, encoder_config=other).model)
    source = MotivNet.from_pretrained(weights).encoder.state_dict()
    assert all(torch.equal(model.encoder.state_dict()[k], v) for k, v in source.items())
