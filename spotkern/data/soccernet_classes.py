"""SoccerNet class lists and CALF's K tables (calf.md sections 2.1 and 2.2)."""
from __future__ import annotations

import numpy as np

CLASSES_V2 = (
    "Penalty", "Kick-off", "Goal", "Substitution", "Offside", "Shots on target", "Shots off target",
    "Clearance", "Ball out of play", "Throw-in", "Foul", "Indirect free-kick", "Direct free-kick",
    "Corner", "Yellow card", "Red card", "Yellow->red card",
)

# K in seconds, rows K1, K2, K3, K4, one column per v2 class (sn-spotting config/classes.py).
K_V2_SECONDS = np.array(
    [
        [-100, -98, -20, -40, -96, -5, -8, -93, -99, -31, -75, -10, -97, -75, -20, -84, -18],
        [-50, -49, -10, -20, -48, -3, -4, -46, -50, -15, -37, -5, -49, -38, -10, -42, -9],
        [50, 49, 60, 10, 48, 3, 4, 46, 50, 15, 37, 5, 49, 38, 10, 42, 9],
        [100, 98, 90, 20, 96, 5, 8, 93, 99, 31, 75, 10, 97, 75, 20, 84, 18],
    ],
    dtype=np.int64,
)

CLASSES_V1_CALF = ("goal", "card", "subs")
K_V1_SECONDS = np.array([[-20, -20, -40], [-10, -10, -20], [60, 10, 10], [90, 20, 20]], dtype=np.int64)

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
