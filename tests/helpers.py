"""Small builders shared by several test modules (imported as ``helpers``: pytest puts tests/ on sys.path).
Hypothesis strategies live in ``strategies.py``, the specs' test vectors in ``spec_vectors.py``."""
import numpy as np
from spec_vectors import K8


def k_for(C, k=K8):
    """(4, C) int32 K with the same (K1, K2, K3, K4) for every class."""
    return np.array(k, dtype=np.int32).reshape(4, 1).repeat(C, axis=1)


def onehot(T, C, events):
    """(T, C) float32 label matrix with a 1 at every (frame, class) of ``events``."""
    m = np.zeros((T, C), dtype=np.float32)
    for f, c in events:
        m[f, c] = 1
    return m
