"""Label dictionaries of the SoccerNet action-spotting metric, in the official evaluator's class order
(soccernet_metric.md section 1), and the version-1 ground-truth label rule (section 8).

These are the metric's own copies: the evaluation order of classes is part of the metric's definition
(it fixes the per-class result order), so it must not follow edits to training-side class lists.
"""
from __future__ import annotations

EVENT_DICTIONARY_V2 = {
    "Penalty": 0, "Kick-off": 1, "Goal": 2, "Substitution": 3, "Offside": 4, "Shots on target": 5,
    "Shots off target": 6, "Clearance": 7, "Ball out of play": 8, "Throw-in": 9, "Foul": 10,
    "Indirect free-kick": 11, "Direct free-kick": 12, "Corner": 13, "Yellow card": 14, "Red card": 15,
    "Yellow->red card": 16,
}

EVENT_DICTIONARY_V1 = {"card": 0, "subs": 1, "soccer": 2}

LABEL_FILES = {2: "Labels-v2.json", 1: "Labels.json"}


def event_dictionary(version: int) -> dict:
    """label -> class id of SoccerNet ``version`` (1 or 2)."""
    return EVENT_DICTIONARY_V2 if version == 2 else EVENT_DICTIONARY_V1


def class_names(version: int) -> list:
    """Class names ordered by class id."""
    d = event_dictionary(version)
    return sorted(d, key=d.__getitem__)


def v1_ground_truth_class(label: str) -> int | None:
    """Version-1 ground-truth label -> class id by substring, in the official order (section 8):
    "card" -> 0, else "subs" -> 1, else "soccer" -> 2, else None (skipped, e.g. ``penalty-missed``)."""
    if "card" in label:
        return 0
    if "subs" in label:
        return 1
    if "soccer" in label:
        return 2
    return None
