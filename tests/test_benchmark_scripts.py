"""Benchmark scripts whose printout an adoption rule reads: run them on hand-made predictions files."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from motivnet.labels import AFFECTNET8

ROOT = Path(__file__).resolve().parents[1]


def predictions_csv(path: Path, rows: list[tuple[str, str, str]], ext: str) -> Path:
    """rows: (file stem, target, predicted class); the prediction gets probability 0.9."""
    classes = AFFECTNET8.classes
    lines = ["file,target," + ",".join(f"prob_{c}" for c in classes) + ",system,dataset"]
    for stem, target, pred in rows:
        probs = [0.9 if c == pred else 0.1 / (len(classes) - 1) for c in classes]
        lines.append(f"{target}/{stem}{ext},{target}," + ",".join(f"{p:.6f}" for p in probs) + ",m,val")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_paired_difference_matches_images_by_name_and_counts_changes(tmp_path):
    truth = [("ffhq_1", "happy"), ("ffhq_2", "sad"), ("img_3", "anger"), ("img_4", "fear")]
    a = predictions_csv(tmp_path / "a.csv", [(s, t, p) for (s, t), p in zip(truth, ["happy", "happy", "anger", "sad"])], ".jpg")
    b = predictions_csv(tmp_path / "b.csv", [(s, t, p) for (s, t), p in zip(truth, ["happy", "sad", "anger", "sad"])], ".png")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "paired_difference.py"), str(a), str(b), "--resamples", "200"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "4 images in both; predicted class differs on 25.0 %" in r.stdout  # .jpg and .png copies pair up
    assert "accuracy: 50.00 -> 75.00 %, difference +25.00" in r.stdout


def test_paired_difference_pairs_a_peer_file_by_full_path_and_class_name(tmp_path):
    # A peer's file: full paths, 7 classes in its own order; ours: relative ids, 8 classes.
    peer_classes = ["surprise", "sad", "neutral", "happy", "fear", "disgust", "anger"]
    truth = [("happy", "h1", "happy"), ("sad", "s1", "happy"), ("anger", "a1", "anger")]
    lines = ["file,target," + ",".join(f"prob_{c}" for c in peer_classes) + ",system,dataset"]
    for target, stem, pred in truth:
        probs = [0.9 if c == pred else 0.1 / 6 for c in peer_classes]
        lines.append(f"/data/val/{target}/{stem}.jpg,{target}," + ",".join(f"{q:.6f}" for q in probs) + ",peer,val")
    peer = tmp_path / "peer.csv"
    peer.write_text("\n".join(lines) + "\n")
    ours = predictions_csv(tmp_path / "ours.csv", [(stem, t, p) for (t, stem, _), p in zip(truth, ["happy", "sad", "anger"])], ".jpg")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "paired_difference.py"), str(peer), str(ours), "--resamples", "50"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "3 images in both; predicted class differs on 33.3 %" in r.stdout  # only s1 changes class
    assert "accuracy: 66.67 -> 100.00 %" in r.stdout


def test_paired_difference_failures_wrong_keeps_failed_images(tmp_path):
    truth = [("x1", "happy"), ("x2", "sad"), ("x3", "anger"), ("x4", "fear")]
    a = predictions_csv(tmp_path / "a.csv", [(s, t, t) for s, t in truth], ".jpg")  # all right
    b = predictions_csv(tmp_path / "b.csv", [(s, t, t) for s, t in truth], ".jpg")
    lines = b.read_text().splitlines()
    cells = lines[1].split(",")
    lines[1] = ",".join(cells[:2] + [""] * 8 + cells[10:])  # b failed on x1 (no face found)
    b.write_text("\n".join(lines) + "\n")
    script = [sys.executable, str(ROOT / "benchmarks" / "paired_difference.py"), str(a), str(b), "--resamples", "50"]
    left_out = subprocess.run(script, capture_output=True, text=True, timeout=120)
    kept = subprocess.run(script + ["--failures-wrong"], capture_output=True, text=True, timeout=120)
    assert left_out.returncode == 0 and kept.returncode == 0, left_out.stderr + kept.stderr
    assert "3 images in both" in left_out.stdout and "difference +0.00" in left_out.stdout
    assert "4 images in both; predicted class differs on 25.0 %" in kept.stdout
    assert "accuracy: 100.00 -> 75.00 %, difference -25.00" in kept.stdout


def test_average_predictions_averages_views_keeps_failures_and_never_overwrites(tmp_path):
    a = predictions_csv(tmp_path / "a.csv", [("x", "happy", "happy"), ("y", "sad", "anger")], ".jpg")
    b = predictions_csv(tmp_path / "b.csv", [("x", "happy", "sad"), ("y", "sad", "sad")], ".png")
    lines = b.read_text().splitlines()
    cells = lines[1].split(",")
    lines[1] = ",".join(cells[:2] + [""] * 8 + cells[10:])  # b failed on x
    b.write_text("\n".join(lines) + "\n")
    out = tmp_path / "avg.csv"
    script = str(ROOT / "benchmarks" / "average_predictions.py")
    r = subprocess.run([sys.executable, script, str(a), str(b), "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    import csv

    rows = list(csv.DictReader(open(out)))
    assert rows[0]["prob_happy"] == ""  # one view failed: the image stays failed
    assert float(rows[1]["prob_sad"]) == pytest.approx((0.9 + 0.1 / 7) / 2, abs=1e-5)
    assert float(rows[1]["prob_anger"]) == pytest.approx((0.9 + 0.1 / 7) / 2, abs=1e-5)
    before = out.read_text()
    r = subprocess.run([sys.executable, script, str(a), str(b), "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "not overwriting" in r.stderr and out.read_text() == before


def test_source_bias_weights_each_class_and_source_group(tmp_path):
    # happy: 3 FFHQ faces (right) and 1 other (wrong); sad: 1 FFHQ (wrong) and 3 others (right).
    # Weights P(c) P(s) / P(c, s) are 2/3 for the big groups and 2 for the small ones, so the
    # source-balanced accuracy is (3 x 2/3 + 3 x 2/3) / 8 = 50 % where the plain one is 75 %.
    rows = [(f"ffhq_{i}", "happy", "happy") for i in range(3)] + [("img_0", "happy", "sad"), ("ffhq_3", "sad", "happy")]
    rows += [(f"img_{i}", "sad", "sad") for i in range(1, 4)]
    f = predictions_csv(tmp_path / "p.csv", rows, ".jpg")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "source_bias.py"), str(f)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "accuracy 75.00 %, source-balanced accuracy 50.00 % (8 images)" in r.stdout
    assert "| happy | 100.0 (3) | 0.0 (1) |" in r.stdout


def test_label_shift_separates_the_class_balance_from_the_ranking(tmp_path):
    # 3 happy faces the model calls sad (0.5 against happy 0.4) and 1 sad face it gets right: 25 %.
    # The test set's prior (3:1 against the uniform training prior) or a bias towards happy makes
    # all four right; EM, reading only the probabilities, follows the model's lean towards sad.
    classes = AFFECTNET8.classes
    lines = ["file,target," + ",".join(f"prob_{c}" for c in classes)]
    leaning = {c: 0.1 / 6 for c in classes} | {"happy": 0.4, "sad": 0.5}
    sure = {c: 0.1 / 7 for c in classes} | {"sad": 0.9}
    for i, (target, probs) in enumerate([("happy", leaning)] * 3 + [("sad", sure)]):
        lines.append(f"{target}/img_{i}.jpg,{target}," + ",".join(f"{probs[c]:.6f}" for c in classes))
    f = tmp_path / "p.csv"
    f.write_text("\n".join(lines) + "\n")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "label_shift.py"), str(f)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert ("accuracy 25.00 %; with the true prior (oracle) 100.00 %; best bias (oracle) 100.00 %; "
            "EM prior (label-free) 25.00 %") in r.stdout
    assert "| happy | 3 | 0 |" in r.stdout and "| sad | 1 | 4 |" in r.stdout
