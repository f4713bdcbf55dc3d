"""Training (CALF, dense anchors two-step and joint), prediction with trained runs, and throughput
benchmarks. Entry points: :func:`train` with a :class:`TrainConfig`, :func:`predict_dataset`.

The training methods register themselves when ``spotkern.train.methods`` is imported (here)."""
from spotkern.train import methods  # noqa: F401  (registers the training methods)
from spotkern.train.config import TrainConfig
from spotkern.train.predict import predict_dataset
from spotkern.train.trainer import train

__all__ = ["TrainConfig", "predict_dataset", "train"]
