"""facex 1.1.0 (MIT): CNN on 200x200 inputs (grey replicated to 3 channels), 7 classes, tflite.

Run with the facex venv's python (see setup.sh):
    $PEERS_HOME/facex/bin/python benchmarks/peers/run_facex.py --data DIR --out FILE.csv [--limit N]

The inputs are already face crops, so facex's Haar detector is skipped: the whole image is the face
and goes through facex's own ``EmotionClassifier`` steps -- ``_preprocess_frame`` (BGR -> grey, as
facex does on camera frames) then ``detect_emotion`` (skimage resize to 200x200x3, [0, 1] floats,
bundled ``model_optimized.tflite``). facex imports TensorFlow only for ``tf.lite.Interpreter``:
a shim hands it ai-edge-litert's interpreter instead.
facex's labels anger/sadness/surprised are written as prob_angry/prob_sad/prob_surprise.
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
        "preprocessing": "BGR->grey, whole crop as the face, skimage resize to 200x200x3 (grey replicated), [0,1]",
        "detector": "skipped (inputs are face crops)",
    },
)
