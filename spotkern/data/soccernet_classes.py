"""SoccerNet class lists and CALF's K tables (calf.md sections 2.1 and 2.2)."""
from __future__ import annotations

import numpy as np

from spotkern._soccernet import CLASSES_V1_CALF, CLASSES_V2, K_V1_SECONDS, K_V2_SECONDS

__all__ = [
    "CLASSES_V1_CALF", "CLASSES_V2", "K_V1_FRAMES", "K_V1_SECONDS", "K_V2_FRAMES", "K_V2_SECONDS", "LABEL_FILES",
    "V1_LABEL_STRINGS", "V1_LABEL_TO_CALF", "V1_RESULT_LABELS", "k_frames",
]

# SoccerNet-v1 ``Labels.json`` label string -> CALF v1 class id (calf.md 2.2, context-aware-loss
# utils/constants.py). Any other string (e.g. ``penalty-missed``) is ignored.
V1_LABEL_TO_CALF = {
    "soccer-ball": 0, "soccer-ball-own": 0,
    "r-card": 1, "y-card": 1, "yr-card": 1,
    "substitution-in": 2,
}
#: every label string SoccerNet-v1 uses (soccernet_metric.md 2.2), mapped or not
V1_LABEL_STRINGS = ("soccer-ball", "soccer-ball-own", "y-card", "r-card", "yr-card", "substitution-in",
                    "penalty-missed")
# The official evaluator's version-1 label strings, indexed by CALF v1 id: results files must say
# soccer / card / subs, not goal / card / subs (calf.md 2.2 last paragraph, 10.5).
V1_RESULT_LABELS = ("soccer", "card", "subs")
#: label file of each SoccerNet version (soccernet_metric.md 8)
LABEL_FILES = {1: "Labels.json", 2: "Labels-v2.json"}


def k_frames(k_seconds: np.ndarray, fps: int = 2) -> np.ndarray:
    """Seconds -> frames, element-wise (calf.md defect D3: never repeat the list)."""
    return (np.asarray(k_seconds, dtype=np.int64) * int(fps)).astype(np.int32)


K_V2_FRAMES = k_frames(K_V2_SECONDS)
K_V1_FRAMES = k_frames(K_V1_SECONDS)
