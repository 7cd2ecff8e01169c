"""fer (Justin Shenk, MIT): mini-Xception, 64x64 grey, FER2013's 7 classes.

Run with the fer venv's python (see setup.sh):
    $PEERS_HOME/fer/bin/python benchmarks/peers/run_fer.py --data DIR --out FILE.csv [--limit N]

The inputs are already face crops, so the Haar detector is skipped: each image is handed to
``FER.detect_emotions`` as one face box covering the whole image, with offsets (0, 0) (the 10 px
default offsets are meant for the detector's tight boxes). Everything else is fer's own path:
BGR -> grey, square box, resize to 64x64, scale to [-1, 1], the bundled quantized tflite model (run by
ai-edge-litert through a small `tensorflow` shim instead of full TensorFlow). fer rounds its scores
to 2 decimals; we record the model's unrounded softmax instead (same model output, no ties).
"""

import time

import _common

args = _common.parse_args(__doc__.splitlines()[0])
litert_version = _common.install_tflite_shim()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

t0 = time.perf_counter()
from fer.fer import FER  # noqa: E402

detector = FER(offsets=(0, 0), use_tflite=True)
LABELS = FER._get_labels()
CLASSES = [LABELS[i] for i in range(len(LABELS))]  # angry disgust fear happy sad surprise neutral

_raw = []
_classify = detector._classify_emotions


def _capture(gray_faces):
    out = _classify(gray_faces)
    _raw.append(np.asarray(out, dtype=np.float64))
    return out


detector._classify_emotions = _capture  # keep the unrounded scores of fer's own model call
load_seconds = time.perf_counter() - t0


def predict(path):
    img = cv2.imread(path)  # what fer's load_image does for a path: BGR
    if img is None:
        raise ValueError("cannot decode image")
    h, w = img.shape[:2]
    _raw.clear()
    faces = detector.detect_emotions(img, face_rectangles=[(0, 0, w, h)])
    if not faces or not _raw:
        return None
    return _raw[-1][0].tolist()


version = _common.pkg_version("fer")
_common.run(
    args=args,
    system=f"fer {version}",
    classes=CLASSES,
    predict=predict,
    load_seconds=load_seconds,
    meta={
        "peer": "fer",
        "versions": {"fer": version, "ai-edge-litert": litert_version, "opencv": cv2.__version__},
        "model": "fer/data/emotion_model_quantized.tflite (mini-Xception)",
        "preprocessing": "BGR->grey, whole crop as the face box, offsets (0,0), resize 64x64, (x/255-0.5)*2",
        "detector": "skipped (inputs are face crops)",
    },
)
