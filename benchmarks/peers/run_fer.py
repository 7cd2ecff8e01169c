"""fer (Justin Shenk, MIT): mini-Xception, 64x64 grey, FER2013's 7 classes.

Run with the fer venv's python (see setup.sh):
    $PEERS_HOME/fer/bin/python benchmarks/peers/run_fer.py --data DIR --out FILE.csv [--limit N] [--detect]

Default: the inputs are already face crops, so the Haar detector is skipped: each image is handed to
``FER.detect_emotions`` as one face box covering the whole image, with offsets (0, 0) (the 10 px
default offsets are meant for the detector's tight boxes). Everything else is fer's own path:
BGR -> grey, square box, resize to 64x64, scale to [-1, 1], the bundled quantized tflite model (run by
ai-edge-litert through a small `tensorflow` shim instead of full TensorFlow). fer rounds its scores
to 2 decimals; we record the model's unrounded softmax instead (same model output, no ties).

--detect: fer as its README runs it: ``FER()`` with its defaults (Haar cascade
haarcascade_frontalface_default, mtcnn=False, scaleFactor 1.1, minNeighbors 5, minSize 50x50,
offsets (10, 10)) and ``detect_emotions(img)`` with no face boxes: fer finds the faces, squares
each box, adds the offsets, crops from its 40 px mean-padded grey image and classifies. The
largest box (w*h) is kept; no box -> failure. fer's minSize 50 means no face is ever found in a
48x48 FER2013 image: that is fer's default, kept as is.
"""

import time

import _common

args = _common.parse_args(__doc__.splitlines()[0])
litert_version = _common.install_tflite_shim()

import cv2  # noqa: E402
import numpy as np  # noqa: E402

t0 = time.perf_counter()
from fer.fer import FER, PADDING  # noqa: E402

# --detect: fer's defaults (Haar, minSize 50, offsets 10); else the whole crop is the face box.
detector = FER(use_tflite=True) if args.detect else FER(offsets=(0, 0), use_tflite=True)
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
    if args.detect:
        faces = detector.detect_emotions(img)  # fer's own Haar detector
    else:
        faces = detector.detect_emotions(img, face_rectangles=[(0, 0, w, h)])
    if not faces or not _raw:
        return None
    # faces[i] and _raw[-1][i] are the same face (fer classifies its valid boxes in one batch)
    best = max(range(len(faces)), key=lambda i: int(faces[i]["box"][2]) * int(faces[i]["box"][3]))
    return _raw[-1][best].tolist()


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
        "preprocessing": ("BGR->grey, fer's Haar box squared, offsets (10,10), crop from the 40 px padded image, "
                          "resize 64x64, (x/255-0.5)*2" if args.detect else
                          "BGR->grey, whole crop as the face box, offsets (0,0), resize 64x64, (x/255-0.5)*2"),
        "detector": ({"name": "fer default: OpenCV Haar cascade haarcascade_frontalface_default.xml (mtcnn=False)",
                      "call": "FER().detect_emotions(img), no face_rectangles",
                      # read back from the FER object (name-mangled private fields), not assumed
                      "settings": {"scaleFactor": detector._FER__scale_factor,
                                   "minNeighbors": detector._FER__min_neighbors,
                                   "minSize": detector._FER__min_face_size,
                                   "offsets": list(detector._FER__offsets), "padding": PADDING},
                      "several_faces": "largest box (w*h)", "no_face": "failure (empty prob cells)"}
                     if args.detect else "skipped (inputs are face crops)"),
    },
)
