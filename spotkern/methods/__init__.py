"""Training methods: what each method trains and how its networks detect, for training and prediction alike.

A method is one module of this package: its ``TrainingStage`` subclasses (one network each), its config
section (the defaults and checks of its TrainConfig fields) and the builders of its model kinds, registered
with ``register_method`` / ``register_model_kind`` when the module is imported. Every module here is imported
by this package, so a new method is one new file (CONTRIBUTING.md; tests/test_toy_method.py registers one from
a test). Built in: ``dense`` (confidence then displacement) and ``dense-joint`` (dense_anchors.md), ``calf``
(calf.md).

The methods sit above what they use (``inference`` chunking and stitching, ``postprocess``, ``losses``,
``models``, ``data``) and below ``spotkern.train`` (the engine, the trainer, checkpoints) and
``spotkern.runs`` (using a trained run)."""
import importlib
import pkgutil

from spotkern.methods.base import MEDIUM_TOLERANCES, TrainingData, TrainingStage
from spotkern.methods.config import TrainConfig
from spotkern.methods.models import build_model, register_model_kind
from spotkern.methods.registry import METHOD_NAMES, method_entry, register_method

_INFRASTRUCTURE = ("base", "config", "models", "registry", "schedule")
for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_") and _info.name not in _INFRASTRUCTURE:
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["MEDIUM_TOLERANCES", "METHOD_NAMES", "TrainConfig", "TrainingData", "TrainingStage", "build_model",
           "method_entry", "register_method", "register_model_kind"]
