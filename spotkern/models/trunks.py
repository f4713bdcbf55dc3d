"""Registry of the dense-anchor trunks (dense_anchors.md 4.2, 4.5): one place that maps a trunk name to
its module, used by ``DenseSpotter``, ``TrainConfig`` and the training methods.

A trunk maps (B, T, 64) -> (B, T, out_channels) and has ``chunk_size`` and ``out_channels`` attributes.
A trunk class may define ``fit_kwargs(chunk_size, kwargs) -> kwargs``: the constructor arguments it
needs for chunks of (about) ``chunk_size`` frames (the u-net rounds the length to what its levels
accept). Register a new trunk with ``register_trunk("name", cls)``.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from spotkern.models.transformer import DenseTransformer
from spotkern.models.unet import DenseUNet

TRUNKS: dict[str, type[nn.Module]] = {"unet": DenseUNet, "transformer": DenseTransformer}


def register_trunk(name: str, cls: type[nn.Module]) -> None:
    """Make ``cls`` available as ``DenseSpotter(trunk=name)`` and ``spotkern train --trunk name``."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_trunk: cls must be an nn.Module subclass, got {cls!r}")
    TRUNKS[name] = cls


def _trunk_class(fn: str, name: str) -> type[nn.Module]:
    if name not in TRUNKS:
        raise ValueError(f"{fn}: trunk must be one of {', '.join(map(repr, TRUNKS))} or an nn.Module, got {name!r}")
    return TRUNKS[name]


def build_trunk(name: str, **kwargs: Any) -> nn.Module:
    """The trunk module registered as ``name``, built with ``kwargs``."""
    return _trunk_class("DenseSpotter", name)(**kwargs)


def fit_trunk_kwargs(name: str, chunk_size: int, kwargs: dict | None = None) -> dict:
    """Constructor arguments of trunk ``name`` for chunks of ``chunk_size`` frames (``chunk_size`` included;
    explicit entries of ``kwargs`` win)."""
    cls = _trunk_class("fit_trunk_kwargs", name)
    kwargs = dict(kwargs or {})
    fit = getattr(cls, "fit_kwargs", None)
    if fit is not None:
        return fit(chunk_size, kwargs)
    kwargs.setdefault("chunk_size", chunk_size)
    return kwargs
