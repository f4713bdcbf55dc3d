"""Small builders shared by several test modules (imported as ``helpers``: pytest puts tests/ on sys.path)."""
import numpy as np
from hypothesis import strategies as st

K8 = [-8, -4, 4, 8]


def k_for(C, k=K8):
    """(4, C) int32 K with the same (K1, K2, K3, K4) for every class."""
    return np.array(k, dtype=np.int32).reshape(4, 1).repeat(C, axis=1)


def onehot(T, C, events):
    """(T, C) float32 label matrix with a 1 at every (frame, class) of ``events``."""
    m = np.zeros((T, C), dtype=np.float32)
    for f, c in events:
        m[f, c] = 1
    return m


def draw_K(draw, C, reach):
    """A random valid (4, C) int32 K (K1 < K2 < 0 < K3 < K4) with |K| <= reach, for hypothesis."""
    K = np.zeros((4, C), dtype=np.int32)
    for c in range(C):
        k1 = draw(st.integers(-reach, -2))
        k2 = draw(st.integers(k1 + 1, -1))
        k3 = draw(st.integers(1, reach - 1))
        K[:, c] = (k1, k2, k3, draw(st.integers(k3 + 1, reach)))
    return K
