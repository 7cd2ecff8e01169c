"""motivnet: facial emotion recognition with a Sapiens ViT encoder and an ML-Decoder head."""
from .labels import AFFECTNET7, AFFECTNET8, FER2013, LabelSet, label_set
from .models import MLDecoder, MLDecoderConfig, MotivNet, MotivNetConfig, SapiensConfig, SapiensViT
from .recognizer import EmotionRecognizer, load
from .records import FaceRecord

__version__ = "0.1.0"

__all__ = [
    "AFFECTNET7",
    "AFFECTNET8",
    "EmotionRecognizer",
    "FaceRecord",
    "FER2013",
    "LabelSet",
    "MLDecoder",
    "MLDecoderConfig",
    "MotivNet",
    "MotivNetConfig",
    "SapiensConfig",
    "SapiensViT",
    "__version__",
    "label_set",
    "load",
]
