"""ResNet152Keras against Keras 3's own ResNet-152 (torch backend), and load_keras_h5's handling of the
legacy HDF5 weights layout (soccernet_features.md 2)."""
import os

import numpy as np
import pytest
import torch

from spotkern.video.resnet import (
    CAFFE_BGR_MEAN,
    ResNet152Keras,
    build_resnet152_soccernet,
    caffe_preprocess,
    load_keras_h5,
)

h5py = pytest.importorskip("h5py")

# Keras is the test oracle; without TensorFlow it imports only with the torch backend chosen first
os.environ["KERAS_BACKEND"] = "torch"

# Keras 3 on torch and numpy 2 warn at every variable read
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """ResNet-152 on a shared 2-core machine: one thread avoids OpenMP's oversubscription, 5x faster here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def keras():
    keras = pytest.importorskip("keras")
    assert keras.backend.backend() == "torch", "keras was imported earlier with another backend"
    return keras


def _randomize(model, seed: int = 0) -> None:
    """Random weights for every layer of a Keras ResNet, with non-trivial batch-norm statistics (non-zero
    means, random positive variances) so that the inference-time batch norm is exercised."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        shapes = [tuple(w.shape) for w in layer.weights]
        if not shapes:
            continue
        kind = type(layer).__name__
        if kind in ("Conv2D", "Dense"):
            kernel, bias = shapes
            fan_in = int(np.prod(kernel[:-1]))
            values = [rng.normal(0, np.sqrt(2.0 / fan_in), kernel), rng.normal(0, 0.05, bias)]
        else:
            assert kind == "BatchNormalization", kind
            (c,) = shapes[0]
            # a small gamma on the residual branch keeps 50 blocks' sums from growing without bound
            g = 0.3 if layer.name.endswith("_3_bn") else 1.0
            values = [g * rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.3, c),
                      rng.uniform(0.5, 2.0, c)]
        layer.set_weights([v.astype(np.float32) for v in values])


def _write_legacy_h5(path, model, *, suffix: str = "", model_weights: bool = False, data: bool = True,
                     replace: dict | None = None, extra: dict | None = None) -> None:
    """Keras's legacy HDF5 weights layout written with h5py from a Keras model: ``layer_names`` on the root
    (or on a ``model_weights`` group, as ``model.save()`` writes it), one group per layer with its
    ``weight_names`` (``suffix=":0"`` as TF-Keras 2 names them), trainable weights first. ``data=False``
    writes every dataset with its shape only (HDF5 allocates nothing: the file stays small);
    ``replace`` maps a layer name to other weight shapes, ``extra`` adds layers (name -> shapes)."""
    replace, extra = replace or {}, extra or {}
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if model_weights else f
        layers = [(layer.name, layer.trainable_weights + layer.non_trainable_weights) for layer in model.layers]
        names = [name for name, _ in layers] + list(extra)
        root.attrs["layer_names"] = np.array([n.encode() for n in names])
        for name, weights in layers + [(n, None) for n in extra]:
            g = root.create_group(name)
            if weights is None:
                entries = [(f"{name}/w{i}{suffix}", shape, None) for i, shape in enumerate(extra[name])]
            else:
                roles = [w.path.rsplit("/", 1)[-1] for w in weights]
                shapes = replace.get(name, [tuple(w.shape) for w in weights])
                entries = [(f"{name}/{r}{suffix}", s, w) for r, s, w in zip(roles, shapes, weights)]
            g.attrs["weight_names"] = np.array([e[0].encode() for e in entries], dtype="S")
            for wname, shape, w in entries:
                if data and w is not None:
                    g.create_dataset(wname, data=np.asarray(w.numpy(), dtype=np.float32))
                else:
                    g.create_dataset(wname, shape=shape, dtype="f4")


@pytest.fixture(scope="module")
def keras_resnet152(keras):
    model = keras.applications.ResNet152(weights=None, include_top=True)
    _randomize(model)
    return model


@pytest.fixture(scope="module")
def keras_h5(keras_resnet152, tmp_path_factory):
    """The random weights saved by Keras 3's own legacy HDF5 writer (names without ``:0``, root layout)."""
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    path = tmp_path_factory.mktemp("keras") / "resnet152_legacy.h5"
    with h5py.File(path, "w") as f:
        save_weights_to_hdf5_group(f, keras_resnet152)
    return str(path)


@pytest.fixture(scope="module")
def loaded(keras_h5):
    model, digest = build_resnet152_soccernet(keras_h5)
    return model, digest


@pytest.fixture(scope="module")
def fresh_model():
    return ResNet152Keras().eval()


def _frames(n_random: int, seed: int = 1) -> np.ndarray:
    """BGR uint8 frames (N, 224, 224, 3): random ones, one all-zero, one saturated."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (n_random + 2, 224, 224, 3), dtype=np.uint8)
    frames[-2] = 0
    frames[-1] = 255
    return frames


def _max_relative_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per frame (row): max |a - b| / max |b|."""
    return np.abs(a - b).max(axis=1) / np.abs(b).max(axis=1)


def test_avg_pool_features_match_keras_resnet152(keras, keras_resnet152, loaded):
    frames = _frames(1)
    features = keras.Model(keras_resnet152.inputs, keras_resnet152.get_layer("avg_pool").output)
    model = loaded[0]
    x = caffe_preprocess(frames)
    with torch.no_grad():
        expected = keras.ops.convert_to_numpy(
            features(keras.applications.resnet.preprocess_input(frames.astype(np.float32)), training=False))
        got = model(x).numpy()
        try:
            model.to(memory_format=torch.channels_last)
            got_channels_last = model(x.contiguous(memory_format=torch.channels_last)).numpy()
        finally:
            model.to(memory_format=torch.contiguous_format)
    assert got.shape == expected.shape == (3, 2048) and got.dtype == np.float32
    # the features carry the frames: not degenerate, and different per frame
    assert (np.abs(expected).max(axis=1) > 0).all()
    assert _max_relative_difference(expected[:1], expected[1:2])[0] > 1e-2
    # max relative difference per frame: max |ours - keras| / max |keras| <= 1e-4, in either memory format
    assert _max_relative_difference(got, expected).max() <= 1e-4
    assert _max_relative_difference(got_channels_last, expected).max() <= 1e-4


def test_digest_is_the_weights_file_sha256(keras_h5, loaded):
    import hashlib

    with open(keras_h5, "rb") as f:
        assert loaded[1] == hashlib.sha256(f.read()).hexdigest()
    assert not loaded[0].training


def test_tf_keras_names_with_suffix_under_model_weights_load_the_same_weights(keras_resnet152, loaded, tmp_path):
    # TF-Keras 2 (the released ImageNet file) names weights "conv1_conv/kernel:0"; model.save() puts the
    # layers under a "model_weights" group
    path = tmp_path / "tf_keras_style.h5"
    _write_legacy_h5(path, keras_resnet152, suffix=":0", model_weights=True)
    with h5py.File(path) as f:
        assert f["model_weights/conv1_bn"].attrs["weight_names"][2] == b"conv1_bn/moving_mean:0"
    model = ResNet152Keras()
    load_keras_h5(model, str(path))
    reference = loaded[0].state_dict()
    state = model.state_dict()
    assert state.keys() == reference.keys()
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        assert torch.equal(value, reference[key]), key


def test_batch_norm_statistics_are_loaded_in_role_order(keras_resnet152, loaded):
    bn = keras_resnet152.get_layer("conv4_block20_2_bn")
    gamma, beta, mean, var = (w.numpy() for w in bn.trainable_weights + bn.non_trainable_weights)
    ours = loaded[0].stages[2][19].bn2
    np.testing.assert_array_equal(ours.weight.detach().numpy(), gamma)
    np.testing.assert_array_equal(ours.bias.detach().numpy(), beta)
    np.testing.assert_array_equal(ours.running_mean.numpy(), mean)
    np.testing.assert_array_equal(ours.running_var.numpy(), var)
    kernel = keras_resnet152.get_layer("conv4_block20_2_conv").trainable_weights[0].numpy()  # (kh, kw, in, out)
    ours_conv = loaded[0].stages[2][19].conv2.weight.detach().numpy()
    assert ours_conv.shape == (256, 256, 3, 3)
    np.testing.assert_array_equal(ours_conv, kernel.transpose(3, 2, 0, 1))


def test_caffe_preprocess_equals_keras_preprocess_input(keras):
    frames = np.random.default_rng(2).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    frames[0, 0, 0] = (10, 20, 30)  # B, G, R
    got = caffe_preprocess(frames)
    assert got.shape == (2, 3, 5, 7) and got.dtype == torch.float32 and got.is_contiguous()
    expected = keras.applications.resnet.preprocess_input(frames.astype(np.float32))  # (N, H, W, C)
    np.testing.assert_allclose(got.permute(0, 2, 3, 1).numpy(), expected, rtol=0, atol=1e-5)
    # channel order reversed, BGR means subtracted: the network sees R - 103.939, G - 116.779, B - 123.68
    np.testing.assert_allclose(got[0, :, 0, 0].numpy(), np.float32([30, 20, 10]) - np.float32(CAFFE_BGR_MEAN),
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize(("frames", "error", "match"), [
    (np.zeros((1, 4, 4, 3), np.float32), TypeError, "uint8"),
    (np.zeros((1, 4, 4, 4), np.uint8), ValueError, "shape"),
    (np.zeros((4, 4, 3), np.uint8), ValueError, "shape"),
    ([[[[0, 0, 0]]]], TypeError, "numpy array"),
])
def test_caffe_preprocess_rejects_other_frames(frames, error, match):
    with pytest.raises(error, match=f"caffe_preprocess: .*{match}"):
        caffe_preprocess(frames)


def test_forward_rejects_other_input_sizes(fresh_model):
    with pytest.raises(ValueError, match=r"ResNet152Keras.forward: .*\(1, 3, 112, 112\)"):
        fresh_model(torch.zeros(1, 3, 112, 112))


def test_resnet50_weights_name_the_first_missing_layer(keras, fresh_model, tmp_path):
    path = tmp_path / "resnet50.h5"
    _write_legacy_h5(path, keras.applications.ResNet50(weights=None, include_top=True), data=False)
    before = fresh_model.conv1.weight.detach().clone()
    # ResNet-50's conv3 stage has 4 blocks, ResNet-152's 8
    with pytest.raises(ValueError, match=rf"load_keras_h5: {path}: layer 'conv3_block5_1_conv' is missing"):
        load_keras_h5(fresh_model, str(path))
    assert torch.equal(fresh_model.conv1.weight, before)  # nothing loaded from a file that does not match


def test_wrong_kernel_shape_names_that_layer(keras_resnet152, fresh_model, tmp_path):
    path = tmp_path / "wrong_shape.h5"
    _write_legacy_h5(path, keras_resnet152, data=False,
                     replace={"conv4_block20_2_conv": [(3, 3, 256, 128), (128,)]})
    with pytest.raises(ValueError, match=rf"{path}: layer 'conv4_block20_2_conv' weight 'kernel' has shape "
                                         r"\(3, 3, 256, 128\), expected \(3, 3, 256, 256\)"):
        load_keras_h5(fresh_model, str(path))


def test_extra_layer_is_named(keras_resnet152, fresh_model, tmp_path):
    path = tmp_path / "extra.h5"
    _write_legacy_h5(path, keras_resnet152, data=False,
                     extra={"conv5_block4_1_conv": [(1, 1, 2048, 512), (512,)]})
    with pytest.raises(ValueError, match=rf"{path}: layer 'conv5_block4_1_conv' is not a layer"):
        load_keras_h5(fresh_model, str(path))


def test_file_without_the_top_loads(keras, keras_resnet152, fresh_model, tmp_path):
    # the "_notop" files hold no "predictions" layer; the features do not need it
    path = tmp_path / "notop.h5"
    notop = keras.Model(keras_resnet152.inputs, keras_resnet152.get_layer("avg_pool").output)
    _write_legacy_h5(path, notop, data=False)
    model = ResNet152Keras()
    load_keras_h5(model, str(path))
    assert not model.conv1.weight.detach().any()  # the file's (unwritten, zero) weights were loaded


def test_not_hdf5_file_is_named(fresh_model, tmp_path):
    path = tmp_path / "weights.h5"
    path.write_text("not an HDF5 file\n")
    with pytest.raises(ValueError, match=rf"load_keras_h5: .*{path} is not an HDF5 file"):
        load_keras_h5(fresh_model, str(path))
    with pytest.raises(FileNotFoundError, match=r"load_keras_h5: .*missing.h5"):
        load_keras_h5(fresh_model, str(tmp_path / "missing.h5"))


def test_truncated_hdf5_file_is_named(keras_resnet152, fresh_model, tmp_path):
    path = tmp_path / "truncated.h5"
    _write_legacy_h5(path, keras_resnet152, data=False)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=rf"load_keras_h5: {path}"):
        load_keras_h5(fresh_model, str(path))


def test_hdf5_without_legacy_layout_is_named(fresh_model, tmp_path):
    path = tmp_path / "new_layout.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("layers")
    with pytest.raises(ValueError, match=rf"load_keras_h5: {path} is not in Keras's legacy HDF5 weights layout"):
        load_keras_h5(fresh_model, str(path))
