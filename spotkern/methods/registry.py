"""Registry of training methods: a method name (``TrainConfig.method``, ``spotkern train --method``) -> its
stages (one network each, trained in order), its config section (the defaults of the method-dependent
fields and the method's own checks) and the model kinds it builds.

A method registers itself from its own module in ``spotkern/methods/`` (imported by ``spotkern.methods``),
so adding a method is one new file there (see CONTRIBUTING.md and tests/test_toy_method.py). This module has
no spotkern dependency, so ``TrainConfig`` can validate method names without importing the methods.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any


def _no_check(cfg: Any) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class MethodEntry:
    """name: the method's name.
    stages: the ``TrainingStage`` subclasses trained in order (the last one's detection is what ``predict``
    uses), or a function of the config returning them (a method whose variants train other stages).
    defaults: ``config -> {field: value}`` for the method-dependent TrainConfig fields left at None (see
    ``spotkern.methods.config.METHOD_FIELDS``); ``config`` is the TrainConfig being built (its other fields
    are set, not yet validated).
    check: ``config -> None``, the method's own checks, raising a ValueError that names the field; called by
    ``TrainConfig.validate`` after the checks every method shares.
    help_defaults: ``(label, defaults)`` pairs shown by ``spotkern train --help`` for the method-dependent
    fields (one per variant of the method).
    own_fields: ``{field: default}`` of the TrainConfig fields that only this method reads and that select
    its behaviour: another method given a value other than the default is refused (``calf_variant``)."""

    name: str
    stages: tuple | Callable[[Any], Sequence]
    defaults: Callable[[Any], dict]
    check: Callable[[Any], None] = _no_check
    help_defaults: tuple = ()
    own_fields: dict = dataclasses.field(default_factory=dict)

    def stages_for(self, cfg: Any) -> tuple:
        """The stage classes that ``cfg`` trains, in order."""
        stages = self.stages if isinstance(self.stages, tuple) else tuple(self.stages(cfg))
        if not stages:
            raise ValueError(f"method {self.name!r}: no stage for this configuration")
        return stages


_METHODS: dict[str, MethodEntry] = {}


def register_method(name: str, stages: Sequence | Callable[[Any], Sequence], defaults: Callable[[Any], dict], *,
                    check: Callable[[Any], None] | None = None, help_defaults: Sequence = (),
                    own_fields: dict | None = None) -> MethodEntry:
    """Register (or replace) the method ``name`` (see ``MethodEntry``)."""
    if not callable(stages):
        stages = tuple(stages)
        if not stages:
            raise ValueError(f"register_method: method {name!r} needs at least one stage")
    entry = MethodEntry(name, stages, defaults, check or _no_check, tuple(help_defaults), dict(own_fields or {}))
    _METHODS[name] = entry
    return entry


def method_entry(name: str) -> MethodEntry:
    if name not in _METHODS:
        raise ValueError(f"TrainConfig: method must be one of {tuple(_METHODS)}, got {name!r}")
    return _METHODS[name]


def method_entries() -> tuple[MethodEntry, ...]:
    """The registered methods, in registration order."""
    return tuple(_METHODS.values())


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
