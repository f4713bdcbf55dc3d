"""Training (the engine, the trainer, checkpoints) of the methods of ``spotkern.methods``, and throughput
benchmarks. Entry point: :func:`train` with a :class:`TrainConfig`. Prediction with a trained run is
``spotkern.runs.predict_dataset``."""
from spotkern.methods import TrainConfig
from spotkern.train.trainer import train

__all__ = ["TrainConfig", "train"]
