"""Training: ``train(TrainConfig) -> Path`` of the best checkpoint, and its CLI adapter."""
from .config import DataConfig, ModelConfig, OptimConfig, TrainConfig, load_config
from .engine import StopTraining, train

__all__ = ["DataConfig", "ModelConfig", "OptimConfig", "StopTraining", "TrainConfig", "load_config", "train"]
