"""`motivnet evaluate`: metrics by hand, cross-dataset label mapping, prediction files, reports,
exit codes. Tiny model, generated images, no real data."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.functional.classification import multiclass_calibration_error

from motivnet.cli import main
from motivnet.evaluation import (
    PredictionFileError,
    SystemOutputs,
    benchmark,
    evaluate_outputs,
    interleaved_first,
    new_report_dir,
    read_predictions,
    restrict,
    training_data,
    write_predictions,
)
from motivnet.evaluation.criteria import architecture
from motivnet.labels import AFFECTNET7, AFFECTNET8, FER2013
from motivnet.metrics import classification_metrics, score
from motivnet.models import MotivNet, MotivNetConfig, SapiensConfig

CKPLUS = ("anger", "contempt", "disgust", "fear", "happy", "sad", "surprise")  # no neutral

# 5 samples, 3 classes. Arg-max: 0, 0, 1, 1, 2 against targets 0, 1, 1, 1, 2.
PROBS = torch.tensor([[0.90, 0.05, 0.05], [0.45, 0.35, 0.20], [0.20, 0.70, 0.10], [0.10, 0.55, 0.35], [0.10, 0.10, 0.80]])
TARGETS = torch.tensor([0, 1, 1, 1, 2])


# --- metrics, by hand -----------------------------------------------------------------------------


def test_score_by_hand():
    s = score(PROBS, TARGETS, ("a", "b", "c"))
    assert s.n == 5 and s.n_failed == 0
    assert s.accuracy == pytest.approx(4 / 5)
    # a: tp 1, fp 1 -> P 1/2, R 1; b: tp 2, fn 1 -> P 1, R 2/3; c: P = R = 1
    assert [s.per_class[c]["precision"] for c in "abc"] == pytest.approx([0.5, 1.0, 1.0])
    assert [s.per_class[c]["recall"] for c in "abc"] == pytest.approx([1.0, 2 / 3, 1.0])
    assert [s.per_class[c]["f1"] for c in "abc"] == pytest.approx([2 / 3, 0.8, 1.0])
    assert s.f1_macro == pytest.approx((2 / 3 + 0.8 + 1.0) / 3)
    assert s.precision_macro == pytest.approx(2.5 / 3)
    assert s.recall_macro == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert s.confusion == [[1, 0, 0], [1, 2, 0], [0, 0, 1]]
    assert [s.per_class[c]["support"] for c in "abc"] == [1, 3, 1]
    assert s.loss == pytest.approx(-sum(math.log(p) for p in (0.9, 0.35, 0.7, 0.55, 0.8)) / 5, rel=1e-5)


def test_ece_two_bins_by_hand():
    # Bin [0, .5]: one sample, confidence .45, wrong -> gap .45, weight 1/5.
    # Bin (.5, 1]: confidences .9 .7 .55 .8 (mean .7375), all right -> gap .2625, weight 4/5.
    s = score(PROBS, TARGETS, 3, ece_bins=2)
    assert s.ece == pytest.approx(0.45 / 5 + 0.2625 * 4 / 5, abs=1e-6)
    # Same quantity as torchmetrics' MulticlassCalibrationError (top-label, l1).
    assert s.ece == pytest.approx(float(multiclass_calibration_error(PROBS, TARGETS, 3, n_bins=2)), abs=1e-6)
    # Mean top probability: above accuracy (4/5) would be over-confident; here .68 is under.
    assert s.confidence == pytest.approx((0.45 + 0.9 + 0.7 + 0.55 + 0.8) / 5, abs=1e-6)


def test_auroc_separable_is_one_and_undefined_class_is_skipped():
    targets = torch.tensor([0, 0, 1, 1, 2, 2])
    probs = torch.full((6, 3), 0.1)
    probs[torch.arange(6), targets] = 0.8
    s = score(probs, targets, 3)
    assert s.auroc_macro == pytest.approx(1.0)
    assert all(v["auroc"] == pytest.approx(1.0) for v in s.per_class.values())
    # A class with no samples has no AUROC and does not pull the macro average down.
    s = score(probs[:4], targets[:4], 3)
    assert s.per_class["2"]["auroc"] is None and s.auroc_macro == pytest.approx(1.0)


def test_failures_are_wrong():
    failed = torch.tensor([True, False, False, False, False])  # sample 0 was right
    s = score(PROBS, TARGETS, ("a", "b", "c"), failed)
    assert s.n == 5 and s.n_failed == 1
    assert s.accuracy == pytest.approx(3 / 5)  # over all n
    assert s.per_class["a"]["recall"] == 0.0 and s.per_class["a"]["failed"] == 1
    assert s.confusion[0] == [0, 0, 0] and s.failed_per_class == [1, 0, 0]
    # The failed sample costs log(3) (uniform: no information).
    assert s.loss == pytest.approx((math.log(3) - sum(math.log(p) for p in (0.35, 0.7, 0.55, 0.8))) / 5, rel=1e-5)


def test_training_metrics_share_the_path():
    logits = torch.log(PROBS)
    m = classification_metrics(logits, TARGETS, 3)
    assert m["acc"] == pytest.approx(0.8) and m["f1"] == pytest.approx((2 / 3 + 0.8 + 1.0) / 3)
    assert m["loss"] == pytest.approx(score(PROBS, TARGETS, 3).loss, rel=1e-5)


# --- cross-dataset label mapping ------------------------------------------------------------------


def outputs(classes, dataset_classes, targets, logits=None, failed=None) -> SystemOutputs:
    n = len(targets)
    logits = torch.randn(n, len(classes), generator=torch.Generator().manual_seed(0)) if logits is None else logits
    return SystemOutputs(
        "sys", "ds", tuple(classes), tuple(dataset_classes), logits.log_softmax(-1),
        torch.tensor(targets), torch.zeros(n, dtype=torch.bool) if failed is None else failed, [str(i) for i in range(n)],
    )


def test_affectnet8_model_on_fer2013():
    targets = list(range(7)) * 2
    out = outputs(AFFECTNET8.classes, FER2013.classes, targets)
    probs, t, failed, m = restrict(out)
    assert m.scored_classes == FER2013.classes
    assert m.system_removed == ("contempt",) and m.dataset_missing == () and m.n_dropped == 0
    assert "0 neutral -> 6 neutral" in m.describe_pairs() and "6 anger -> 0 anger" in m.describe_pairs()
    # Softmax renormalised over the 7 shared logits, in FER2013's order.
    order = [AFFECTNET8.classes.index(c) for c in FER2013.classes]
    expected = out.log_probs[:, order].softmax(-1)
    assert torch.allclose(probs, expected, atol=1e-6)
    assert t.tolist() == targets and not failed.any()


def test_affectnet8_model_on_ckplus_drops_neutral_logit():
    out = outputs(AFFECTNET8.classes, CKPLUS, [0, 1, 2, 3, 4, 5, 6])
    _, _, _, m = restrict(out)
    assert m.system_removed == ("neutral",) and m.dataset_missing == () and m.n_dropped == 0
    assert m.scored_classes == CKPLUS


def test_dataset_class_the_model_lacks_is_dropped_and_counted():
    targets = [0, 1, 1, 4, 6]  # two contempt samples
    out = outputs(AFFECTNET7.classes, CKPLUS, targets)
    probs, t, _, m = restrict(out)
    assert m.dataset_missing == ("contempt",) and m.dropped == {"contempt": 2} and m.n_dropped == 2
    assert m.system_removed == ("neutral",)
    assert probs.shape == (3, 6) and m.n_total == 5
    r = evaluate_outputs(out)
    assert r.scores.n == 3 and r.summary()["n_dropped"] == 2


def test_no_shared_class_is_an_error():
    with pytest.raises(ValueError, match="share no class"):
        restrict(outputs(("happy", "sad"), ("anger", "fear"), [0, 1]))


# --- prediction files -----------------------------------------------------------------------------


def test_prediction_file_failures_count_as_wrong(tmp_path):
    f = tmp_path / "fer_lib.csv"
    f.write_text(
        "file,target,prob_angry,prob_happiness,prob_neutral,prob_surprised\n"
        "a.jpg,anger,0.7,0.1,0.1,0.1\n"
        "b.jpg,happy,0.1,0.7,0.1,0.1\n"
        "c.jpg,Happiness,0.2,0.2,0.5,0.1\n"  # wrong
        "d.jpg,neutral,,,,\n"  # no face found
        "e.jpg,contempt,0.1,0.1,0.1,0.7\n"  # the system has no contempt: dropped
    )
    (out,) = read_predictions(f)
    assert out.system == "fer_lib" and out.dataset == "fer_lib"
    assert out.classes == ("anger", "happy", "neutral", "surprise")
    r = evaluate_outputs(out)
    assert r.scores.n == 4 and r.scores.n_failed == 1 and r.mapping.n_dropped == 1
    assert r.scores.accuracy == pytest.approx(2 / 4)
    assert r.mapping.system_removed == ("surprise",)


def test_prediction_file_groups_and_overrides(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text(
        "file,target,prob_happy,prob_sad,system,dataset\n"
        "a,happy,0.9,0.1,libA,d1\nb,sad,0.2,0.8,libA,d1\nc,sad,0.6,0.4,libB,d1\n"
    )
    groups = {(o.system, o.dataset): len(o) for o in read_predictions(f)}
    assert groups == {("libA", "d1"): 2, ("libB", "d1"): 1}
    (one,) = read_predictions(f, system="X", dataset="Y")
    assert (one.system, one.dataset, len(one)) == ("X", "Y", 3)
    # A dataset known by name (e.g. evaluated in the same command) brings its label set.
    (known,) = read_predictions(f, system="X", dataset="Y", dataset_classes={"Y": FER2013.classes})
    assert known.dataset_classes == FER2013.classes


@pytest.mark.parametrize(
    "row, message",
    [
        ("a,happy,0.5,\n", "some prob cells are empty"),
        ("a,happy,50,50\n", "percentages"),
        ("a,bored,0.5,0.5\n", "unknown emotion label"),
        ("a,happy,0,0\n", "sum to 0"),
    ],
)
def test_prediction_file_errors(tmp_path, row, message):
    f = tmp_path / "bad.csv"
    f.write_text("file,target,prob_happy,prob_sad\n" + row)
    with pytest.raises(PredictionFileError, match=message):
        read_predictions(f)


def test_prediction_file_header_errors(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("file,target,prob_bored\na,happy,1\n")
    with pytest.raises(PredictionFileError, match="prob_bored"):
        read_predictions(f)
    f.write_text("file,prob_happy\na,1\n")
    with pytest.raises(PredictionFileError, match="missing columns"):
        read_predictions(f)


def test_written_predictions_score_the_same(tmp_path):
    failed = torch.tensor([False, True, False, False, False, False])
    out = outputs(AFFECTNET8.classes, FER2013.classes, [0, 3, 3, 6, 4, 1], failed=failed)
    back = read_predictions(write_predictions(out, tmp_path / "p.csv"), dataset_classes={"ds": FER2013.classes})[0]
    a, b = evaluate_outputs(out).scores, evaluate_outputs(back).scores
    assert b.n_failed == 1 and a.confusion == b.confusion
    for key in ("accuracy", "f1_macro", "auroc_macro", "ece", "loss"):
        assert getattr(a, key) == pytest.approx(getattr(b, key), abs=1e-5)


# --- helpers --------------------------------------------------------------------------------------


def test_interleaved_first_takes_classes_in_turn():
    targets = [0, 0, 0, 0, 1, 1, 2]
    assert interleaved_first(targets, 4) == [0, 1, 4, 6]
    assert interleaved_first(targets, 100) == list(range(7))


def test_new_report_dir_never_reuses_a_report(tmp_path):
    a = new_report_dir(tmp_path / "r")
    (a / "report.json").write_text("{}")
    b = new_report_dir(tmp_path / "r")
    assert a == tmp_path / "r" and b == tmp_path / "r_1" and (a / "report.json").read_text() == "{}"


# --- the CLI, end to end --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    cfg = MotivNetConfig.build(SapiensConfig(embed_dim=32, depth=1, num_heads=2, image_size=(32, 32)), decoder_dim=32)
    return MotivNet(cfg).save_pretrained(tmp_path_factory.mktemp("w") / "best")


def make_folders(root: Path, classes: list[str], per_class: int = 2) -> Path:
    rng = np.random.default_rng(len(classes))
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_cross_dataset_report(tmp_path, weights, capsys):
    an = make_folders(tmp_path / "affectnet" / "val", ["neutral", "happy", "contempt"])
    ck = make_folders(tmp_path / "ck", ["angry", "contempt", "happy"])
    preds = tmp_path / "other.csv"
    preds.write_text("file,target,prob_happy,prob_anger\na,happy,0.9,0.1\nb,angry,,\nc,contempt,0.5,0.5\n")
    peer = tmp_path / "peer.csv"  # names the dataset as the peer runners do: parent/folder
    peer.write_text(f"file,target,prob_happy,prob_contempt,system,dataset\nx,happy,0.6,0.4,peer,{tmp_path.name}/ck\n")
    out = tmp_path / "report"
    code, stdout, err = run(
        capsys, "evaluate", "--weights", weights, "--name", "tiny", an, f"CK+={ck}", "--predictions", preds, "--system", "otherlib",
        "--dataset-name", "CK+", "--predictions", peer, "--out", out, "--no-progress", "--tta-flip", "--limit", "5",
    )
    assert code == 0, err
    assert "affectnet-val" in stdout and "otherlib" in stdout
    report = json.loads((out / "report.json").read_text())
    rows = {(r["system"], r["dataset"]): r for r in report["results"]}
    assert set(rows) == {("tiny", "affectnet-val"), ("tiny", "CK+"), ("otherlib", "CK+"), ("peer", "CK+")}
    ck_model = rows[("tiny", "CK+")]["mapping"]
    assert ck_model["scored_classes"] == ["happy", "anger", "contempt"]
    assert "neutral" in ck_model["system_classes_removed"] and ck_model["n_dropped"] == 0
    other = rows[("otherlib", "CK+")]
    assert other["metrics"]["n"] == 2 and other["metrics"]["n_failed"] == 1 and other["mapping"]["n_dropped"] == 1
    assert rows[("tiny", "affectnet-val")]["metrics"]["n"] == 5  # --limit
    assert rows[("peer", "CK+")]["mapping"]["dataset_classes"] == ["happy", "anger", "contempt"]
    for r in report["results"]:
        assert (out / r["files"]["confusion_png"]).is_file()
    md = (out / "report.md").read_text()
    for text in ("## Results", "## Label mapping", "Architecture similarity", "Data similarity", "Norface", "57.49", "Caveat"):
        assert text in md
    assert "affectnet-val" in json.dumps(report["criteria"]["benchmark"]["ours"])
    # Running again never overwrites the first report.
    first = (out / "report.json").read_text()
    code, _, err = run(capsys, "evaluate", "--weights", weights, an, "--out", out, "--no-progress", "--limit", "2")
    assert code == 0, err
    assert (out / "report.json").read_text() == first and (tmp_path / "report_1" / "report.md").is_file()


def test_cli_fast_path_switches_are_scored_and_recorded(tmp_path, weights, capsys):
    pytest.importorskip("onnx")
    ds = make_folders(tmp_path / "ds", ["happy", "sad", "angry"])
    reports = {}
    for variant, switches in [("fp32", []), ("int8", ["--int8"]), ("onnx", ["--backend", "onnx"]),
                              ("onnx+int8", ["--backend", "onnx", "--int8"])]:
        out = tmp_path / variant
        code, stdout, err = run(capsys, "evaluate", "--weights", weights, ds, "--out", out, "--no-progress", *switches)
        assert code == 0, err
        reports[variant] = report = json.loads((out / "report.json").read_text())
        (summary,) = report["summary"]
        assert summary["n"] == 6 and 0.0 <= summary["accuracy"] <= 1.0 and summary["f1_macro"] is not None
        assert report["options"]["variant"] == report["model"]["variant"] == variant
        suffix = "" if variant == "fp32" else f" ({variant})"
        assert summary["system"] == report["model"]["system"] == f"{weights.parent.name}/best{suffix}"
        assert summary["system"] in stdout
        assert report["command"].endswith(f"{' '.join(switches)} {ds}".lstrip())
        assert report["criteria"]["architecture"]["differences"]  # shapes from the config: any backend
    assert reports["int8"]["options"]["int8"] and reports["int8"]["options"]["backend"] == "torch"
    assert reports["onnx"]["options"]["backend"] == "onnx" and not reports["onnx"]["options"]["int8"]
    assert reports["onnx+int8"]["options"]["int8"] and reports["onnx+int8"]["model"]["backend"] == "onnx"
    # onnxruntime float32 is the same model: same predictions, same loss to float error.
    fp32, onnx = reports["fp32"]["summary"][0], reports["onnx"]["summary"][0]
    assert onnx["accuracy"] == fp32["accuracy"] and onnx["loss"] == pytest.approx(fp32["loss"], abs=1e-4)


def test_dataset_aliases_for_prediction_files():
    from motivnet.commands.evaluate import _dataset_aliases

    def evaluated(name: str, source: str) -> SystemOutputs:
        empty = torch.zeros(0)
        return SystemOutputs("m", name, ("happy",), ("happy",), empty[:, None], empty, empty.bool(), [], source=source)

    aliases = _dataset_aliases([evaluated("affectnet96-val", "/d/affectnet96/val"), evaluated("a-train", "/d/a/train"),
                                evaluated("a-val", "/d/a/val")])
    assert aliases["affectnet96"] == aliases["affectnet96/val"] == aliases["/d/affectnet96/val"] == "affectnet96-val"
    assert "a" not in aliases and aliases["a/train"] == "a-train"  # a root with two splits is ambiguous


def test_cli_unreadable_image_is_a_failure_and_exit_1(tmp_path, weights, capsys):
    ds = make_folders(tmp_path / "ds", ["happy", "sad"])
    (ds / "sad" / "broken.png").write_bytes(b"not a png")
    code, _, err = run(capsys, "evaluate", "--weights", weights, ds, "--out", tmp_path / "r", "--no-progress")
    assert code == 1 and "could not be read" in err
    m = json.loads((tmp_path / "r" / "report.json").read_text())["results"][0]["metrics"]
    assert m["n"] == 5 and m["n_failed"] == 1


def test_cli_exit_codes(tmp_path, weights, capsys):
    ds = make_folders(tmp_path / "ds", ["happy", "sad"], per_class=1)
    assert run(capsys, "evaluate")[0] == 2  # nothing to evaluate
    assert run(capsys, "evaluate", ds)[0] == 2  # a dataset needs --weights
    assert run(capsys, "evaluate", "--weights", weights)[0] == 2  # weights need a dataset
    assert run(capsys, "evaluate", "--weights", tmp_path / "nope", ds)[0] == 2  # weights cannot be loaded
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--system", "x", "--predictions", "p.csv"])
    assert e.value.code == 2
    # One good and one missing dataset: partial.
    code, _, err = run(capsys, "evaluate", "--weights", weights, ds, tmp_path / "missing", "--out", tmp_path / "a", "--no-progress")
    assert code == 1 and "missing" in err
    # Nothing usable at all: fatal.
    assert run(capsys, "evaluate", "--weights", weights, tmp_path / "missing", "--out", tmp_path / "b")[0] == 2


# --- the paper's criteria -------------------------------------------------------------------------


def test_criteria(tmp_path, weights):
    model = MotivNet.from_pretrained(weights)
    arch = architecture(model)
    assert {"width (embed dim)", "depth (blocks)", "input size (HxW)", "head width"} <= set(arch["differences"])
    assert "patch size" not in arch["differences"] and "classes" not in arch["differences"]
    assert training_data(weights)["known"] is False
    run_dir = tmp_path / "run"
    (run_dir / "best").mkdir(parents=True)
    (run_dir / "config.yaml").write_text("data:\n  train: {path: /data/affectnet96, split: train}\n  samples_per_class: null\nmodel:\n  labels: affectnet8\n")
    info = training_data(run_dir / "best")
    assert info["known"] and info["affectnet"] and info["train"]["path"] == "/data/affectnet96"
    bench = benchmark([])
    assert [r["accuracy"] for r in bench["published"]] == [68.69, 63.12, 61.32, 58.28, 57.49] and "different split" in bench["caveat"]


def test_run_model_scores_on_the_classes_present(tmp_path, weights):
    from motivnet.data import open_dataset
    from motivnet.evaluation import run_model

    ds = open_dataset(make_folders(tmp_path / "fer", ["angry", "happy"], per_class=1))
    assert ds.labels.name == "affectnet8"  # the reader's default set: contempt would be kept without present_only
    model = MotivNet.from_pretrained(weights)
    out = run_model(model, ds, system="tiny", dataset_name="fer", tta="flip")
    assert out.dataset_classes == ("happy", "anger") and out.classes == AFFECTNET8.classes
    assert torch.allclose(out.log_probs.exp().sum(-1), torch.ones(2), atol=1e-5)
    assert run_model(model, ds, system="tiny", dataset_name="fer", present_only=False).dataset_classes == AFFECTNET8.classes


class CentreFaceDetector:
    """One face, the middle half of the image, in any image that is not all black."""

    def detect(self, image: np.ndarray) -> list:
        from motivnet.faces import Face

        h, w = image.shape[:2]
        if image.max() == 0:
            return []
        return [Face((w * 0.1, h * 0.1, w * 0.3, h * 0.3), 0.7, None), Face((w / 4, h / 4, w * 3 / 4, h * 3 / 4), 0.9, None)]


def test_detect_scores_the_largest_aligned_face_and_no_face_is_a_failure(tmp_path, weights, capsys):
    from motivnet.data import open_dataset
    from motivnet.evaluation import run_model
    from motivnet.faces import align_face, register_detector
    from motivnet.preprocess import Preprocessor

    ds_dir = make_folders(tmp_path / "jaffe-like", ["happy", "sad"], per_class=1)
    Image.new("RGB", (36, 36)).save(ds_dir / "sad" / "black.png")
    model = MotivNet.from_pretrained(weights)
    ds = open_dataset(ds_dir)
    detector = CentreFaceDetector()
    out = run_model(model, ds, system="tiny", dataset_name="d", detector=detector)
    assert out.ids == ["happy/0.png", "sad/0.png", "sad/black.png"] and out.failed.tolist() == [False, False, True]
    rgb = np.array(Image.open(ds_dir / "happy" / "0.png").convert("RGB"))
    by_hand = align_face(rgb, detector.detect(rgb)[1])  # the larger of the two faces
    x = Preprocessor.from_config(model.config).tensor(by_hand)[None]
    with torch.inference_mode():
        torch.testing.assert_close(out.log_probs[0], model(x).log_softmax(-1)[0], atol=1e-5, rtol=0)
    assert any("largest face" in n for n in out.notes)

    register_detector("test-centre", lambda **kw: CentreFaceDetector(), overwrite=True)
    code, _, err = run(capsys, "evaluate", "--weights", weights, ds_dir, "--detect", "--detector", "test-centre",
                       "--out", tmp_path / "r", "--no-progress")
    assert code == 1 and "no face" in err and "black.png" in err
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["results"][0]["metrics"]["n_failed"] == 1
    assert "--detect --detector test-centre" in report["command"] and report["options"]["detect"] is True


def test_detect_no_face_whole_scores_the_image_as_it_is(tmp_path, weights, capsys):
    from motivnet.data import open_dataset
    from motivnet.evaluation import run_model
    from motivnet.faces import register_detector

    ds_dir = make_folders(tmp_path / "d", ["happy", "sad"], per_class=1)
    Image.new("RGB", (36, 36)).save(ds_dir / "sad" / "black.png")
    model = MotivNet.from_pretrained(weights)
    whole = run_model(model, open_dataset(ds_dir), system="t", dataset_name="d", detector=CentreFaceDetector(), no_face="whole")
    plain = run_model(model, open_dataset(ds_dir), system="t", dataset_name="d")  # no detection at all
    assert whole.failed.tolist() == [False, False, False]
    torch.testing.assert_close(whole.log_probs[2], plain.log_probs[2])  # the black image, as it is
    assert not torch.allclose(whole.log_probs[0], plain.log_probs[0])  # a found face is still cut and aligned
    assert any("scored whole" in n for n in whole.notes)

    register_detector("test-centre", lambda **kw: CentreFaceDetector(), overwrite=True)
    code, _, err = run(capsys, "evaluate", "--weights", weights, ds_dir, "--detect", "--detector", "test-centre",
                       "--no-face", "whole", "--out", tmp_path / "r", "--no-progress")
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert code == 0, err
    assert report["results"][0]["metrics"]["n_failed"] == 0 and report["options"]["no_face"] == "whole"
    assert "--no-face whole" in report["command"]
    code, _, err = run(capsys, "evaluate", "--weights", weights, ds_dir, "--no-face", "whole")
    assert code == 2 and "--no-face applies to --detect" in err


def test_detect_a_detector_crash_fails_that_image_only(tmp_path, weights):
    from motivnet.data import open_dataset
    from motivnet.evaluation import run_model

    class Crashing(CentreFaceDetector):
        def detect(self, image):
            if image.mean() > 127:
                raise RuntimeError("bad landmarks")
            return super().detect(image)

    ds_dir = make_folders(tmp_path / "d", ["happy"], per_class=1)
    Image.new("RGB", (36, 36), (250, 250, 250)).save(ds_dir / "happy" / "white.png")
    reasons = []
    out = run_model(MotivNet.from_pretrained(weights), open_dataset(ds_dir), system="tiny", dataset_name="d",
                    detector=Crashing(), on_error=lambda i, why: reasons.append((i, why)))
    assert out.failed.tolist() == [False, True]
    assert reasons == [("happy/white.png", "face detection failed (RuntimeError: bad landmarks)")]
