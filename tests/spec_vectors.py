"""The specs' test vectors (docs/calf.md §12 CALF-T*, docs/dense_anchors.md §9 DA-T*) that several test
modules use, each written out here once, from the spec's worked examples; the modules import them.
``tests/test_spec_vectors_once.py`` fails if a vector id (``CALF_T9``, ``DA_T7``, ...) is assigned in two
test files. Frames and classes are plain Python values; each test builds the arrays it needs."""
from types import SimpleNamespace as Vector

from spotkern.data.soccernet_classes import K_V1_FRAMES

# --- calf.md §3.2: time-shift encoding; (frame, class) events, expected encoding per class column --------

K8 = (-8, -4, 4, 8)  # (K1, K2, K3, K4) of every class in §3.2's examples

CALF_T1 = Vector(T=36, C=3, k=K8, events=[(6, 0), (20, 0), (10, 1)], columns=[
    [-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7,
     -16, -15, -14, -13, -12, -11, -10, -9],  # frame 13 is a tie (s2), frame 28 has s1 >= K4
    list(range(-10, 26)),  # one action: t - a, no combination rule
    [-8] * 36,  # no action: K1
])
CALF_T2 = Vector(T=20, C=1, k=K8, events=[(2, 0), (12, 0)], columns=[
    [-2, -1, 0, 1, 2, 3, 4, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7],  # frame 7: a tie goes to the coming action
])
CALF_T3 = Vector(T=30, C=1, k=K8, events=[(5, 0), (9, 0), (22, 0)], columns=[
    [-5, -4, -3, -2, -1, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7],
])
# §9.2 (background runs), whose encoding the TSE tests check too: class 0 one action, class 1 none.
CALF_T4 = Vector(T=30, C=2, k=(-4, -2, 2, 4), events=[(10, 0)], columns=[[t - 10 for t in range(30)], [-4] * 30],
                 far_runs=[[0, 7], [14, 30]], chunk_len=10)

# --- calf.md §4: spotting targets ----------------------------------------------------------------------

CALF_T5 = Vector(L=240, C=3, K=K_V1_FRAMES, num_slots=5, border=40,
                 actions=[(50, 0), (60, 2), (60, 1), (90, 0), (100, 1), (150, 2), (180, 0), (20, 1), (210, 0)],
                 slots=[(50, 0), (60, 1), (60, 2), (90, 0), (100, 1)],  # (frame, class) per slot
                 dropped=2)  # (150, 2) and (180, 0); (20, 1) and (210, 0) lie in the borders

# --- calf.md §5.1, §5.2: segmentation loss --------------------------------------------------------------

GOAL_K = ((-40,), (-20,), (120,), (180,))  # (4, 1): Goal's K in frames
CALF_T7 = [  # (s, p, loss) for Goal
    (-50, 0.5, 0.5877867), (-30, 0.5, 0.1823216), (-10, 0.9, 0.0), (-1, 0.99, 0.0), (0, 0.5, 0.5877867),
    (0, 0.95, 0.0), (60, 0.5, 0.1823216), (150, 0.5, 0.1823216), (200, 0.05, 0.0), (200, 0.5, 0.5877867),
]
CALF_T8 = Vector(s=10, p=0.3, per_class=[0.8889, 0.8850, 0.9209, 0.3254, 0.8810, 0.2513, 0, 0.8726, 0.8889, 0.5232,
                                         0.8245, 0, 0.8850, 0.8309, 0.3254, 0.8535, 0.2673],
                 total=10.424017,  # one frame, all 17 v2 classes, K_V2_FRAMES
                 total_K_in_seconds=7.811007)  # defect D3: K in seconds where frames are expected

# --- calf.md §6, §7: matching and spotting loss -----------------------------------------------------------

CALF_T9 = [  # (GT positions, presence, predicted positions, CALF's perm)
    ([0.5, 0.1, 0.0, 0.0], [1, 1, 0, 0], [0.12, 0.9, 0.45, 0.3], [2, 0, 3, 1]),
    ([0.4, 0.4, 0.8, 0.0], [1, 1, 1, 0], [0.7, 0.41, 0.39, 0.05], [1, 2, 0, 3]),
    ([0.50, 0.65], [1, 1], [0.60, 0.95], [1, 0]),  # not optimal: [0, 1] has the smaller total distance
]
CALF_T9_CASE3_OPTIMAL = [0, 1]
CALF_T10 = Vector(y_true=[[[1, 0.5, 1, 0], [0, 0, 0, 0]]],  # (B, N, 2 + C) rows (presence, position, classes)
                  y_pred=[[[0.8, 0.4, 0.7, 0.3], [0.6, 0.55, 0.4, 0.6]]],
                  perm=[1, 0], loss=1.2125, per_slot=[0.0125 + 0.16 + 0.72, 0.32])

# --- calf.md §10.4: CALF's NMS ---------------------------------------------------------------------------

CALF_T11 = Vector(scores=[-1, 0.3, -1, 0.5, 0.9, 0.2, 0.8, -1, -1, 0.85, 0.1, -1], kept={
    4: [-1, 0.3, -1, -1, 0.9, -1, 0.8, -1, -1, 0.85, -1, -1],
    5: [-1, -1, -1, -1, 0.9, -1, -1, -1, -1, 0.85, -1, -1],
})

# --- dense_anchors.md §2.3, §2.4: targets and weights -----------------------------------------------------

DA_T1 = Vector(frames=[4, 10], T=16, rc=2, rd=4,
               confidence=[0, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0],
               displacement=[1, 0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, 0.5, 0.25, 0, -0.25, -0.5, -0.75, -1, 10],
               support=[True] * 15 + [False])
DA_T2 = Vector(frames=[2, 6], T=9, rc=1, rd=3,  # frame 4 is equidistant: the earlier action wins
               displacement=[2 / 3, 1 / 3, 0, -1 / 3, -2 / 3, 1 / 3, 0, -1 / 3, -2 / 3])
DA_T3 = Vector(frames=[4, 10], T=16, rc=2.5, rd=4, confidence=DA_T1.confidence)  # rounds inward: as rc = 2
DA_T4 = Vector(counts=[10], total_frames=40, p=0.03, w_pos=[0.12], w_neg=[40 * 0.97 / 30],
               displacement_counts=[10, 4], displacement_w_pos=[40 / 10, 40 / 4])  # p = 1: w_neg = 0

# --- dense_anchors.md §7.1, §7.3-7.5: scattering and NMS --------------------------------------------------

DA_T6 = Vector(confidence=[0.2, 0.9, 0.5, 0.7, 0.1, 0.3],
               displacement=[0.4, 1.5, -0.5, -1.5, 2.6, 9.0],  # frames (rd = 1)
               expected=[0.2, 0.7, 0.5, 0.9, 0.0, 0.3])
DA_T7 = Vector(scores=[0.1, 0.5, 0.9, 0.6, 0.2, 0.85, 0.3, 0.4],
               hard={4: [-1, -1, 0.9, -1, -1, 0.85, -1, -1], 5: [-1, -1, 0.9, -1, -1, 0.85, -1, -1]},
               linear={0.0: [0.05, 0.25, 0.9, 0.3, 0.05, 0.85, 0.075, 0.4],  # W = 2, by min_weight m
                       0.5: [0.075, 0.375, 0.9, 0.45, 0.1125, 0.85, 0.16875, 0.4]},
               linear_order=[2, 5, 7, 3, 1, 6, 0, 4],  # selection order; 0 and 4 tie at 0.05
               gaussian=[0.033644, 0.170110, 0.9, 0.204131, 0.022638, 0.840557, 0.045929, 0.345866])  # W = 2
DA_T8 = Vector(scores=[0.0] * 5, window=2, kept=[0, -1, 0, -1, 0])  # hard NMS keeps zeros
