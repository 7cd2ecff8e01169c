"""Ensembles (``motivnet.ensemble``) and bundled model names (``motivnet.bundled``): members of
different input sizes, the mean of their probabilities, in predict, evaluate and the Python API."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import motivnet
from motivnet.bundled import resolve_weights
from motivnet.cli import main
from motivnet.ensemble import Ensemble, ensemble_members, is_ensemble, load_ensemble, save_ensemble
from motivnet.labels import AFFECTNET7
from motivnet.models import MotivNet, MotivNetConfig, SapiensConfig


def tiny(folder: Path, size: int, seed: int, labels=None) -> Path:
    torch.manual_seed(seed)
    extra = {"labels": labels} if labels is not None else {}
    cfg = MotivNetConfig.build(SapiensConfig(embed_dim=32, depth=1, num_heads=2, image_size=(size, size)), decoder_dim=32, **extra)
    return MotivNet(cfg).save_pretrained(folder)


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("members")
    return tiny(root / "a", 32, 0), tiny(root / "b", 48, 1)


@pytest.fixture(scope="module")
def ensemble_dir(tmp_path_factory, members) -> Path:
    folder = tmp_path_factory.mktemp("ens") / "both"
    save_ensemble(folder, members)
    return folder


@pytest.fixture()
def faces(tmp_path) -> list[Path]:
    rng = np.random.default_rng(3)
    paths = []
    for i, shape in enumerate([(40, 40, 3), (30, 50, 3), (48, 48)]):
        p = tmp_path / f"f{i}.png"
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


def test_ensemble_is_the_mean_of_its_members_probabilities(members, ensemble_dir, faces):
    a, b = members
    pa = motivnet.load(a, detector=None).predict(faces)
    pb = motivnet.load(b, detector=None).predict(faces)
    both = motivnet.load(ensemble_dir, detector=None).predict(faces)
    assert len(both) == 3 and all(r.ok for r in both)
    for ra, rb, r in zip(pa, pb, both):
        for label, p in r.probs.items():
            assert p == pytest.approx((ra.probs[label] + rb.probs[label]) / 2, abs=1e-5)
        assert r.label == max(r.probs, key=r.probs.get)
    # The members really differ (so the test could fail), and each ran at its own input size.
    assert any(abs(ra.probs["happy"] - rb.probs["happy"]) > 1e-4 for ra, rb in zip(pa, pb))
    rec = motivnet.load(ensemble_dir, detector=None)
    assert [c.config.image_size for c in rec.ensemble.classifiers] == [(32, 32), (48, 48)]


def test_one_member_ensemble_is_exactly_that_model(members, faces, tmp_path):
    save_ensemble(tmp_path / "one", [members[1]])
    alone = motivnet.load(members[1], detector=None, tta="flip").predict(faces)
    one = motivnet.load(tmp_path / "one", detector=None, tta="flip").predict(faces)
    assert [r.probs for r in one] == [r.probs for r in alone]


def test_ensemble_folder_stores_relative_paths_and_moves(members, tmp_path):
    import shutil

    shutil.copytree(members[0], tmp_path / "models" / "a")
    shutil.copytree(members[1], tmp_path / "models" / "b")
    save_ensemble(tmp_path / "models" / "ab", [tmp_path / "models" / "a", tmp_path / "models" / "b"])
    assert json.loads((tmp_path / "models" / "ab" / "ensemble.json").read_text()) == {"members": ["../a", "../b"]}
    shutil.move(tmp_path / "models", tmp_path / "moved")
    assert ensemble_members(tmp_path / "moved" / "ab") == [(tmp_path / "moved" / m).resolve() for m in ("a", "b")]
    assert len(load_ensemble(tmp_path / "moved" / "ab")) == 2


def test_save_ensemble_refusals(members, ensemble_dir, tmp_path):
    with pytest.raises(FileExistsError, match="already holds"):
        save_ensemble(ensemble_dir, members)  # never overwrites
    with pytest.raises(FileExistsError, match="already holds"):
        save_ensemble(members[0], members)  # nor turns a model folder into an ensemble
    with pytest.raises(ValueError, match="not a model folder"):
        save_ensemble(tmp_path / "x", [members[0], tmp_path])
    seven = tiny(tmp_path / "seven", 32, 2, labels=list(AFFECTNET7.classes))
    with pytest.raises(ValueError, match="disagree on their classes"):
        save_ensemble(tmp_path / "y", [members[0], seven])
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "cannot read it as JSON"),
        ('{"members": []}', "non-empty list"),
        ('{"members": ["../nothing"]}', "does not exist"),
        ('{"members": ["../inner"]}', "itself an ensemble"),
    ],
)
def test_bad_ensemble_files_are_one_line_errors(members, tmp_path, text, message):
    save_ensemble(tmp_path / "inner", members)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "ensemble.json").write_text(text)
    with pytest.raises(ValueError, match=message) as e:
        ensemble_members(tmp_path / "bad")
    assert "ensemble.json" in str(e.value) and "\n" not in str(e.value)


def test_predict_and_evaluate_cli_take_an_ensemble(members, ensemble_dir, faces, tmp_path, capsys):
    code = main(["predict", *map(str, faces), "--weights", str(ensemble_dir), "--no-detect", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    records = json.loads(out)
    expected = motivnet.load(ensemble_dir, detector=None).predict(faces)
    assert len(records) == len(expected) == 3
    for got, want in zip(records, expected):
        assert got["label"] == want.label
        assert [got["probs"][k] for k in want.probs] == pytest.approx(list(want.probs.values()), abs=1e-4)  # JSON keeps 4 decimals

    data = tmp_path / "ds"
    rng = np.random.default_rng(0)
    for c in ("happy", "sad"):
        (data / c).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(data / c / f"{i}.png")
    code = main(["evaluate", "--weights", str(ensemble_dir), f"toy={data}", "--out", str(tmp_path / "rep"), "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert [m["image_size"] for m in report["model"]["ensemble_members"]] == [[32, 32], [48, 48]]
    assert any("ensemble: mean probabilities of 2 models" in n for r in report["results"] for n in r.get("notes", []))


def test_run_model_on_an_ensemble_matches_the_mean_of_its_members(members, ensemble_dir, tmp_path):
    from motivnet.data import open_dataset
    from motivnet.evaluation import run_model

    rng = np.random.default_rng(1)
    for c in ("happy", "sad", "angry"):
        (tmp_path / c).mkdir()
        Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(tmp_path / c / "0.png")
    ds = open_dataset(tmp_path)
    runs = [run_model(MotivNet.from_pretrained(m), ds, system="m", dataset_name="d", tta="flip") for m in members]
    both = run_model(load_ensemble(ensemble_dir), ds, system="e", dataset_name="d", tta="flip")
    mean = (runs[0].log_probs.exp() + runs[1].log_probs.exp()) / 2
    assert torch.allclose(both.log_probs.exp(), mean, atol=1e-6)


def test_export_refuses_an_ensemble_in_one_line(ensemble_dir, capsys):
    code = main(["export", "--weights", str(ensemble_dir)])
    err = capsys.readouterr().err
    assert code == 2 and "is an ensemble" in err and len(err.strip().splitlines()) == 1
    assert not (ensemble_dir / "model.onnx").exists()


def test_benchmark_counts_every_member(members, ensemble_dir, faces, capsys):
    from motivnet.flops import model_flops

    quick = ["--iters", "1", "--warmup", "0", "--batch-size", "2", "--peak-size", "64", "--no-detect", "--json"]
    code = main(["benchmark", "--weights", str(ensemble_dir), "--images", str(faces[0]), *quick])
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    sizes = [m["image_size"] for m in report["ensemble_members"]]
    assert sizes == [[32, 32], [48, 48]]
    one = [model_flops(MotivNet.from_pretrained(m).config)["total"] for m in members]
    assert report["flops_per_image"] == sum(one) and report["flops_counted"] == sum(one)
    assert report["end_to_end"]["faces"] == 1
    code = main(["benchmark", "--weights", str(ensemble_dir), "--images", str(faces[0]), *quick[:-1]])
    text = capsys.readouterr().out
    assert code == 0 and "ensemble of 2 models" in text and "48x48 = 9 tokens" in text


def test_ensemble_checks_members_agree(members, tmp_path):
    from motivnet.backends import TorchClassifier

    seven = MotivNet.from_pretrained(tiny(tmp_path / "seven", 32, 2, labels=list(AFFECTNET7.classes)))
    with pytest.raises(ValueError, match="disagree"):
        Ensemble([TorchClassifier(MotivNet.from_pretrained(members[0])), TorchClassifier(seven)])


def test_bundled_names_resolve_and_unknown_names_list_them(monkeypatch, members, ensemble_dir, tmp_path):
    import shutil

    bundle = tmp_path / "weights"
    shutil.copytree(members[0], bundle / "default")
    save_ensemble(bundle / "pair", [bundle / "default", members[1]])
    monkeypatch.setattr("motivnet.bundled.BUNDLED_DIR", bundle)
    monkeypatch.chdir(tmp_path)
    assert resolve_weights(None) == bundle / "default"
    assert resolve_weights("pair") == bundle / "pair" and is_ensemble(resolve_weights("pair"))
    (tmp_path / "pair").mkdir()  # a path that exists is that path, not the bundled model
    assert resolve_weights("pair") == Path("pair")
    with pytest.raises(FileNotFoundError, match="bundled models: default, pair"):
        resolve_weights("nothing")
