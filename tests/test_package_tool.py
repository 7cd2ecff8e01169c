"""tools/package_default_model.py: packaging a run as a bundled model keeps the chain of stages it
continues and refers to the default's split manifest instead of copying it."""
from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
import yaml

from motivnet.models import MotivNet

TOOL = Path(__file__).resolve().parents[1] / "tools" / "package_default_model.py"


@pytest.fixture()
def tool(tmp_path, monkeypatch):
    """The tool's module with its repo folders pointed at a scratch repo under tmp_path."""
    spec = importlib.util.spec_from_file_location("package_default_model", TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    repo = tmp_path / "repo"
    monkeypatch.setattr(mod, "REPO", repo)
    monkeypatch.setattr(mod, "WEIGHTS", repo / "src" / "motivnet" / "weights")
    monkeypatch.setattr(mod, "RECORDS", repo / "experiments" / "default-model")
    return mod


def fake_run(folder: Path, weights: Path, split: bytes) -> Path:
    """A finished training run: best/, config.yaml, metrics.csv (best epoch 2) and split.json."""
    MotivNet.from_pretrained(weights).save_pretrained(folder / "best")
    (folder / "config.yaml").write_text(yaml.safe_dump({"seed": 1, "best_metric": "val_acc"}))
    (folder / "metrics.csv").write_text("epoch,val_acc\n1,0.40\n2,0.55\n3,0.50\n")
    (folder / "split.json").write_bytes(split)
    return folder


def run_tool(tool, monkeypatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["package_default_model.py", *args])
    tool.main()


def test_after_name_keeps_that_models_stages_and_reuses_the_default_split(tool, weights, tmp_path, monkeypatch):
    split = b'{"train": ["a.jpg"], "val": ["b.jpg"]}'
    run_tool(tool, monkeypatch, str(fake_run(tmp_path / "r1", weights, split)), "--command", "train 1")
    run_tool(tool, monkeypatch, str(fake_run(tmp_path / "r2", weights, split)), "--after-bundled",
             "--name", "second", "--command", "train 2")
    run_tool(tool, monkeypatch, str(fake_run(tmp_path / "r3", weights, split)), "--after", "second",
             "--name", "third", "--command", "train 3")

    record = json.loads((tool.WEIGHTS / "third" / "training.json").read_text())
    assert [s["command"] for s in record["stages"]] == ["train 1", "train 2", "train 3"]
    assert [s["config_file"] for s in record["stages"]] == [
        "experiments/default-model/stage1/config.yaml",
        "experiments/second-model/stage2/config.yaml",
        "experiments/third-model/stage3/config.yaml",
    ]
    assert record["best_epoch"]["epoch"] == "2"
    # The same split as the default's: referred to, not copied.
    assert record["split_manifest"] == "experiments/default-model/split.json"
    assert record["split_sha256"] == hashlib.sha256(split).hexdigest()
    assert not (tool.REPO / "experiments" / "third-model" / "split.json").exists()
    # float16 storage, loaded back as the same model.
    a = MotivNet.from_pretrained(weights).state_dict()
    b = MotivNet.from_pretrained(tool.WEIGHTS / "third").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-2) for k in a)


def test_a_different_split_is_copied(tool, weights, tmp_path, monkeypatch):
    run_tool(tool, monkeypatch, str(fake_run(tmp_path / "r1", weights, b'{"val": ["x"]}')), "--command", "train 1")
    run_tool(tool, monkeypatch, str(fake_run(tmp_path / "r2", weights, b'{"val": ["y"]}')), "--after-bundled",
             "--name", "other", "--command", "train 2")
    record = json.loads((tool.WEIGHTS / "other" / "training.json").read_text())
    assert record["split_manifest"] == "experiments/other-model/split.json"
    assert (tool.REPO / record["split_manifest"]).read_bytes() == b'{"val": ["y"]}'
