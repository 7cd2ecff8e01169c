"""The bundled default model: present, small, traceable to its recipe, and usable with no arguments."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import motivnet
from motivnet.recognizer import DEFAULT_WEIGHTS_DIR

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (DEFAULT_WEIGHTS_DIR / "config.json").is_file(), reason="no default model bundled")


def test_default_model_is_small_and_records_its_recipe():
    assert (DEFAULT_WEIGHTS_DIR / "model.safetensors").stat().st_size <= 50 * 2**20
    record = json.loads((DEFAULT_WEIGHTS_DIR / "training.json").read_text())
    assert record["command"].startswith("motivnet train")
    split = REPO / record["split_manifest"]
    assert hashlib.sha256(split.read_bytes()).hexdigest() == record["split_sha256"]
    for stage in record["stages"]:  # every stage's command and resolved config is in the repo
        assert stage["command"].startswith("motivnet train")
        assert (REPO / stage["config_file"]).is_file()


def test_predict_with_no_arguments_uses_the_default_model():
    pytest.importorskip("onnxruntime")
    records = motivnet.load().predict(str(REPO / "samples" / "astronaut.jpg"))
    assert len(records) == 1 and records[0].ok
    assert records[0].label in motivnet.AFFECTNET8.classes
    assert sum(records[0].probs.values()) == pytest.approx(1.0, abs=1e-4)
