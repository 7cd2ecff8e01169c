"""facex 1.1.0 (MIT): CNN on 200x200 inputs (grey replicated to 3 channels), 7 classes, tflite.

Run with the facex venv's python (see setup.sh):
    $PEERS_HOME/facex/bin/python benchmarks/peers/run_facex.py --data DIR --out FILE.csv [--limit N] [--detect]

Default: the inputs are already face crops, so facex's Haar detector is skipped: the whole image is the face
and goes through facex's own ``EmotionClassifier`` steps -- ``_preprocess_frame`` (BGR -> grey, as
facex does on camera frames) then ``detect_emotion`` (skimage resize to 200x200x3, [0, 1] floats,
bundled ``model_optimized.tflite``). facex imports TensorFlow only for ``tf.lite.Interpreter``:
a shim hands it ai-edge-litert's interpreter instead.
facex's labels anger/sadness/surprised are written as prob_angry/prob_sad/prob_surprise.

--detect: ``EmotionClassifier.predict(img)``, facex's own full path: its bundled
haarcascade_frontalface_default.xml via ``detect_faces`` (``detectMultiScale(grey, 1.1, 4)``, no
minimum size), ``crop_center`` (the box itself, no margin) and ``detect_emotion`` per face. The
largest box (w*h) is kept; no box -> failure.
"""

import os
import pathlib
import time

import _common

args = _common.parse_args(__doc__.splitlines()[0])
litert_version = _common.install_tflite_shim()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

t0 = time.perf_counter()
import facex  # noqa: E402
from facex.core import EmotionClassifier  # noqa: E402

MODEL = os.path.join(pathlib.Path(facex.__file__).parent, "assets", "model_optimized.tflite")
clf = EmotionClassifier(MODEL)
PEER_CLASSES = list(clf.category)  # anger disgust fear happy neutral sadness surprised
COMMON = {"anger": "angry", "sadness": "sad", "surprised": "surprise"}
CLASSES = [COMMON.get(c, c) for c in PEER_CLASSES]
load_seconds = time.perf_counter() - t0


def predict(path):
    img = cv2.imread(path)
    if img is None:
        raise ValueError("cannot decode image")
    if args.detect:  # facex's own detector + crop + classifier
        found = clf.predict(img)
        if not found:
            return None
        best = max(found, key=lambda f: int(f["bbox"][2]) * int(f["bbox"][3]))
        return [float(best["emot"][c]) for c in PEER_CLASSES]
    gray = clf._preprocess_frame(img)
    scores = clf.detect_emotion(gray)  # {label: score} in PEER_CLASSES order
    return [float(scores[c]) for c in PEER_CLASSES]


version = _common.pkg_version("facex")
_common.run(
    args=args,
    system=f"facex {version}",
    classes=CLASSES,
    predict=predict,
    load_seconds=load_seconds,
    meta={
        "peer": "facex",
        "peer_labels": PEER_CLASSES,
        "versions": {"facex": version, "ai-edge-litert": litert_version, "opencv": cv2.__version__,
                     "scikit-image": _common.pkg_version("scikit-image"), "numpy": np.__version__},
        "model": "facex/assets/model_optimized.tflite",
        "preprocessing": ("BGR->grey, " + ("facex's Haar box (no margin)" if args.detect else "whole crop as the face")
                          + ", skimage resize to 200x200x3 (grey replicated), [0,1]"),
        "detector": ({"name": "facex default: OpenCV Haar cascade facex/assets/haarcascade_frontalface_default.xml",
                      "call": "EmotionClassifier.predict(img) (detect_faces + crop_center + detect_emotion)",
                      "settings": {"scaleFactor": 1.1, "minNeighbors": 4, "minSize": None, "crop_margin": 0},
                      "several_faces": "largest box (w*h)", "no_face": "failure (empty prob cells)"}
                     if args.detect else "skipped (inputs are face crops)"),
    },
)
