"""what-the-face-classification 0.0.27: small CNN on 48x48 grey, FER2013's 7 classes (PyTorch).

Run with the what_the_face venv's python (see setup.sh):
    $PEERS_HOME/what_the_face/bin/python benchmarks/peers/run_what_the_face.py --data DIR --out FILE.csv [--limit N] [--detect]

Licence: the wheel's LICENSE file is GPL-3.0 (its classifier says MIT); we only run it.
Default: the inputs are already face crops, so the package's Haar crop (``Image_classifier.face_crop``) is
skipped; the rest is ``Image_classifier.predict``'s own path: PIL image, EXIF transpose,
torchvision Resize(48) + CenterCrop(48) + Grayscale + ToTensor (no normalisation), the bundled
``active_model.pth``, softmax. (Its predict also answers "no face detected" when the Haar cascade
finds nothing and the top score is < 0.6; with the detector skipped that never applies.)

--detect: ``Image_classifier.predict``'s whole path: exif_transpose, then ``face_crop``'s Haar
cascade (its bundled haarcascade_frontalface_default.xml, ``detectMultiScale(np.array(image), 1.3,
5)`` on the PIL image's array, no minimum size), crop to the box (no margin), transform, net,
softmax. Two departures, both stated in the JSON meta: the largest box (w*h) is kept where the
package takes the cascade's first; and the package's own no-face rule is kept -- with no box it
classifies the whole image and answers "no face detected" only when the top softmax is < 0.6 --
so a no-box image is a failure only when its top score is < 0.6 (the JSON counts the no-box
images kept by that rule under detector.no_box_kept).
"""

import time

import _common

args = _common.parse_args(__doc__.splitlines()[0])

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

torch.set_grad_enabled(False)
_common.limit_torch_threads()
t0 = time.perf_counter()
from what_the_face_classification import inference  # noqa: E402
from what_the_face_classification.inference import Image_classifier  # noqa: E402

clf = Image_classifier()
clf.net.eval()
CLASSES = list(clf.classes)  # angry disgust fear happy sad surprise neutral
# --detect: the package's cascade and settings (face_crop builds it per call; built once here)
CASCADE = cv2.CascadeClassifier(inference.xml_file)
SCALE_FACTOR, MIN_NEIGHBORS, MIN_TOP = 1.3, 5, 0.60  # face_crop's detectMultiScale args; predict's 0.6
DETECTOR = {"name": "what-the-face default: OpenCV Haar cascade (package's haarcascade_frontalface_default.xml)",
            "call": "Image_classifier.face_crop's detectMultiScale(np.array(image), 1.3, 5), crop to the box",
            "settings": {"scaleFactor": SCALE_FACTOR, "minNeighbors": MIN_NEIGHBORS, "minSize": None,
                         "crop_margin": 0},
            "several_faces": "largest box (w*h) (the package takes the first)",
            "no_face": "package rule: classify the whole image, failure only if top softmax < 0.6",
            "no_box_kept": 0}
load_seconds = time.perf_counter() - t0


def predict(path):
    with Image.open(path) as im:
        im.load()
        try:
            im = ImageOps.exif_transpose(im)
        except Exception:
            pass
        found = False
        if args.detect:
            faces = CASCADE.detectMultiScale(np.array(im), SCALE_FACTOR, MIN_NEIGHBORS)
            if len(faces):
                x, y, w, h = (int(v) for v in max(faces, key=lambda f: int(f[2]) * int(f[3])))
                im, found = im.crop((x, y, x + w, y + h)), True
        x = clf.transform(im).float().to(clf.device)  # (1, 48, 48): the package feeds it unbatched
    out = clf.net(x)
    probs = F.softmax(out, 1)[0]
    if args.detect and not found:
        if float(probs.max()) < MIN_TOP:
            return None  # the package answers "no face detected"
        DETECTOR["no_box_kept"] += 1  # the package answers with a label without a face box
    return probs.tolist()


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
        "preprocessing": ("PIL, exif_transpose, " + ("Haar box crop, " if args.detect else "")
                          + "Resize(48), CenterCrop(48), Grayscale, ToTensor ([0,1])"),
        "detector": DETECTOR if args.detect else "skipped (inputs are face crops)",
    },
)
