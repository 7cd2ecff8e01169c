"""`motivnet benchmark` runs on tiny models and reports its fields (no timing assertions)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from motivnet.cli import main

QUICK = ["--iters", "2", "--warmup", "0", "--peak-size", "128", "--batch-size", "4"]


@pytest.fixture()
def image(tmp_path) -> Path:
    path = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(path)
    return path


def test_json_fields_model_and_end_to_end(capsys, weights, image):
    code = main(["benchmark", "--weights", str(weights), "--images", str(image), "--no-detect", "--json", *QUICK])
    out = capsys.readouterr().out
    assert code == 0
    r = json.loads(out)
    assert r["random_weights"] is False and r["backend"] == "torch" and r["options"] == "fp32"
    assert r["flops_per_image"] == r["flops_counted"] > 0
    assert r["peak_measured_flops"] > 0 and "matmul" in r["peak_how"]
    assert set(r["model_alone"]) == {"batch_1", "batch_4"}
    for run in r["model_alone"].values():
        assert run["images_per_s"] > 0 and run["ms_per_image"] > 0 and 0 < run["fraction_of_measured_peak"]
        assert run["timing"]["iters"] == 2
    e2e = r["end_to_end"]
    assert e2e["faces"] == 1 and e2e["images_per_s"] > 0
    assert set(e2e["stage_ms_per_image"]) == {"decode", "detect", "align", "preprocess", "classify"}
    assert r["attention_kernels"]  # which SDPA kernel ran


def test_text_output_random_weights_say_so(capsys):
    code = main(["benchmark", "--encoder", "sapiens-tiny", "--image-size", "32", "32", "--decoder-dim", "32",
                 "--skip-e2e", "--int8", *QUICK])
    out = capsys.readouterr().out
    assert code == 0
    assert "RANDOM weights" in out and "benchmarking only" in out
    for field in ("FLOPs per image", "peak: measured", "batch   1", "batch   4", "images/s", "ms/image", "% of measured peak", "int8"):
        assert field in out, field


def test_onnx_backend(capsys, weights, image):
    code = main(["benchmark", "--weights", str(weights), "--backend", "onnx", "--images", str(image), "--no-detect", "--json", *QUICK])
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["backend"] == "onnx" and r["model_alone"]["batch_1"]["images_per_s"] > 0


def test_bf16_is_measured_against_the_bf16_peak(capsys, weights, image):
    code = main(["benchmark", "--weights", str(weights), "--bf16", "--images", str(image), "--no-detect", "--json", *QUICK])
    r = json.loads(capsys.readouterr().out)
    assert code == 0 and r["options"] == "bf16"
    assert "bfloat16" in r["peak_how"]
    assert r["attention_kernels"]  # the profiled pass fed the bf16 copy bf16 input
    assert r["end_to_end"]["faces"] == 1
