#!/usr/bin/env python
"""Calibrate and check motivnet.faces.align's crop geometry against AffectNet's face crops.

1. Measure: run the default detector on the 96x96 AffectNet-val crops and record where the eyes,
   mouth and box fall in them (fractions of the crop side; roll = |eye-line angle| in degrees).
   From these it derives the constants of ``motivnet/faces/align.py`` (face size F = the
   detector box's longer side): AFFECTNET_MARGIN, _EYE_DIST, _EYE_MOUTH, _LM_SCALE,
   _CENTER_BELOW_EYES, _CENTER_BELOW_BOX.
2. Check: paste other AffectNet-val crops into 400x300 photos (random place, size 64..200 px,
   roll 0 or +-20 degrees), detect, ``align_face`` them to 96x96 (with landmarks and without), detect
   again on the aligned crops, and print the same statistics: they should match step 1.

The AffectNet part (``image*.jpg``) and the FFHQ part (``ffhq_*.jpg``) of the archive are reported
apart; the constants come from the AffectNet part. The data stays outside the repo:

    mkdir -p /tmp/data && tar xf /work/shared/data/affectnet96-val.tar -C /tmp/data
    /work/venv/bin/python benchmarks/faces/calibrate_align.py --data /tmp/data
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[2] / "src"))


def measure(faces: list, side: int) -> dict[str, np.ndarray]:
    """Per-crop statistics (fractions of the crop ``side``) of the best face in each crop."""
    rows = []
    for f in faces:
        if f is None:
            continue
        x1, y1, x2, y2 = f.box
        lm = f.landmarks.astype(np.float64)
        eye_mid = (lm[0] + lm[1]) / 2
        e2e = lm[1] - lm[0]
        e2m = (lm[3] + lm[4]) / 2 - eye_mid
        angle = math.atan2(e2e[1], e2e[0])
        down = np.array([-math.sin(angle), math.cos(angle)])
        along = np.array([math.cos(angle), math.sin(angle)])
        box = max(x2 - x1, y2 - y1)
        centre = np.array([side / 2, side / 2])
        rows.append(dict(
            eye_y=eye_mid[1] / side, eye_x=eye_mid[0] / side,
            eye_dist=np.hypot(*e2e) / side, eye_mouth=np.hypot(*e2m) / side,
            box_w=(x2 - x1) / side, box_h=(y2 - y1) / side, box=box / side,
            box_cx=(x1 + x2) / 2 / side, box_cy=(y1 + y2) / 2 / side,
            roll=abs(math.degrees(angle)),
            # crop centre relative to the eye midpoint, along the face's axes, in box units
            c_below_eyes=float((centre - eye_mid) @ down) / box,
            c_right_of_eyes=float((centre - eye_mid) @ along) / box,
            c_below_box=(side / 2 - (y1 + y2) / 2) / box,
            eye_dist_box=np.hypot(*e2e) / box, eye_mouth_box=np.hypot(*e2m) / box,
        ))
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def summary(name: str, st: dict[str, np.ndarray], n_total: int) -> None:
    # roll: |eye-line angle| in degrees
    keys = ("eye_y", "eye_x", "eye_dist", "eye_mouth", "box_w", "box_h", "box_cy", "roll")
    print(f"{name:34s} found {len(st['eye_y'])}/{n_total}  " + "  ".join(
        f"{k}={np.median(st[k]):.3f}" + (f"±{np.std(st[k]):.3f}" if k in ("eye_y", "eye_dist") else "")
        for k in keys))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/tmp/data", help="folder with affectnet96/ (extracted val archive)")
    ap.add_argument("--n", type=int, default=1500, help="crops to measure (check uses n/3 others)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    root = Path(args.data) / "affectnet96"
    if not root.is_dir():
        print(f"SKIP: {root} not found (extract /work/shared/data/affectnet96-val.tar there)")
        return 0
    from PIL import Image

    from motivnet.faces import Face, MissingBackendError, align_face, get_detector
    from motivnet.faces import align as align_mod

    try:
        det = get_detector(min_score=0.5, max_faces=1)
    except MissingBackendError as e:
        print(f"SKIP: {e}")
        return 0
    rng = np.random.default_rng(args.seed)
    parts = {
        "affectnet": sorted(p for p in root.rglob("image*.jpg")),
        "ffhq": sorted(p for p in root.rglob("ffhq_*.jpg")),
    }
    def load(p: Path) -> np.ndarray:
        return np.asarray(Image.open(p).convert("RGB"))

    stats, held_out = {}, []
    for part, paths in parts.items():
        idx = rng.permutation(len(paths))
        n = min(args.n, len(paths) * 3 // 4)
        crops = [load(paths[i]) for i in idx[:n]]
        if part == "affectnet":
            held_out = [load(paths[i]) for i in idx[n: n + args.n // 3]]
        faces = [(det.detect(c) or [None])[0] for c in crops]
        stats[part] = measure(faces, 96)
        summary(f"raw {part} 96px crops", stats[part], n)

    a = stats["affectnet"]
    med = {k: float(np.median(v)) for k, v in a.items()}
    # F (face size) = the detector box's longer side; everything below is in units of F.
    eye_dist, eye_mouth = med["eye_dist_box"], med["eye_mouth_box"]
    f_lm = np.maximum(a["eye_dist_box"] / eye_dist, a["eye_mouth_box"] / eye_mouth)  # F_landmarks / F_box
    lm_scale = float(1.0 / np.median(f_lm))
    margin = (1.0 / med["box"] - 1.0) / 2.0
    below_eyes = float(np.median(a["c_below_eyes"] / (lm_scale * f_lm)))
    print("\nconstants for src/motivnet/faces/align.py (from the AffectNet part):")
    print(f"AFFECTNET_MARGIN = {margin:.3f}\n_EYE_DIST = {eye_dist:.3f}\n_EYE_MOUTH = {eye_mouth:.3f}\n"
          f"_LM_SCALE = {lm_scale:.3f}\n_CENTER_BELOW_EYES = {below_eyes:.3f}\n"
          f"_CENTER_BELOW_BOX = {med['c_below_box']:.3f}")
    print(f"(crop centre right of the eye midpoint: {med['c_right_of_eyes']:.3f} F; assumed 0)")
    current = dict(AFFECTNET_MARGIN=align_mod.AFFECTNET_MARGIN, _EYE_DIST=align_mod._EYE_DIST,
                   _EYE_MOUTH=align_mod._EYE_MOUTH, _LM_SCALE=align_mod._LM_SCALE,
                   _CENTER_BELOW_EYES=align_mod._CENTER_BELOW_EYES, _CENTER_BELOW_BOX=align_mod._CENTER_BELOW_BOX)
    print("align.py now has: " + ", ".join(f"{k}={v:.3f}" for k, v in current.items()))

    # Check: photos made from held-out crops -> detect -> align -> detect again -> same statistics?
    from compare_detectors import _load_backgrounds, _paste  # same canvas maker as the benchmark

    for roll in (0.0, 20.0):
        bgs = _load_backgrounds(rng, len(held_out), 400, 300, grey=False)
        aligned_lm, aligned_box, found = [], [], 0
        for crop, bg in zip(held_out, bgs):
            size = round(math.exp(rng.uniform(math.log(64), math.log(200))))
            img, _ = _paste(crop, bg, size, float(rng.choice([-roll, roll])), rng)
            faces = det.detect(img)
            if not faces:
                continue
            found += 1
            f = faces[0]
            aligned_lm.append(align_face(img, f, output_size=96))
            aligned_box.append(align_face(img, Face(f.box, f.score, None), output_size=96))
        for name, crops in (("landmarks", aligned_lm), ("box only", aligned_box)):
            faces = [(det.detect(c) or [None])[0] for c in crops]
            summary(f"aligned, roll ±{roll:.0f}, {name}", measure(faces, 96), len(crops))
        print(f"  (photos with a face found: {found}/{len(held_out)})")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent))
    raise SystemExit(main())
