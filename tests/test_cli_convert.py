"""`motivnet convert` end to end, and predict's refusal of encoder-only checkpoints."""
from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from motivnet.cli import main
from motivnet.models import MotivNet, MotivNetConfig, SapiensConfig

ENC = SapiensConfig(embed_dim=64, depth=1, num_heads=1, image_size=(64, 48))


def pose_checkpoint(path) -> dict[str, torch.Tensor]:
    """A Sapiens-pose-style mmengine file at tiny size: backbone.* + head.* + meta."""
    torch.manual_seed(0)
    model = MotivNet(MotivNetConfig.build(ENC, decoder_dim=32))
    backbone = {f"backbone.{k}": v for k, v in model.encoder.state_dict().items()}
    torch.save({"state_dict": {**backbone, "head.final_layer.weight": torch.zeros(3, 64, 1, 1)}, "meta": {"epoch": 3}}, path)
    return model.encoder.state_dict()


def test_convert_pose_checkpoint_then_refuse_to_overwrite(tmp_path, capsys):
    encoder = pose_checkpoint(tmp_path / "pose.pth")
    out = tmp_path / "converted"
    code = main(["convert", str(tmp_path / "pose.pth"), str(out), "--labels", "affectnet7", "--image-size", "64", "48"])
    err = capsys.readouterr().err
    assert code == 0 and "sapiens-pose" in err and "freshly initialised" in err
    cfg = json.loads((out / "config.json").read_text())
    assert len(cfg["labels"]) == 7 and cfg["encoder"]["embed_dim"] == 64
    loaded = MotivNet.from_pretrained(out)
    for k, v in encoder.items():
        torch.testing.assert_close(loaded.encoder.state_dict()[k], v)
    before = (out / "model.safetensors").read_bytes()
    assert main(["convert", str(tmp_path / "pose.pth"), str(out)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == before


def test_predict_refuses_an_encoder_only_checkpoint(tmp_path, capsys):
    pose_checkpoint(tmp_path / "pose.pth")
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(tmp_path / "face.png")
    code = main(["predict", str(tmp_path / "face.png"), "--no-detect", "--weights", str(tmp_path / "pose.pth")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("motivnet predict: error:")]
    assert code == 2 and len(errors) == 1 and "no emotion head" in errors[0]


def test_predict_accepts_a_checkpoint_with_a_head_directly(tmp_path, capsys):
    torch.manual_seed(0)
    model = MotivNet(MotivNetConfig.build(ENC, decoder_dim=32)).eval()
    folder = model.save_pretrained(tmp_path / "m")
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(tmp_path / "face.png")
    argv = ["predict", str(tmp_path / "face.png"), "--no-detect", "--json", "--weights"]
    assert main(argv + [str(folder)]) == 0
    from_folder = json.loads(capsys.readouterr().out)
    assert main(argv + [str(folder / "model.safetensors")]) == 0  # bare weights file, converted on the fly
    from_file = json.loads(capsys.readouterr().out)
    assert from_file[0]["probs"] == from_folder[0]["probs"]
