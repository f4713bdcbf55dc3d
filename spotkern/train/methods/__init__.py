"""Training methods, one module each, registered in ``spotkern.train.registry`` when imported:
``dense`` (confidence then displacement) and ``dense-joint`` (dense_anchors.md), ``calf`` (calf.md).

Every module of this package is imported here, so a new method is one new file (CONTRIBUTING.md)."""
import importlib
import pkgutil

from spotkern.train.methods.base import MEDIUM_TOLERANCES, TrainingData, TrainingStage

for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_") and _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["MEDIUM_TOLERANCES", "TrainingData", "TrainingStage"]
