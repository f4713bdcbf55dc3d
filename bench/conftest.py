import numpy as np
import pytest



@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Targets are stated for one core: pin torch and the extension's OpenMP to one thread."""
    import torch

    from spotkern._ext import ext

    torch.set_num_threads(1)
    ext().set_num_threads(1)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def tse_half():
    """A 5400 x 17 float32 label matrix with ~50 actions (the TSE benchmarks' half)."""
    rng = np.random.default_rng(0)
    lab = np.zeros((5400, 17), dtype=np.float32)
    lab[rng.integers(0, 5400, 50), rng.integers(0, 17, 50)] = 1
    return lab
