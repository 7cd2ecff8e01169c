"""Datasets for training and evaluation: every format -> ``EmotionDataset`` of
(image (3, H, W) float32, label id) through the one preprocessing path."""
from .affectnet import read_affectnet
from .augment import AugmentConfig, build_augment
from .ckplus import read_ckplus
from .dataset import Augment, EmotionDataset, Record, sample_seed
from .errors import BadItems, DataError
from .fer2013 import read_fer2013
from .folders import read_folders
from .jaffe import read_jaffe
from .json_labels import read_json_labels
from .open import FORMATS, build_dataset, detect_format, open_dataset
from .selection import Split, balanced_sample, load_manifest, save_manifest, select, split_train_val
from .yolo import read_yolo

__all__ = [
    "Augment",
    "AugmentConfig",
    "BadItems",
    "DataError",
    "EmotionDataset",
    "FORMATS",
    "Record",
    "Split",
    "balanced_sample",
    "build_augment",
    "build_dataset",
    "detect_format",
    "load_manifest",
    "open_dataset",
    "read_affectnet",
    "read_ckplus",
    "read_fer2013",
    "read_folders",
    "read_jaffe",
    "read_json_labels",
    "read_yolo",
    "sample_seed",
    "save_manifest",
    "select",
    "split_train_val",
]
