"""Small builders shared by several test modules (imported as ``helpers``: pytest puts tests/ on sys.path).
Hypothesis strategies live in ``strategies.py``, the specs' test vectors in ``spec_vectors.py``."""
import os
import shutil

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


def find_chromium():
    """The headless browser the report tests render in (``$SPOTKERN_CHROMIUM`` first); None if absent."""
    for name in (os.environ.get("SPOTKERN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def chromium_args(exe, profile):
    """Headless Chromium's command line, with its own profile folder ``profile``."""
    # run as root in a container: no sandbox; no GPU; nothing that reaches for the network (env notes)
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
            f"--user-data-dir={profile}", "--hide-scrollbars"]
