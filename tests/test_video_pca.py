"""SoccerNetPCA against sklearn's PCA.transform of a pickled, fitted PCA (soccernet_features.md 3), and its
restricted unpickling."""
import hashlib
import os
import pickle

import numpy as np
import pytest

from spotkern.video.pca import SoccerNetPCA

PCA = pytest.importorskip("sklearn.decomposition").PCA


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """One BLAS thread: on a shared 2-core machine, threads fighting for cores make the SVDs several times
    slower (threadpoolctl comes with sklearn)."""
    with pytest.importorskip("threadpoolctl").threadpool_limits(1):
        yield


def _write(tmp_path, pca, mean, protocol=pickle.DEFAULT_PROTOCOL):
    """Pickle the PCA and the mean as SoccerNet does (pickle.dump of the estimator and of the array)."""
    pca_file, mean_file = tmp_path / "pca.pkl", tmp_path / "average.pkl"
    with open(pca_file, "wb") as f:
        pickle.dump(pca, f, protocol=protocol)
    with open(mean_file, "wb") as f:
        pickle.dump(mean, f, protocol=protocol)
    return str(pca_file), str(mean_file)


def _fitted(in_dim, n_components, *, whiten=False, dtype=np.float32, n=None, seed=0):
    rng = np.random.default_rng(seed)
    # features of decreasing variance around a non-zero mean, in a random orthonormal basis
    basis = np.linalg.qr(rng.normal(size=(in_dim, in_dim)))[0] if in_dim <= 64 else np.eye(in_dim)
    data = (rng.normal(size=(n or 3 * in_dim, in_dim)) * np.geomspace(2, 0.1, in_dim)) @ basis + 0.5
    pca = PCA(n_components=n_components, whiten=whiten).fit(data.astype(dtype))
    mean = rng.normal(0.2, 0.1, in_dim).astype(np.float32)
    return pca, mean, rng


def _check_matches(ours, pca, mean, x):
    expected = pca.transform(x - mean)
    got = ours.transform(x)
    assert got.shape == expected.shape and got.dtype == np.float32
    # rtol 1e-5; the atol (1e-5 of the largest output) covers float32 rounding of outputs near zero
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize(("in_dim", "n_components", "whiten", "dtype", "protocol"), [
    (64, 16, False, np.float32, pickle.DEFAULT_PROTOCOL),
    (64, 16, True, np.float32, pickle.DEFAULT_PROTOCOL),
    (64, 16, False, np.float64, 2),
    (64, 16, True, np.float64, 0),
    (64, 16, False, np.float32, 5),
    (2048, 512, False, np.float32, pickle.DEFAULT_PROTOCOL),
])
def test_transform_equals_sklearn_transform_of_x_minus_mean(tmp_path, in_dim, n_components, whiten, dtype,
                                                            protocol):
    pca, mean, rng = _fitted(in_dim, n_components, whiten=whiten, dtype=dtype, n=700 if in_dim > 64 else None)
    ours = SoccerNetPCA.from_pickles(*_write(tmp_path, pca, mean, protocol))
    assert (ours.in_dim, ours.n_components, ours.whiten) == (in_dim, n_components, whiten)
    _check_matches(ours, pca, mean, (rng.normal(size=(9, in_dim)) + 0.5).astype(np.float32))


def test_digest_is_the_sha256_of_both_files(tmp_path):
    pca, mean, _ = _fitted(64, 16)
    pca_file, mean_file = _write(tmp_path, pca, mean)
    with open(pca_file, "rb") as f, open(mean_file, "rb") as g:
        expected = hashlib.sha256(f.read() + g.read()).hexdigest()
    assert SoccerNetPCA.from_pickles(pca_file, mean_file).digest == expected
    _write(tmp_path, pca, mean + 1)
    assert SoccerNetPCA.from_pickles(pca_file, mean_file).digest != expected


@pytest.mark.parametrize(("old", "new"), [
    (b"sklearn.decomposition._pca", b"sklearn.decomposition.pca"),  # sklearn < 0.22
    (b"numpy._core.multiarray", b"numpy.core.multiarray"),  # numpy 1.x, as SoccerNet's files were written
])
def test_pickles_of_older_sklearn_and_numpy_load(tmp_path, old, new):
    pca, mean, rng = _fitted(64, 16)
    pca_file, mean_file = _write(tmp_path, pca, mean, protocol=2)  # GLOBAL opcodes: module names as text
    for path in (pca_file, mean_file):
        with open(path, "rb") as f:
            raw = f.read()
        with open(path, "wb") as f:
            f.write(raw.replace(old, new))
    with open(pca_file, "rb") as f:
        assert new in f.read()
    _check_matches(SoccerNetPCA.from_pickles(pca_file, mean_file), pca, mean,
                   rng.normal(size=(5, 64)).astype(np.float32))


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("which", ["pca", "mean"])
def test_pickle_naming_another_global_is_refused_without_running_it(tmp_path, which):
    marker = tmp_path / "ran"
    pca, mean, _ = _fitted(64, 16)
    evil = _RunsACommand(marker)
    pca_file, mean_file = _write(tmp_path, evil if which == "pca" else pca, evil if which == "mean" else mean)
    path = pca_file if which == "pca" else mean_file
    with pytest.raises(ValueError, match=rf"SoccerNetPCA.from_pickles: {path}: refusing .* "
                                         rf"{os.system.__module__}\.system"):
        SoccerNetPCA.from_pickles(pca_file, mean_file)
    assert not marker.exists()


def test_pickle_of_another_estimator_is_refused(tmp_path):
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(np.random.default_rng(0).normal(size=(10, 4)))
    pca_file, mean_file = _write(tmp_path, scaler, np.zeros(4, np.float32))
    with pytest.raises(ValueError, match=r"refusing .*sklearn\.preprocessing\._data\.StandardScaler"):
        SoccerNetPCA.from_pickles(pca_file, mean_file)


def test_pca_file_holding_an_array_is_refused(tmp_path):
    pca_file, mean_file = _write(tmp_path, np.zeros((16, 64)), np.zeros(64, np.float32))
    with pytest.raises(ValueError, match=rf"{pca_file}: not a pickled sklearn PCA"):
        SoccerNetPCA.from_pickles(pca_file, mean_file)


def test_mean_of_another_size_names_the_file_and_both_sizes(tmp_path):
    pca, mean, _ = _fitted(64, 16)
    pca_file, mean_file = _write(tmp_path, pca, mean[:50])
    with pytest.raises(ValueError, match=rf"{mean_file}: the mean has shape \(50,\), the PCA's input has 64"):
        SoccerNetPCA.from_pickles(pca_file, mean_file)


def test_components_that_are_not_2d_are_refused(tmp_path):
    pca, mean, _ = _fitted(64, 16)
    pca.components_ = pca.components_[0]
    pca_file, mean_file = _write(tmp_path, pca, mean)
    with pytest.raises(ValueError, match=rf"{pca_file}: components_ must be 2-D .* got shape \(64,\)"):
        SoccerNetPCA.from_pickles(pca_file, mean_file)


def test_x_of_another_width_names_both_sizes(tmp_path):
    pca, mean, _ = _fitted(64, 16)
    ours = SoccerNetPCA.from_pickles(*_write(tmp_path, pca, mean))
    with pytest.raises(ValueError, match=r"SoccerNetPCA.transform: x must have shape \(N, 64\).*\(3, 63\)"):
        ours.transform(np.zeros((3, 63), np.float32))
    with pytest.raises(TypeError, match=r"SoccerNetPCA.transform: x must be a float array"):
        ours.transform(np.zeros((3, 64), np.int64))
    with pytest.raises(ValueError, match=r"SoccerNetPCA.transform: x holds NaN"):
        ours.transform(np.full((3, 64), np.nan, np.float32))


@pytest.mark.parametrize("content", [b"not a pickle", b""])
def test_file_that_is_not_a_pickle_is_named(tmp_path, content):
    pca, mean, _ = _fitted(64, 16)
    pca_file, mean_file = _write(tmp_path, pca, mean)
    with open(pca_file, "wb") as f:
        f.write(content)
    with pytest.raises(ValueError, match=rf"SoccerNetPCA.from_pickles: {pca_file}: not a readable pickle"):
        SoccerNetPCA.from_pickles(pca_file, mean_file)
    with pytest.raises(ValueError, match=rf"SoccerNetPCA.from_pickles: .*{tmp_path / 'missing.pkl'}.*missing"):
        SoccerNetPCA.from_pickles(pca_file.replace("pca.pkl", "missing.pkl"), mean_file)
