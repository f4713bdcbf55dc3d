"""The run directory's configuration: ``<run>/config.json``, written when training starts, and the refusal to
resume a run with other settings than its checkpoints were trained with."""
from __future__ import annotations

import json
import os

from spotkern._files import write_json_atomic
from spotkern.methods.config import TrainConfig, read_config_file

RUN_CONFIG = "config.json"
#: fields that change how a run executes, not what it learns: a resumed run may change them
EXECUTION_FIELDS = ("out", "device", "progress", "num_threads", "max_steps", "compile", "compile_mode", "resume",
                    "checkpoint_every", "log_every", "preload", "inference_batch")
_CHECKPOINT_FILES = ("last.pt", "last.prev.pt", "best.pt")


def require_run(run: str, what: str) -> None:
    """A ValueError ``"<what>: no run at <run> (...)"`` unless ``run`` is a folder holding the
    ``config.json`` that ``spotkern train`` writes (``what``: the function or flag, e.g. "tune", "--run")."""
    if not os.path.isdir(run):
        reason = "not a directory" if os.path.exists(run) else "no such directory"
    elif not os.path.lexists(os.path.join(run, RUN_CONFIG)):
        reason = f"no {RUN_CONFIG}: not a folder written by 'spotkern train'"
    else:
        return
    raise ValueError(f"{what}: no run at {run} ({reason})")


def run_has_checkpoints(out: str) -> bool:
    """Whether a stage directory of the run ``out`` holds a checkpoint."""
    try:
        stages = [os.path.join(out, d) for d in os.listdir(out)]
    except OSError:
        return False
    return any(os.path.isfile(os.path.join(s, n)) for s in stages if os.path.isdir(s) for n in _CHECKPOINT_FILES)


def changed_fields(stored: dict, cfg: TrainConfig) -> dict:
    """{field: (stored value, new value)} of the fields other than ``EXECUTION_FIELDS`` on which the
    stored configuration (a dict read from config.json) and ``cfg`` differ. Fields absent from the
    stored dict (written by an older spotkern) compare with their defaults."""
    new = json.loads(json.dumps(cfg.to_dict()))
    try:
        old = TrainConfig.from_dict({k: v for k, v in stored.items() if k in new}).to_dict()
        old = json.loads(json.dumps(old))
    except (TypeError, ValueError):  # a stored value today's rules refuse: compare as stored
        old = {**new, **stored}
    return {k: (old.get(k), new[k]) for k in new if k not in EXECUTION_FIELDS and old.get(k) != new[k]}


class RunConfigMismatch(ValueError):
    """A run directory holds checkpoints trained with other settings than the ones given."""


def check_run_config(cfg: TrainConfig) -> None:
    """Refuse to resume the run in ``cfg.out`` with settings other than those its checkpoints were trained
    with (``config.json``, which ``predict`` also reads): a RunConfigMismatch listing the fields, unless
    they are ``EXECUTION_FIELDS``. Nothing to check when the run has no checkpoint or ``resume`` is off
    (the stages then start afresh)."""
    path = os.path.join(cfg.out, RUN_CONFIG)
    if not cfg.resume or not os.path.isfile(path) or not run_has_checkpoints(cfg.out):
        return
    stored = read_config_file(path, "run configuration")
    diff = changed_fields(stored, cfg)
    if diff:
        items = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in diff.items())
        raise RunConfigMismatch(
            f"train: {cfg.out} holds checkpoints trained with other settings ({items}). Resume with the stored "
            f"values ({path}), train into another --out, or pass --no-resume to retrain from scratch; only "
            f"{', '.join(EXECUTION_FIELDS)} may change on resume")


def write_run_config(cfg: TrainConfig, write: bool = True) -> None:
    """:func:`check_run_config`, then (when ``write``: rank 0) write ``<out>/config.json`` atomically."""
    check_run_config(cfg)
    if not write:
        return
    os.makedirs(cfg.out, exist_ok=True)
    write_json_atomic(os.path.join(cfg.out, RUN_CONFIG), cfg.to_dict(), indent=1, durable=True)
