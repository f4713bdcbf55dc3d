"""Keras's ResNet-152 (v1) in PyTorch, as SoccerNet's ``ResNET_TF2`` features use it (soccernet_features.md 2).

:class:`ResNet152Keras` is the network of ``keras.applications.resnet.ResNet152`` cut at its ``avg_pool``
layer: (N, 3, 224, 224) "caffe"-preprocessed frames -> (N, 2048) features. :func:`caffe_preprocess` turns the
BGR frames of SoccerNet's reader into its input, and :func:`load_keras_h5` reads Keras's legacy HDF5 weights
file (``resnet152_weights_tf_dim_ordering_tf_kernels.h5``) into it. Nothing here downloads anything.
"""
from __future__ import annotations

import os
import stat

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spotkern._files import file_sha256

#: ImageNet channel means, in BGR order, that Keras's "caffe" preprocessing subtracts
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
#: Keras's ResNet batch-normalisation epsilon
KERAS_BN_EPS = 1.001e-5
#: input side of the network with its classification top (the released weights)
INPUT_SIZE = 224
#: bottleneck blocks per stage (conv2 .. conv5) and their bottleneck widths
RESNET152_BLOCKS = (3, 8, 36, 3)
_STAGE_WIDTHS = (64, 128, 256, 512)
#: the classification layer of the released file: not part of the features, accepted and ignored
_TOP_LAYER = "predictions"


def caffe_preprocess(frames: np.ndarray) -> torch.Tensor:
    """Keras's ``preprocess_input`` (``mode="caffe"``) applied to SoccerNet's frames as they are.

    ``frames``: (N, H, W, 3) ``uint8``, BGR as SoccerNet's ``FrameCV`` (OpenCV) yields them. Keras's caffe
    mode assumes RGB input, so it reverses the channel order and subtracts the BGR means
    :data:`CAFFE_BGR_MEAN`, without scaling; applied to BGR frames, the network receives the channels in RGB
    order minus the BGR means, which is what the released features were computed from (spec 2.1).
    Returns (N, 3, H, W) ``float32`` (contiguous), the input of :class:`ResNet152Keras`.
    """
    fn = "caffe_preprocess"
    if not isinstance(frames, np.ndarray):
        raise TypeError(f"{fn}: frames must be a numpy array of shape (N, H, W, 3), got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise TypeError(f"{fn}: frames must be uint8 (BGR frames as decoded), got dtype {frames.dtype}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{fn}: frames must have shape (N, H, W, 3), got {tuple(frames.shape)}")
    x = torch.from_numpy(np.ascontiguousarray(frames)).flip(-1).to(torch.float32)
    # float32 minus float32 means, as Keras computes it on a float32 array
    x = x - torch.tensor(CAFFE_BGR_MEAN, dtype=torch.float32)
    return x.permute(0, 3, 1, 2).contiguous()


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    # Keras "same" with an odd kernel at stride 1 pads k // 2 on each side; every strided convolution here
    # is "valid" (the 1x1s, and conv1 after its explicit ZeroPadding2D(3)), so symmetric padding is exact
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=True)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=KERAS_BN_EPS)


class _BottleneckV1(nn.Module):
    """Keras's ``residual_block_v1``: 1x1 (stride) -> 3x3 -> 1x1 (4x width), BN after each, ReLU after the
    first two and after the sum; projection shortcut ``_0_conv``/``_0_bn`` in a stage's first block.
    (N, cin, H, W) -> (N, 4 * width, H / stride, W / stride)."""

    def __init__(self, cin: int, width: int, stride: int, projection: bool):
        super().__init__()
        self.shortcut: nn.Sequential | None = (
            nn.Sequential(_conv(cin, 4 * width, 1, stride), _bn(4 * width)) if projection else None
        )
        self.conv1, self.bn1 = _conv(cin, width, 1, stride), _bn(width)
        self.conv2, self.bn2 = _conv(width, width, 3), _bn(width)
        self.conv3, self.bn3 = _conv(width, 4 * width, 1), _bn(4 * width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x if self.shortcut is None else self.shortcut(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(s + y)

    def keras_layers(self, name: str) -> list[tuple[str, nn.Module]]:
        """The block's weighted layers under their Keras names (``<name>_0_conv`` ... ``<name>_3_bn``)."""
        out: list[tuple[str, nn.Module]] = []
        if self.shortcut is not None:
            out += [(f"{name}_0_conv", self.shortcut[0]), (f"{name}_0_bn", self.shortcut[1])]
        for i in (1, 2, 3):
            out += [(f"{name}_{i}_conv", getattr(self, f"conv{i}")), (f"{name}_{i}_bn", getattr(self, f"bn{i}"))]
        return out


class ResNet152Keras(nn.Module):
    """Keras's ResNet-152 v1 (``keras.applications.resnet.ResNet152``) up to its ``avg_pool`` layer.

    ``conv1_pad`` (3) -> ``conv1_conv`` 7x7/2 with bias -> ``conv1_bn`` -> ReLU -> ``pool1_pad`` (1) -> 3x3/2
    max pool -> stages ``conv2`` .. ``conv5`` of 3, 8, 36, 3 bottleneck blocks (stride 2 on the first 1x1
    convolution of stages 3-5, projection shortcut in each stage's first block; every convolution has a bias;
    BN epsilon 1.001e-5) -> global average pool. Weights: :func:`load_keras_h5`; like any module it is built
    in training mode, so call ``.eval()`` (as :func:`build_resnet152_soccernet` does) for Keras's inference
    batch norm. Works in ``torch.channels_last`` and under ``torch.compile``.

    ``forward``: (N, 3, 224, 224) float, preprocessed by :func:`caffe_preprocess` -> (N, 2048).
    """

    out_dim = 2048

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=True)  # ZeroPadding2D(3) + "valid" 7x7/2
        self.bn1 = _bn(64)
        # pool1_pad pads with zeros where this pads with -inf: the same maxima, as the input follows a ReLU
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        stages = []
        cin = 64
        for s, (width, blocks) in enumerate(zip(_STAGE_WIDTHS, RESNET152_BLOCKS)):
            stride = 1 if s == 0 else 2
            layers = [_BottleneckV1(cin, width, stride, projection=True)]
            layers += [_BottleneckV1(4 * width, width, 1, projection=False) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            cin = 4 * width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != INPUT_SIZE or x.shape[3] != INPUT_SIZE:
            raise ValueError(f"ResNet152Keras.forward: x must have shape (N, 3, {INPUT_SIZE}, {INPUT_SIZE}) "
                             f"(Keras's ResNet-152 with its top), got {tuple(x.shape)}")
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        for stage in self.stages:
            x = stage(x)
        return x.mean(dim=(2, 3))

    def keras_layers(self) -> list[tuple[str, nn.Module]]:
        """Every weighted layer as (Keras layer name, module: ``nn.Conv2d`` or ``nn.BatchNorm2d``), in network
        order (``conv1_conv``, ``conv1_bn``, ``conv2_block1_0_conv``, ..., ``conv5_block3_3_bn``)."""
        out: list[tuple[str, nn.Module]] = [("conv1_conv", self.conv1), ("conv1_bn", self.bn1)]
        for s, stage in enumerate(self.stages):
            for b, block in enumerate(stage.children()):
                assert isinstance(block, _BottleneckV1)
                out += block.keras_layers(f"conv{s + 2}_block{b + 1}")
        return out


def _attr_strings(group, name: str) -> list[str]:
    """A list-of-strings attribute of Keras's legacy HDF5 layout; Keras splits a long one into ``<name>0``,
    ``<name>1``, ... (HDF5's object header limit)."""
    if name in group.attrs:
        raw = list(group.attrs[name])
    else:
        raw, k = [], 0
        while f"{name}{k}" in group.attrs:
            raw += list(group.attrs[f"{name}{k}"])
            k += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in raw]


def _weight_role(weight_name: str) -> str:
    """``conv1_conv/kernel:0`` or ``conv1_conv/kernel`` -> ``kernel``."""
    base = weight_name.rsplit("/", 1)[-1]
    return base[:-2] if base.endswith(":0") else base


# the legacy layout stores a layer's trainable weights, then its non-trainable ones, in this order
_ROLES = {nn.Conv2d: ("kernel", "bias"), nn.BatchNorm2d: ("gamma", "beta", "moving_mean", "moving_variance")}


def _expected_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    if isinstance(module, nn.Conv2d):
        cout, cin, kh, kw = module.weight.shape
        return {"kernel": (kh, kw, cin, cout), "bias": (cout,)}
    assert isinstance(module, nn.BatchNorm2d)
    c = module.num_features
    return {role: (c,) for role in _ROLES[nn.BatchNorm2d]}


def _read_layer(path: str, group, layer: str, module: nn.Module) -> dict[str, np.ndarray]:
    """The weights of ``layer`` by role, checked against ``module``'s shapes; a mismatch is a ValueError
    naming the file and the layer."""
    fn = "load_keras_h5"
    roles = _ROLES[type(module)]
    names = _attr_strings(group, "weight_names")
    expected = _expected_shapes(module)
    if len(names) != len(roles):
        raise ValueError(f"{fn}: {path}: layer {layer!r} holds {len(names)} weights, expected {len(roles)} "
                         f"({', '.join(roles)}): not Keras's ResNet-152")
    by_role = {_weight_role(n): n for n in names}
    if set(by_role) != set(roles):  # names without the usual roles: the layout's order decides
        by_role = dict(zip(roles, names))
    out = {}
    for role in roles:
        name = by_role[role]
        if name not in group or not hasattr(group[name], "shape"):
            raise ValueError(f"{fn}: {path}: layer {layer!r} lists weight {name!r} but holds no such dataset")
        ds = group[name]
        if tuple(ds.shape) != expected[role]:
            raise ValueError(f"{fn}: {path}: layer {layer!r} weight {role!r} has shape {tuple(ds.shape)}, "
                             f"expected {expected[role]}: not Keras's ResNet-152")
        out[role] = np.asarray(ds[()], dtype=np.float32)
    return out


def _read_resnet152(path: str, layers: list[tuple[str, nn.Module]], h5py) -> dict[str, dict[str, np.ndarray]]:
    """Every layer's weights by role, read from the legacy HDF5 file ``path`` and checked (load_keras_h5)."""
    fn = "load_keras_h5"
    loaded: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
        file_layers = _attr_strings(root, "layer_names")
        if not file_layers:
            raise ValueError(f"{fn}: {path} is not in Keras's legacy HDF5 weights layout (no 'layer_names' "
                             "attribute; Keras 3's .weights.h5 layout is not supported)")
        weighted = [n for n in file_layers if n in root and _attr_strings(root[n], "weight_names")]
        present = set(weighted)
        for layer, module in layers:
            if layer not in present:
                raise ValueError(f"{fn}: {path}: layer {layer!r} is missing: not Keras's ResNet-152")
            loaded[layer] = _read_layer(path, root[layer], layer, module)
        known = {name for name, _ in layers} | {_TOP_LAYER}
        extra = [n for n in weighted if n not in known]
        if extra:
            raise ValueError(f"{fn}: {path}: layer {extra[0]!r} is not a layer of Keras's ResNet-152 "
                             f"({len(extra)} extra layers)")
        if _TOP_LAYER in present:
            kernel_names = [n for n in _attr_strings(root[_TOP_LAYER], "weight_names")
                            if _weight_role(n) == "kernel"]
            shape = tuple(root[_TOP_LAYER][kernel_names[0]].shape) if kernel_names else ()
            if len(shape) != 2 or shape[0] != ResNet152Keras.out_dim:
                raise ValueError(f"{fn}: {path}: layer {_TOP_LAYER!r} has kernel shape {shape}, expected "
                                 f"({ResNet152Keras.out_dim}, classes): not Keras's ResNet-152")
    return loaded


def load_keras_h5(model: ResNet152Keras, path: str) -> str:
    """Load Keras's legacy HDF5 weights of ResNet-152 (``resnet152_weights_tf_dim_ordering_tf_kernels.h5``,
    or the same layout written by ``model.save_weights``/``model.save`` in TF-Keras 2 or Keras 3's legacy
    writer) into ``model``; returns the file's sha256 hex digest.

    Layout: the root (or its ``model_weights`` group) lists its layers in the attribute ``layer_names``; each
    layer group lists its weights in ``weight_names`` (with or without TF's ``:0`` suffix); kernels are
    (kh, kw, in, out), batch norms hold gamma, beta, moving_mean, moving_variance. Layers without weights
    are skipped; the classification layer ``predictions`` is accepted and ignored (the features are the
    ``avg_pool`` output), so files without the top load too. A file of another architecture is a
    ValueError naming the file and the first layer, in network order, that is missing or has a wrong
    shape, or else the first extra layer; a file that is not HDF5 is a ValueError naming the file.
    ``model`` is left untouched unless the whole file matches.
    """
    fn = "load_keras_h5"
    import h5py  # optional dependency: video

    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{fn}: weights file {path} does not exist") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{fn}: weights file {path} is not a regular file")
    if not h5py.is_hdf5(path):
        raise ValueError(f"{fn}: weights file {path} is not an HDF5 file (Keras's legacy .h5 weights expected)")
    layers = model.keras_layers()
    try:
        loaded = _read_resnet152(path, layers, h5py)
    except (OSError, RuntimeError) as e:  # a truncated or corrupt HDF5 file
        raise ValueError(f"{fn}: {path}: unreadable HDF5 file ({e})") from None
    with torch.no_grad():
        for layer, module in layers:
            w = loaded[layer]
            if isinstance(module, nn.Conv2d):
                module.weight.copy_(torch.from_numpy(w["kernel"].transpose(3, 2, 0, 1).copy()))
                assert module.bias is not None
                module.bias.copy_(torch.from_numpy(w["bias"]))
            else:
                assert isinstance(module, nn.BatchNorm2d)
                assert module.running_mean is not None and module.running_var is not None
                module.weight.copy_(torch.from_numpy(w["gamma"]))
                module.bias.copy_(torch.from_numpy(w["beta"]))
                module.running_mean.copy_(torch.from_numpy(w["moving_mean"]))
                module.running_var.copy_(torch.from_numpy(w["moving_variance"]))
    return file_sha256(path)


def build_resnet152_soccernet(weights: str, device: str | torch.device = "cpu") -> tuple[ResNet152Keras, str]:
    """SoccerNet's ResNET_TF2 encoder: :class:`ResNet152Keras` with Keras's ImageNet weights from the file
    ``weights`` (legacy HDF5, see :func:`load_keras_h5`), in eval mode on ``device``.
    Returns (model, sha256 hex digest of the weights file)."""
    model = ResNet152Keras()
    digest = load_keras_h5(model, weights)
    return model.eval().to(device), digest
