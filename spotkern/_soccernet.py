"""SoccerNet's class lists and CALF's K tables in seconds (calf.md sections 2.1 and 2.2), at the lowest
floor of the package so that the ops (``spotkern.ops.calf_k``) and the data layer
(``spotkern.data.soccernet_classes``, which re-exports them) share one copy."""
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
