"""PyEmotion 1.0.0 (MIT): CNN on 48x48 grey, 7 classes (PyTorch).

Run with the pyemotion venv's python (see setup.sh):
    $PEERS_HOME/pyemotion/bin/python benchmarks/peers/run_pyemotion.py --data DIR --out FILE.csv [--limit N] [--detect]

Default: the inputs are already face crops, so PyEmotion's MTCNN detector (``DetectFace.predict_emotion``)
is skipped; each crop goes through ``DetectFace._predict``'s own steps: BGR -> grey (as
``predict_emotion`` does), ToPILImage, Resize((48, 48)), ToTensor, Normalize(0.5, 0.5), the bundled
``main_model.pkl``. The network ends in a sigmoid per class (PyEmotion takes the argmax of
exp(output)); we write the sigmoid scores normalised to sum to 1 (same argmax).

--detect: ``DetectFace.predict_emotion``'s path: its ``MTCNN(keep_all=True)`` (facenet-pytorch
defaults: min_face_size 20, thresholds [0.6, 0.7, 0.7], factor 0.709; weights ship in
facenet-pytorch) run on the BGR frame as PyEmotion passes it, boxes rounded to int, the grey crop
``gray[y1:y2, x1:x2]`` (no margin), then the steps above. The largest box (w*h) is kept (PyEmotion
labels every box and returns the last one's emotion); no box -> failure. One departure: box
corners above/left of the image are clipped to 0 (PyEmotion slices with them as they are, and a
negative numpy index wraps around to an empty or wrong crop).
"""

import time

import _common

args = _common.parse_args(__doc__.splitlines()[0])

import cv2  # noqa: E402
import torch  # noqa: E402

torch.set_grad_enabled(False)
_common.limit_torch_threads()
t0 = time.perf_counter()
from PyEmotion import DetectFace  # noqa: E402

det = DetectFace(device="cpu")
CLASSES = [det.emotions[i].lower() for i in range(len(det.emotions))]  # angry disgust fear happy sad surprise neutral
load_seconds = time.perf_counter() - t0


def predict(path):
    img = cv2.imread(path)
    if img is None:
        raise ValueError("cannot decode image")
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if args.detect:
        boxes, _ = det.mtcnn.detect(img)  # BGR frame, as predict_emotion passes it
        if boxes is None or len(boxes) == 0:
            return None
        x1, y1, x2, y2 = (int(round(float(v))) for v in max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])))
        gray = gray[max(0, y1):y2, max(0, x1):x2]  # clipped: a negative start would wrap around
        if gray.size == 0:
            return None
    x = det.transform(gray).unsqueeze(0).to(det.device)
    s = det.network(x)[0].double()
    return (s / s.sum()).tolist()


version = _common.pkg_version("PyEmotion")
_common.run(
    args=args,
    system=f"PyEmotion {version}",
    classes=CLASSES,
    predict=predict,
    load_seconds=load_seconds,
    meta={
        "peer": "pyemotion",
        "versions": {"PyEmotion": version, "torch": torch.__version__,
                     "torchvision": _common.pkg_version("torchvision"), "opencv": cv2.__version__},
        "torch_threads": torch.get_num_threads(),
        "model": "PyEmotion/model/main_model.pkl (NetworkV2)",
        "preprocessing": "BGR->grey, Resize((48,48)), ToTensor, Normalize(0.5,0.5); sigmoid scores normalised to sum 1",
        "detector": ({"name": "PyEmotion default: facenet-pytorch MTCNN(keep_all=True)",
                      "call": "DetectFace.mtcnn.detect(bgr_frame), as DetectFace.predict_emotion",
                      "settings": {"min_face_size": det.mtcnn.min_face_size, "thresholds": list(det.mtcnn.thresholds),
                                   "factor": det.mtcnn.factor, "input": "BGR frame (as PyEmotion passes it)",
                                   "crop_margin": 0, "box": "rounded to int, negative corners clipped to 0"},
                      "several_faces": "largest box (w*h) (PyEmotion returns the last box's label)",
                      "no_face": "failure (empty prob cells)"}
                     if args.detect else "skipped (inputs are face crops)"),
    },
)
