"""PyEmotion 1.0.0 (MIT): CNN on 48x48 grey, 7 classes (PyTorch).

Run with the pyemotion venv's python (see setup.sh):
    $PEERS_HOME/pyemotion/bin/python benchmarks/peers/run_pyemotion.py --data DIR --out FILE.csv [--limit N]

The inputs are already face crops, so PyEmotion's MTCNN detector (``DetectFace.predict_emotion``)
is skipped; each crop goes through ``DetectFace._predict``'s own steps: BGR -> grey (as
``predict_emotion`` does), ToPILImage, Resize((48, 48)), ToTensor, Normalize(0.5, 0.5), the bundled
``main_model.pkl``. The network ends in a sigmoid per class (PyEmotion takes the argmax of
exp(output)); we write the sigmoid scores normalised to sum to 1 (same argmax).
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
        "detector": "skipped (inputs are face crops)",
    },
)
