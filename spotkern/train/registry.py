"""Registry of training methods: a method name (``TrainConfig.method``, ``spotkern train --method``) ->
its stages (one network each, trained in order) and its method-dependent defaults.

A method registers itself from its own module in ``spotkern/train/methods/`` (imported by
``spotkern.train``), so adding a method is one new file there (see CONTRIBUTING.md). This module has no
spotkern dependency, so ``TrainConfig`` can validate method names without importing the methods.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence


@dataclasses.dataclass(frozen=True)
class MethodEntry:
    """name: the method's name. stages: the ``TrainingStage`` subclasses trained in order (the last
    one's detection is what ``predict`` uses). defaults: ``calf_variant -> {field: value}`` for the
    TrainConfig fields left at None (see ``spotkern.train.config.METHOD_FIELDS``)."""

    name: str
    stages: tuple
    defaults: Callable[[str], dict]


_METHODS: dict[str, MethodEntry] = {}


def register_method(name: str, stages: Sequence, defaults: Callable[[str], dict]) -> MethodEntry:
    """Register (or replace) the method ``name``."""
    if not stages:
        raise ValueError(f"register_method: method {name!r} needs at least one stage")
    entry = MethodEntry(name, tuple(stages), defaults)
    _METHODS[name] = entry
    return entry


def method_entry(name: str) -> MethodEntry:
    if name not in _METHODS:
        raise ValueError(f"TrainConfig: method must be one of {tuple(_METHODS)}, got {name!r}")
    return _METHODS[name]


class _MethodNames(Sequence):
    """Live, ordered view of the registered method names (argparse choices, error messages)."""

    def __getitem__(self, i):
        return tuple(_METHODS)[i]

    def __len__(self) -> int:
        return len(_METHODS)

    def __contains__(self, name) -> bool:
        return name in _METHODS

    def __repr__(self) -> str:
        return repr(tuple(_METHODS))


METHOD_NAMES = _MethodNames()
