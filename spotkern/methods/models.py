"""Model construction from a checkpoint's ``model_spec``: a plain dict ``{"kind": ..., "kwargs": {...}}``, so
checkpoints stay ``weights_only``-loadable. Each method registers the builders of the kinds its stages write
(``register_model_kind``), beside its stages; ``build_model`` looks the kind up."""
from __future__ import annotations

from collections.abc import Callable

from torch import nn

_BUILDERS: dict[str, Callable[[dict], nn.Module]] = {}


def register_model_kind(kind: str, builder: Callable[[dict], nn.Module]) -> None:
    """Register (or replace) the builder of ``model_spec["kind"] == kind``: ``builder(kwargs) -> nn.Module``."""
    _BUILDERS[kind] = builder


def model_kinds() -> tuple[str, ...]:
    """The registered model kinds."""
    return tuple(_BUILDERS)


def build_model(spec: dict) -> nn.Module:
    """nn.Module of a ``model_spec`` (a named ValueError for a spec of an unknown kind)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("kwargs"), dict):
        raise ValueError(f"build_model: a model spec is a dict with 'kind' and 'kwargs', got {spec!r:.200}")
    kind = spec.get("kind")
    if kind not in _BUILDERS:
        raise ValueError(f"build_model: unknown model kind {kind!r}; registered kinds: {model_kinds()}")
    return _BUILDERS[kind](dict(spec["kwargs"]))
