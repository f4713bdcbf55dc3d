"""SoccerNet's PCA of the ResNET_TF2 features (soccernet_features.md 3), read without scikit-learn.

SoccerNet reduces the 2048-d features to 512 with ``pca.transform(features - average)``, where ``pca`` is a
pickled scikit-learn ``PCA`` (``pca_512_TF2.pkl``) and ``average`` a pickled numpy array
(``average_512_TF2.pkl``). :class:`SoccerNetPCA` reads both with a restricted unpickler (numpy arrays and the
PCA's state only: no code from the files runs) and computes the same transform in numpy.
"""
from __future__ import annotations

import hashlib
import importlib
import io
import pickle

import numpy as np

from .._files import FileProblem, read_regular_file

#: the largest pickle read (SoccerNet's 512 x 2048 PCA in float64 is about 17 MB)
MAX_PICKLE_BYTES = 256 << 20


class _PickledPCA:
    """Stands in for ``sklearn.decomposition.PCA`` while unpickling: keeps the state dict, runs nothing."""

    state: dict

    def __setstate__(self, state: object) -> None:
        self.state = state if isinstance(state, dict) else {}


def _numpy_attr(modules: tuple[str, ...], name: str):
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(name)


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    # protocol-2 pickles of numpy arrays store their bytes as latin-1 text: that codec only
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _reconstructor(cls, base, state):
    # copyreg._reconstructor, as protocols 0 and 1 pickle plain objects: only the PCA stand-in
    if cls is not _PickledPCA or base is not object or state is not None:
        raise pickle.UnpicklingError("copyreg._reconstructor of a class other than sklearn's PCA")
    return _PickledPCA.__new__(_PickledPCA)


def _allowed_globals() -> dict[tuple[str, str], object]:
    multiarray = ("numpy._core.multiarray", "numpy.core.multiarray")
    numeric = ("numpy._core.numeric", "numpy.core.numeric")
    allowed: dict[tuple[str, str], object] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
        ("copyreg", "_reconstructor"): _reconstructor,
        ("builtins", "object"): object,
        # the Python 2 names that protocols 0-2 write
        ("copy_reg", "_reconstructor"): _reconstructor,
        ("__builtin__", "object"): object,
        # the module of sklearn's PCA since 0.22, and before
        ("sklearn.decomposition._pca", "PCA"): _PickledPCA,
        ("sklearn.decomposition.pca", "PCA"): _PickledPCA,
    }
    # numpy >= 2 pickles under numpy._core, numpy 1.x under numpy.core: either loads with either
    for name, modules in (("_reconstruct", multiarray), ("scalar", multiarray), ("_frombuffer", numeric)):
        try:
            fn = _numpy_attr(modules, name)
        except ImportError:
            continue
        for module in modules:
            allowed[(module, name)] = fn
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only numpy's array-reconstruction globals and sklearn's PCA (to :class:`_PickledPCA`)."""

    allowed: dict[tuple[str, str], object] = {}

    def __init__(self, data: bytes, path: str, fn: str):
        super().__init__(io.BytesIO(data))
        self.path, self.fn = path, fn

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise ValueError(f"{self.fn}: {self.path}: refusing to load the pickled global {module}.{name} "
                             "(only numpy arrays and sklearn's PCA are read)") from None


def _unpickle(path: str, fn: str) -> tuple[object, bytes]:
    try:
        data = read_regular_file(path, MAX_PICKLE_BYTES)
    except FileProblem as e:
        raise ValueError(f"{fn}: {e}") from None
    if not _RestrictedUnpickler.allowed:
        _RestrictedUnpickler.allowed = _allowed_globals()
    try:
        obj = _RestrictedUnpickler(data, path, fn).load()
    except ValueError:
        raise
    except Exception as e:  # truncated or corrupt pickles raise a variety of errors
        raise ValueError(f"{fn}: {path}: not a readable pickle ({type(e).__name__}: {e})") from None
    return obj, data


def _float_array(value: object, path: str, fn: str, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
        raise ValueError(f"{fn}: {path}: {what} is not a numeric numpy array (got {type(value).__name__})")
    arr = value.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{fn}: {path}: {what} holds NaN or infinite values")
    return arr


class SoccerNetPCA:
    """``pca.transform(x - average)`` of SoccerNet's pickled sklearn PCA and mean, in numpy (float64 inside).

    ``components``: (n_components, in_dim); ``pca_mean`` (sklearn's ``mean_``) and ``average``: (in_dim,);
    ``explained_variance``: (n_components,) when the PCA whitens, else None. Attributes ``n_components``,
    ``in_dim`` and ``digest`` (sha256 hex of the PCA file's bytes followed by the mean file's).
    """

    def __init__(self, components: np.ndarray, pca_mean: np.ndarray, average: np.ndarray,
                 explained_variance: np.ndarray | None = None, digest: str = ""):
        self.n_components, self.in_dim = (int(n) for n in components.shape)
        self.components = np.ascontiguousarray(components, dtype=np.float64)
        # sklearn subtracts its own mean_ after SoccerNet's average
        self.offset = np.asarray(average, dtype=np.float64) + np.asarray(pca_mean, dtype=np.float64)
        projection = self.components.T
        if explained_variance is not None:
            # sklearn's whitening: divide by the singular scale, floored at eps against zero variances
            scale = np.sqrt(np.asarray(explained_variance, dtype=np.float64))
            scale[scale < np.finfo(np.float64).eps] = np.finfo(np.float64).eps
            projection = projection / scale
        self.projection = np.ascontiguousarray(projection)  # (in_dim, n_components)
        self.whiten = explained_variance is not None
        self.digest = digest

    @classmethod
    def from_pickles(cls, pca_file: str, mean_file: str) -> SoccerNetPCA:
        """Read SoccerNet's ``pca_512_TF2.pkl`` (a pickled sklearn ``PCA``, any sklearn version) and
        ``average_512_TF2.pkl`` (a pickled numpy array of in_dim = 2048). Neither sklearn nor any code from
        the files runs: a pickle naming any other global is a ValueError naming the file and the global, as
        are sizes that do not agree (naming the file and both sizes)."""
        fn = "SoccerNetPCA.from_pickles"
        pca, pca_bytes = _unpickle(pca_file, fn)
        if not isinstance(pca, _PickledPCA):
            raise ValueError(f"{fn}: {pca_file}: not a pickled sklearn PCA (got {type(pca).__name__})")
        state = pca.state
        for key in ("components_", "mean_"):
            if key not in state:
                raise ValueError(f"{fn}: {pca_file}: the pickled PCA has no {key} (not fitted?)")
        components = _float_array(state["components_"], pca_file, fn, "components_")
        if components.ndim != 2 or 0 in components.shape:
            raise ValueError(f"{fn}: {pca_file}: components_ must be 2-D (n_components, in_dim), "
                             f"got shape {components.shape}")
        n_components, in_dim = components.shape
        pca_mean = _float_array(state["mean_"], pca_file, fn, "mean_").reshape(-1)
        if pca_mean.size != in_dim:
            raise ValueError(f"{fn}: {pca_file}: mean_ has {pca_mean.size} values, components_ {in_dim} "
                             "input dimensions")
        explained_variance = None
        if bool(state.get("whiten", False)):
            if "explained_variance_" not in state:
                raise ValueError(f"{fn}: {pca_file}: the pickled PCA whitens but has no explained_variance_")
            explained_variance = _float_array(state["explained_variance_"], pca_file, fn,
                                              "explained_variance_").reshape(-1)
            if explained_variance.size != n_components:
                raise ValueError(f"{fn}: {pca_file}: explained_variance_ has {explained_variance.size} values, "
                                 f"components_ {n_components} components")
        mean, mean_bytes = _unpickle(mean_file, fn)
        average = _float_array(mean, mean_file, fn, "the mean")
        if not (average.ndim == 1 or (average.ndim == 2 and average.shape[0] == 1)) or average.size != in_dim:
            raise ValueError(f"{fn}: {mean_file}: the mean has shape {average.shape}, the PCA's input has "
                             f"{in_dim} dimensions ({pca_file})")
        digest = hashlib.sha256(pca_bytes + mean_bytes).hexdigest()
        return cls(components, pca_mean, average.reshape(-1), explained_variance, digest)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(N, in_dim) features -> (N, n_components) float32: ``pca.transform(x - average)``, computed in
        float64."""
        fn = "SoccerNetPCA.transform"
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{fn}: x must be a numpy array of shape (N, {self.in_dim}), got {type(x).__name__}")
        if x.dtype.kind != "f":
            raise TypeError(f"{fn}: x must be a float array, got dtype {x.dtype}")
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"{fn}: x must have shape (N, {self.in_dim}) (the PCA's input width "
                             f"{self.in_dim}), got {tuple(x.shape)}")
        x64 = x.astype(np.float64)
        if not np.isfinite(x64).all():
            raise ValueError(f"{fn}: x holds NaN or infinite values")
        return ((x64 - self.offset) @ self.projection).astype(np.float32)
