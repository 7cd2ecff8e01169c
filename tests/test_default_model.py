"""The bundled models: present, small, traceable to their recipes, and usable with no arguments."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import motivnet
from motivnet.bundled import BUNDLED_DIR, bundled_models
from motivnet.ensemble import ensemble_members, is_ensemble
from motivnet.recognizer import DEFAULT_WEIGHTS_DIR

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(not (DEFAULT_WEIGHTS_DIR / "config.json").is_file(), reason="no default model bundled")


def test_bundled_models_are_small_and_record_their_recipes():
    # The package's whole weights folder fits the 50 MB budget of issue #5.
    assert sum(f.stat().st_size for f in BUNDLED_DIR.rglob("*") if f.is_file()) <= 50 * 2**20
    models = bundled_models()
    assert "default" in models
    for name, folder in models.items():
        if is_ensemble(folder):  # an ensemble lists bundled models only, so it ships whole
            assert all(m.resolve().parent == BUNDLED_DIR.resolve() for m in ensemble_members(folder)), name
            continue
        record = json.loads((folder / "training.json").read_text())
        assert record["command"].startswith("motivnet train"), name
        split = REPO / record["split_manifest"]
        assert hashlib.sha256(split.read_bytes()).hexdigest() == record["split_sha256"], name
        for stage in record["stages"]:  # every stage's command and resolved config is in the repo
            assert stage["command"].startswith("motivnet train"), name
            assert (REPO / stage["config_file"]).is_file(), name


def test_predict_with_no_arguments_uses_the_default_model():
    pytest.importorskip("onnxruntime")
    records = motivnet.load().predict(str(REPO / "samples" / "astronaut.jpg"))
    assert len(records) == 1 and records[0].ok
    assert records[0].label in motivnet.AFFECTNET8.classes
    assert sum(records[0].probs.values()) == pytest.approx(1.0, abs=1e-4)
