"""what-the-face-classification 0.0.27: small CNN on 48x48 grey, FER2013's 7 classes (PyTorch).

Run with the what_the_face venv's python (see setup.sh):
    $PEERS_HOME/what_the_face/bin/python benchmarks/peers/run_what_the_face.py --data DIR --out FILE.csv [--limit N]

Licence: the wheel's LICENSE file is GPL-3.0 (its classifier says MIT); we only run it.
The inputs are already face crops, so the package's Haar crop (``Image_classifier.face_crop``) is
skipped; the rest is ``Image_classifier.predict``'s own path: PIL image, EXIF transpose,
torchvision Resize(48) + CenterCrop(48) + Grayscale + ToTensor (no normalisation), the bundled
``active_model.pth``, softmax. (Its predict also answers "no face detected" when the Haar cascade
finds nothing and the top score is < 0.6; with the detector skipped that never applies.)
"""

import time

import _common

args = _common.parse_args(__doc__.splitlines()[0])

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

torch.set_grad_enabled(False)
_common.limit_torch_threads()
t0 = time.perf_counter()
from what_the_face_classification.inference import Image_classifier  # noqa: E402

clf = Image_classifier()
clf.net.eval()
CLASSES = list(clf.classes)  # angry disgust fear happy sad surprise neutral
load_seconds = time.perf_counter() - t0


def predict(path):
    with Image.open(path) as im:
        im.load()
        try:
            im = ImageOps.exif_transpose(im)
        except Exception:
            pass
        x = clf.transform(im).float().to(clf.device)  # (1, 48, 48): the package feeds it unbatched
    out = clf.net(x)
    return F.softmax(out, 1)[0].tolist()


version = _common.pkg_version("what-the-face-classification")
_common.run(
    args=args,
    system=f"what-the-face {version}",
    classes=CLASSES,
    predict=predict,
    load_seconds=load_seconds,
    meta={
        "peer": "what_the_face",
        "versions": {"what-the-face-classification": version, "torch": torch.__version__,
                     "torchvision": _common.pkg_version("torchvision"), "pillow": _common.pkg_version("pillow")},
        "torch_threads": torch.get_num_threads(),
        "model": "what_the_face_classification/active_model.pth",
        "preprocessing": "PIL, exif_transpose, Resize(48), CenterCrop(48), Grayscale, ToTensor ([0,1])",
        "detector": "skipped (inputs are face crops)",
    },
)
