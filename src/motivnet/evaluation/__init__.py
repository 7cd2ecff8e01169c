"""Evaluation: systems' outputs on labelled datasets -> metrics, cross-dataset label mapping,
reports (``motivnet evaluate``).

Flow: ``run_model`` (our model on an ``EmotionDataset``) or ``read_predictions`` (any system,
from a CSV) -> ``SystemOutputs`` -> ``evaluate_outputs`` (``restrict`` to the shared classes,
then ``motivnet.metrics.score``) -> ``EvalResult`` -> ``write_report``.
"""
from .criteria import PUBLISHED_AFFECTNET, architecture, benchmark, criteria, training_data
from .labelmap import LabelMapping, restrict
from .model_run import interleaved_first, present_classes, run_model
from .outputs import SystemOutputs
from .prediction_files import PredictionFileError, read_predictions, write_predictions
from .report import new_report_dir, write_report
from .scoring import EvalResult, evaluate_outputs

__all__ = [
    "EvalResult",
    "LabelMapping",
    "PUBLISHED_AFFECTNET",
    "PredictionFileError",
    "SystemOutputs",
    "architecture",
    "benchmark",
    "criteria",
    "evaluate_outputs",
    "interleaved_first",
    "new_report_dir",
    "present_classes",
    "read_predictions",
    "restrict",
    "run_model",
    "training_data",
    "write_predictions",
    "write_report",
]
