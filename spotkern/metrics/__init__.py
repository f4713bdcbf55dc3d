"""Evaluation metrics for action spotting.

* SoccerNet average-mAP (soccernet_metric.md), bit-exact with the official evaluator and compiled with
  numba: :func:`evaluate` (files), :func:`average_map_from_arrays` (sparse events in memory),
  :func:`average_map_from_dense` (per-half dense arrays, as the official ``average_mAP``).
* E2E-Spot frame-tolerance mAP (soccernet_metric.md section 13): :func:`e2e_spot_map`.
"""
from spotkern.metrics.dictionaries import EVENT_DICTIONARY_V1, EVENT_DICTIONARY_V2, class_names
from spotkern.metrics.e2e_spot import e2e_spot_map
from spotkern.metrics.evaluate import evaluate
from spotkern.metrics.io import MetricFileError
from spotkern.metrics.soccernet import METRICS, average_map_from_arrays, average_map_from_dense

#: The name soccernet_metric.md section 0 gives the files entry point.
soccernet_average_map = evaluate

__all__ = [
    "evaluate", "soccernet_average_map", "average_map_from_arrays", "average_map_from_dense", "e2e_spot_map",
    "MetricFileError",
    "METRICS", "EVENT_DICTIONARY_V1", "EVENT_DICTIONARY_V2", "class_names",
]
