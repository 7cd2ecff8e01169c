"""`motivnet predict` and `motivnet.load(...).predict`: records, formats, bad input, exit codes."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import motivnet
from motivnet.cli import main
from motivnet.faces import Face, register_detector
from motivnet.sources import expand_sources


class HalvesDetector:
    """Finds one face in each half of an image wider than tall, none in a black image."""

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        if image.max() == 0:
            return []
        if w > h:
            return [Face((0, 0, w / 2, h), 0.9, None), Face((w / 2, 0, w, h), 0.8, None)]
        return [Face((w * 0.25, h * 0.25, w * 0.75, h * 0.75), 0.95, None)]


register_detector("halves", lambda **kw: HalvesDetector())


@pytest.fixture()
def images(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    Image.fromarray(rng.integers(1, 255, (40, 80, 3), dtype=np.uint8)).save(d / "pair.png")
    Image.fromarray(rng.integers(1, 255, (48, 48), dtype=np.uint8)).save(d / "sub" / "grey.jpg")
    Image.new("RGB", (30, 30)).save(d / "black.png")
    (d / "notes.jpg").write_text("not an image")
    (d / "empty.png").write_bytes(b"")
    return d


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_records_bad_input_and_exit_code(capsys, weights, images):
    missing = str(images / "nope.jpg")
    code, out, err = run(capsys, "predict", str(images), missing, "--weights", str(weights), "--detector", "halves", "--json")
    assert code == 1
    recs = json.loads(out)
    by_file = {}
    for r in recs:
        by_file.setdefault(Path(r["file"]).name, []).append(r)
    assert [r["face"] for r in by_file["pair.png"]] == [0, 1]
    assert by_file["pair.png"][1]["box"] == [40.0, 0.0, 80.0, 40.0]
    for r in by_file["pair.png"] + by_file["grey.jpg"]:
        assert r["error"] is None and r["label"] in motivnet.AFFECTNET8.classes
        assert abs(sum(r["probs"].values()) - 1) < 1e-3
        assert r["topk"][0] == [r["label"], r["confidence"]] and len(r["topk"]) == 3
    assert "no face" in by_file["black.png"][0]["error"]
    assert "not an image" in by_file["notes.jpg"][0]["error"]
    assert "empty" in by_file["empty.png"][0]["error"]
    assert "no such file" in by_file["nope.jpg"][0]["error"]
    # One line on stderr per failure, naming the file and the reason.
    for name, reason in [("black.png", "no face"), ("notes.jpg", "not an image"), ("empty.png", "empty"), ("nope.jpg", "no such")]:
        lines = [ln for ln in err.splitlines() if name in ln]
        assert len(lines) == 1 and reason in lines[0]


def test_no_face_whole_classifies_the_image_as_it_is(capsys, weights, images):
    black, pair = str(images / "black.png"), str(images / "pair.png")
    code, out, err = run(capsys, "predict", black, pair, "--weights", str(weights), "--detector", "halves",
                         "--no-face", "whole", "--json")
    assert code == 0, err
    recs = json.loads(out)
    assert [(Path(r["file"]).name, r["face"]) for r in recs] == [("black.png", 0), ("pair.png", 0), ("pair.png", 1)]
    assert recs[0]["error"] is None and recs[0]["box"] == [0.0, 0.0, 30.0, 30.0] and recs[0]["det_score"] is None
    assert recs[1]["det_score"] == 0.9  # found faces are untouched
    # The label of the whole image is what --no-detect gives, and stderr says it was not a found face.
    recognizer = motivnet.load(str(weights), detector=None)
    assert recs[0]["probs"] == recognizer.predict([black])[0].to_dict()["probs"]
    lines = [ln for ln in err.splitlines() if "black.png" in ln]
    assert len(lines) == 1 and "no face found, classified the whole image" in lines[0]
    assert not [ln for ln in err.splitlines() if "pair.png" in ln]


def test_no_face_per_call_and_bad_value(weights, images):
    recognizer = motivnet.load(str(weights), detector="halves")
    black = str(images / "black.png")
    assert "no face" in recognizer.predict([black])[0].error
    assert recognizer.predict([black], no_face="whole")[0].ok
    with pytest.raises(ValueError, match="no_face='skip'"):
        recognizer.predict([black], no_face="skip")
    with pytest.raises(ValueError, match="no_face='skip'"):
        motivnet.load(str(weights), detector="halves", no_face="skip")


def test_all_good_exits_zero_and_table(capsys, weights, images):
    code, out, err = run(capsys, "predict", str(images / "pair.png"), "--weights", str(weights), "--detector", "halves")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["file", "face", "box", "label"] and len(lines) == 3


def test_csv_has_a_column_per_class(capsys, weights, images):
    code, out, _ = run(capsys, "predict", str(images / "sub"), str(images / "notes.jpg"), "--weights", str(weights), "--no-detect", "--csv", "--topk", "2")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1 and len(rows) == 2
    good, bad = rows
    assert good["face"] == "0" and good["x2"] == "48.0" and good["label"]
    assert {f"prob_{c}" for c in motivnet.AFFECTNET8.classes} <= set(good)
    assert len(good["topk"].split(";")) == 2
    assert bad["label"] == "" and "not an image" in bad["error"]


def test_no_detect_matches_python_api(capsys, weights, images):
    files = [str(images / "pair.png"), str(images / "sub" / "grey.jpg")]
    _, out, _ = run(capsys, "predict", *files, "--weights", str(weights), "--no-detect", "--json")
    api = motivnet.load(weights, detector=None).predict(files)
    assert json.loads(out) == [r.to_dict() for r in api]
    # Arrays and PIL images work through the API too, with the same numbers.
    arr = np.asarray(Image.open(files[0]).convert("RGB"))
    again = motivnet.load(weights, detector=None).predict(arr)
    assert again[0].probs == pytest.approx(api[0].probs, abs=1e-6)


def test_batching_does_not_change_results(weights, images):
    files = [str(images / "pair.png"), str(images / "sub" / "grey.jpg")] * 3
    one = motivnet.load(weights, detector="halves", batch_size=1).predict(files)
    many = motivnet.load(weights, detector="halves", batch_size=4).predict(files)
    assert len(one) == len(many) == 9
    for a, b in zip(one, many):
        assert a.probs == pytest.approx(b.probs, abs=1e-5)


def test_tta_flip_averages_image_and_mirror(capsys, weights, images):
    f = images / "pair.png"
    rgb = np.asarray(Image.open(f).convert("RGB"))
    plain = motivnet.load(weights, detector=None)
    p, q = plain.predict(rgb)[0].probs, plain.predict(np.ascontiguousarray(rgb[:, ::-1]))[0].probs
    flip = motivnet.load(weights, detector=None, tta_flip=True).predict(rgb)[0].probs
    assert flip == pytest.approx({k: (p[k] + q[k]) / 2 for k in p}, abs=1e-5)
    assert flip != pytest.approx(p, abs=1e-4)  # a random image is not symmetric: the mirror counts
    _, out, _ = run(capsys, "predict", str(f), "--weights", str(weights), "--no-detect", "--json", "--tta-flip")
    assert json.loads(out)[0]["probs"] == pytest.approx(flip, abs=1e-4)  # JSON rounds to 4 places


def test_tta_crops_flip_is_the_mean_over_eight_views_in_predict_and_evaluate(capsys, weights, images, tmp_path):
    from motivnet.data import open_dataset
    from motivnet.evaluation import run_model
    from motivnet.models import MotivNet
    from motivnet.preprocess import zoom_in

    f = images / "pair.png"
    rgb = np.asarray(Image.open(f).convert("RGB"))
    plain = motivnet.load(weights, detector=None)
    views = [zoom_in(rgb, c) for c in (1.0, 0.95, 0.9, 0.85)]
    views += [np.ascontiguousarray(v[:, ::-1]) for v in views]
    expected = plain.classify(views).mean(0)
    rec = motivnet.load(weights, detector=None, tta="crops+flip")
    assert rec.tta.views == 8
    got = rec.predict(rgb)[0].probs
    assert list(got.values()) == pytest.approx(expected.tolist(), abs=1e-5)
    crops = motivnet.load(weights, detector=None, tta="crops").predict(rgb)[0].probs
    assert list(crops.values()) == pytest.approx(plain.classify(views[:4]).mean(0).tolist(), abs=1e-5)
    # evaluate's run_model takes the same views of a dataset's images
    (tmp_path / "set" / "happy").mkdir(parents=True)
    Image.fromarray(rgb).save(tmp_path / "set" / "happy" / "pair.png")
    out = run_model(MotivNet.from_pretrained(weights), open_dataset(tmp_path / "set", labels="affectnet8"), system="t",
                    dataset_name="d", tta="crops+flip", present_only=False)
    assert out.log_probs.exp()[0].tolist() == pytest.approx(expected.tolist(), abs=1e-5)
    assert "8 views" in out.notes[0]
    _, printed, _ = run(capsys, "predict", str(f), "--weights", str(weights), "--no-detect", "--json", "--tta", "crops+flip")
    assert json.loads(printed)[0]["probs"] == pytest.approx(got, abs=1e-4)
    with pytest.raises(ValueError, match="unknown test-time augmentation 'crop'"):
        motivnet.load(weights, detector=None, tta="crop")
    with pytest.raises(ValueError, match="contradict"):
        motivnet.load(weights, detector=None, tta="crops", tta_flip=True)


def test_save_annotated_never_overwrites(capsys, weights, images, tmp_path):
    out_dir = tmp_path / "annotated"
    out_dir.mkdir()
    (out_dir / "pair.jpg").write_bytes(b"earlier result")
    code, _, _ = run(capsys, "predict", str(images / "pair.png"), "--weights", str(weights), "--detector", "halves", "--save-annotated", str(out_dir))
    assert code == 0
    assert (out_dir / "pair.jpg").read_bytes() == b"earlier result"
    drawn = Image.open(out_dir / "pair_1.jpg")
    assert drawn.size == (80, 40)


def test_output_file_and_refusal_to_overwrite_input(capsys, weights, images, tmp_path):
    target = tmp_path / "out.json"
    code, out, _ = run(capsys, "predict", str(images / "pair.png"), "--weights", str(weights), "--no-detect", "--json", "-o", str(target))
    assert code == 0 and out == "" and len(json.loads(target.read_text())) == 1
    before = (images / "pair.png").read_bytes()
    code, _, err = run(capsys, "predict", str(images / "pair.png"), "--weights", str(weights), "--no-detect", "-o", str(images / "pair.png"))
    assert code == 2 and "refusing to overwrite" in err
    assert (images / "pair.png").read_bytes() == before


def test_no_default_model_yet_needs_weights(capsys, images, monkeypatch, tmp_path):
    monkeypatch.setattr("motivnet.bundled.BUNDLED_DIR", tmp_path / "none")
    code, _, err = run(capsys, "predict", str(images / "pair.png"), "--no-detect")
    assert code == 2 and "--weights" in err and len(err.strip().splitlines()) == 1


def test_bad_weights_is_one_line_fatal_error(capsys, images, tmp_path):
    code, _, err = run(capsys, "predict", str(images / "pair.png"), "--weights", str(tmp_path / "nothing"))
    assert code == 2 and "nothing" in err and len(err.strip().splitlines()) == 1


def test_sources_expand_files_folders_globs(images):
    files, errors = expand_sources([str(images / "sub"), str(images / "*.png"), str(images / "pair.png"), str(images / "z*.jpg"), "/no/such"])
    names = [f.name for f in files]
    assert names == ["grey.jpg", "black.png", "empty.png", "pair.png"]  # folder first, glob sorted, no duplicates
    assert [e.reason for e in errors] == ["pattern matched no files", "no such file or folder"]
