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
