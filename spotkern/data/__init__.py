"""Datasets (SoccerNet layout, generic format, synthetic writer), chunk samplers and batching."""
from spotkern.data.dataset import Half, SpottingDataset, read_dataset, read_generic, read_soccernet
from spotkern.data.labels import DataFormatError, events_from_annotations, parse_game_time
from spotkern.data.synth import write_synthetic_soccernet

__all__ = [
    "DataFormatError",
    "Half",
    "SpottingDataset",
    "events_from_annotations",
    "parse_game_time",
    "read_dataset",
    "read_generic",
    "read_soccernet",
    "write_synthetic_soccernet",
]
