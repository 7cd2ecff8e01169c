"""ONNX export and the CPU fast path: parity with torch, int8, bf16, fused attention, FLOPs.

Tolerances (stated in the README): ONNX float32 max |logit diff| <= 1e-4 (PARITY_ATOL); on these
tiny random models bf16 (a bfloat16 copy of the model) <= 0.05 and int8 (torch or onnxruntime) <= 0.25 in logits.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import motivnet
from motivnet.backends import InferenceOptions, OnnxClassifier, TorchClassifier, attention_kernels, load_classifier
from motivnet.cli import main
from motivnet.export import PARITY_ATOL, export_onnx, external_data_files, sidecar
from motivnet.flops import counted_flops, model_flops
from motivnet.models import MotivNet, MotivNetConfig, SapiensConfig

onnx = pytest.importorskip("onnx")

BF16_ATOL, INT8_ATOL = 0.05, 0.25


@pytest.fixture(scope="module")
def model() -> MotivNet:
    torch.manual_seed(0)
    cfg = MotivNetConfig.build(SapiensConfig(embed_dim=32, depth=1, num_heads=2, image_size=(32, 32)), decoder_dim=32)
    return MotivNet(cfg).eval()


@pytest.fixture(scope="module")
def weights(model, tmp_path_factory) -> Path:
    return model.save_pretrained(tmp_path_factory.mktemp("w") / "tiny")


@pytest.fixture(scope="module")
def onnx_file(weights, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    assert main(["export", "--weights", str(weights), "--format", "onnx", "-o", str(out)]) == 0
    return out


def int8_linears(module: nn.Module) -> list[nn.Module]:
    """torch.ao's dynamic int8 Linear modules (their class is also called Linear)."""
    return [m for m in module.modules() if "quantized.dynamic" in type(m).__module__ and type(m).__name__ == "Linear"]


def batch(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def reference(model: MotivNet, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(x)


def test_onnx_export_is_valid_self_describing_and_matches_torch(model, onnx_file):
    proto = onnx.load(str(onnx_file))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version >= 17
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["labels"]) == list(model.labels)
    assert json.loads(meta["image_size"]) == [32, 32] and meta["resize"] == "stretch"
    assert json.loads(meta["mean"]) == list(model.config.mean)
    session = OnnxClassifier(onnx_file)
    assert session.config.to_dict() == model.config.to_dict()
    for n in (1, 3):  # dynamic batch axis
        x = batch(n, seed=n)
        out = session(x)
        assert out.shape == (n, 8)
        assert (out - reference(model, x)).abs().max().item() <= PARITY_ATOL


def test_export_never_overwrites_without_force(weights, onnx_file, capsys):
    before = onnx_file.read_bytes()
    assert main(["export", "--weights", str(weights), "-o", str(onnx_file)]) == 2
    assert "--force" in capsys.readouterr().err
    assert onnx_file.read_bytes() == before


def test_external_data_export_loads_and_matches_torch(model, tmp_path):
    """threshold 0 forces what models over ~1.8 GB get: the weights in NAME.onnx.data beside NAME.onnx."""
    out = export_onnx(model, tmp_path / "m.onnx", external_data_threshold=0)
    data = tmp_path / "m.onnx.data"
    assert sidecar(out) == data and external_data_files(out) == [data]
    assert data.stat().st_size > 10 * out.stat().st_size  # the weights are in the sidecar
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.data"]  # no scratch files left
    onnx.checker.check_model(str(out), full_check=True)
    # onnxruntime finds the sidecar beside the file, wherever the pair is moved together.
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for f in (out, data):
        f.rename(moved / f.name)
    session = OnnxClassifier(moved / "m.onnx")
    assert session.config.to_dict() == model.config.to_dict()  # metadata still in the .onnx file
    for n in (1, 3):
        x = batch(n, seed=n)
        assert (session(x) - reference(model, x)).abs().max().item() <= PARITY_ATOL
    int8 = load_classifier(moved / "m.onnx", "onnx", InferenceOptions(int8=True))  # quantising reads the sidecar
    assert (int8(batch(2)) - reference(model, batch(2))).abs().max().item() <= INT8_ATOL
    # Re-exported small, the file no longer uses the sidecar: it goes rather than lingering stale.
    export_onnx(model, moved / "m.onnx")
    assert external_data_files(moved / "m.onnx") == [] and not (moved / "m.onnx.data").exists()


def test_int8_export_with_external_data(model, tmp_path):
    out = export_onnx(model, tmp_path / "q.onnx", int8=True, external_data_threshold=0)
    assert external_data_files(out) == [tmp_path / "q.onnx.data"]
    meta = {p.key: p.value for p in onnx.load(str(out), load_external_data=False).metadata_props}
    assert "quantization" in meta and "motivnet_config" in meta
    x = batch(2)
    assert (OnnxClassifier(out)(x) - reference(model, x)).abs().max().item() <= INT8_ATOL


def test_export_never_overwrites_a_sidecar(weights, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    sidecar(out).write_bytes(b"someone else's data")
    assert main(["export", "--weights", str(weights), "-o", str(out)]) == 2
    assert "m.onnx.data exists" in capsys.readouterr().err
    assert not out.exists() and sidecar(out).read_bytes() == b"someone else's data"


def test_predict_backend_onnx_matches_torch(weights, onnx_file, tmp_path, capsys):
    image = tmp_path / "face.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(image)
    runs = {}
    for name, extra in [("torch", []), ("folder", ["--backend", "onnx"]), ("file", ["--backend", "onnx"])]:
        w = str(onnx_file) if name == "file" else str(weights)
        assert main(["predict", str(image), "--weights", w, "--no-detect", "--json", *extra]) == 0
        runs[name] = json.loads(capsys.readouterr().out)[0]
    for name in ("folder", "file"):
        assert runs[name]["label"] == runs["torch"]["label"]
        assert runs[name]["probs"] == pytest.approx(runs["torch"]["probs"], abs=1e-4)
    api = motivnet.load(onnx_file, detector=None, backend="onnx").predict(str(image))[0]
    assert api.probs == pytest.approx(runs["torch"]["probs"], abs=1e-4)


def test_folder_model_onnx_is_used_when_fresh(model, tmp_path):
    folder = model.save_pretrained(tmp_path / "m")
    export_onnx(model, folder / "model.onnx")
    classifier = load_classifier(folder, "onnx")
    assert isinstance(classifier, OnnxClassifier) and classifier.path == folder / "model.onnx"


def test_int8_replaces_linear_layers_and_stays_close(model):
    fast = TorchClassifier(model, InferenceOptions(int8=True))
    assert len(int8_linears(fast.model)) == 4 * model.config.encoder.depth + 3 * model.config.decoder.num_layers + 1
    assert not any(type(m) is nn.Linear for m in fast.model.encoder.modules())  # every encoder Linear is int8
    assert any(type(m) is nn.Linear for m in model.modules())  # the float model is untouched
    x = batch(3)
    out = fast(x)
    assert out.shape == (3, 8) and out.dtype == torch.float32
    assert (out - reference(model, x)).abs().max().item() <= INT8_ATOL


def test_onnx_int8_runs_and_stays_close(model, weights):
    classifier = load_classifier(weights, "onnx", InferenceOptions(int8=True))
    x = batch(2)
    assert (classifier(x) - reference(model, x)).abs().max().item() <= INT8_ATOL


def test_bf16_copy_close_to_float32(model):
    with pytest.warns(RuntimeWarning, match="bfloat16") if not motivnet.backends.cpu_has_native_bf16() else _nothing():
        fast = TorchClassifier(model, InferenceOptions(bf16=True))
    assert {p.dtype for p in fast.model.parameters()} == {torch.bfloat16}
    assert fast.model.decoder.queries.dtype == torch.bfloat16
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # the float model is untouched
    x = batch(3)
    out = fast(x)
    assert out.dtype == torch.float32
    assert (out - reference(model, x)).abs().max().item() <= BF16_ATOL


def test_int8_with_bf16_is_refused(model):
    with pytest.raises(ValueError, match="int8 and bf16"):
        TorchClassifier(model, InferenceOptions(bf16=True, int8=True))


def test_recognizer_fast_path_options(weights):
    rec = motivnet.load(weights, detector=None, int8=True)
    assert int8_linears(rec.model)
    probs = rec.predict(np.full((20, 20, 3), 128, np.uint8))[0].probs
    assert abs(sum(probs.values()) - 1) < 1e-3


def test_sdpa_fused_kernel_in_encoder_and_decoder(model):
    kernels = attention_kernels(model, batch(1))
    layers = model.config.encoder.depth + model.config.decoder.num_layers
    assert kernels == {"aten::_scaled_dot_product_flash_attention_for_cpu": layers}


def test_flops_analytic_matches_flop_counter(model):
    assert model_flops(model.config)["total"] == counted_flops(model.config)
    paper = MotivNetConfig.build("sapiens-1b", labels="affectnet7")  # meta device: instant, no memory
    assert model_flops(paper)["total"] == counted_flops(paper)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
