"""Benchmark scripts whose printout an adoption rule reads: run them on hand-made predictions files."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
