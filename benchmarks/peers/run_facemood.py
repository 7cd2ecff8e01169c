"""facemood 1.0.1 (Apache-2.0): Keras CNN on 170x170 RGB, 7 classes (needs full TensorFlow).

Run with the facemood venv's python (see setup.sh):
    $PEERS_HOME/facemood/bin/python benchmarks/peers/run_facemood.py --data DIR --out FILE.csv [--limit N] [--detect]

facemood has no detector: its camera loop feeds the whole frame. We feed each face crop through its
``process_image`` steps: PIL RGB (grey images converted to RGB; the package converts camera frames
BGR -> RGB), resize to 170x170 (PIL default filter), /255, the bundled ``model__version1.0.0__.h5``.

--detect changes nothing: facemood has no face detector of its own (its users feed whole frames),
so the whole image is what it classifies in either mode; the JSON meta says so.
"""

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # CPU only: no cuInit noise

import _common

args = _common.parse_args(__doc__.splitlines()[0])

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

t0 = time.perf_counter()
import facemood  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(_common.THREADS)
tf.config.threading.set_inter_op_parallelism_threads(_common.THREADS)

MODEL = os.path.join(os.path.dirname(facemood.__file__), "model__version1.0.0__.h5")
model = tf.keras.models.load_model(MODEL, compile=False)
PEER_CLASSES = ["Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral"]  # emotion_predictor.py
CLASSES = [c.lower() for c in PEER_CLASSES]
last = model.layers[-1]
SOFTMAX = getattr(getattr(last, "activation", None), "__name__", "") == "softmax"
load_seconds = time.perf_counter() - t0


def predict(path):
    with Image.open(path) as im:
        im = im.convert("RGB").resize((170, 170))
        x = np.expand_dims(np.array(im) / 255.0, 0)
    out = model(x, training=False).numpy()[0].astype(np.float64)
    if not SOFTMAX:  # logits: softmax them (argmax unchanged)
        out = np.exp(out - out.max())
        out /= out.sum()
    return out.tolist()


version = _common.pkg_version("facemood")
_common.run(
    args=args,
    system=f"facemood {version}",
    classes=CLASSES,
    predict=predict,
    load_seconds=load_seconds,
    meta={
        "peer": "facemood",
        "versions": {"facemood": version, "tensorflow": tf.__version__, "pillow": _common.pkg_version("pillow")},
        "model": "facemood/model__version1.0.0__.h5",
        "output_activation": "softmax" if SOFTMAX else "logits (softmaxed here)",
        "preprocessing": "PIL RGB, resize 170x170, /255",
        "detector": ("none in the package: --detect changes nothing (whole image, as facemood's camera loop)"
                     if args.detect else "none in the package"),
    },
)
