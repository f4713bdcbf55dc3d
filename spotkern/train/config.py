"""Training configuration: one flat dataclass, readable from a JSON file and overridable by flags."""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import os

from spotkern.models.trunks import TRUNKS as TRUNK_REGISTRY
from spotkern.train.registry import METHOD_NAMES, method_entry

#: the registered training methods (``spotkern/train/methods/``): dense (two steps), dense-joint, calf
METHODS = METHOD_NAMES

# Defaults that depend on the method, applied to every field left at None (however the config is built:
# directly, from a dict or JSON, or from CLI flags). Dense (dense_anchors.md 5): batches of 256, 8,192
# chunks per epoch, lr and wd decay to 1 %. calf.md 9.1 (sn): an epoch is 18,000 chunks in batches of
# 32, validation every 20 epochs; the learning rate decays linearly from 1e-3 to 1e-6 as in the paper
# (spotkern uses the linear schedule for every method rather than sn's ReduceLROnPlateau).
# CALF's loss weight and slot count are sn's (calf.md 5.2, 4: 0.000367, N = 15) unless calf_variant="v1".
# calf_variant="v1" (calf.md 9.1 v1 column, 9.4, 5.2, 4): lambda_seg 0.002, N = 5, validation every 20
# epochs, lr 1e-3 linearly to 1e-6; batch_size and chunks_per_epoch do not apply (one batch per training
# half holding every action of the half plus background chunks) and stay None. Fields a method does not
# use are absent from its dict and stay None (dense: lambda_seg, calf_slots).
DENSE_DEFAULTS = {"batch_size": 256, "chunks_per_epoch": 8192, "validate_every": 10, "end_fraction": 0.01}
CALF_DEFAULTS = {"batch_size": 32, "chunks_per_epoch": 18000, "validate_every": 20, "end_fraction": 0.001,
                 "lambda_seg": 0.000367, "calf_slots": 15}
CALF_V1_DEFAULTS = {"validate_every": 20, "end_fraction": 0.001, "lambda_seg": 0.002, "calf_slots": 5}
#: type of each method-dependent field (their dataclass default is None)
METHOD_FIELDS = {"batch_size": int, "chunks_per_epoch": int, "validate_every": int, "end_fraction": float,
                 "lambda_seg": float, "calf_slots": int}
CALF_VARIANTS = ("sn", "v1")
SOCCERNET_VERSIONS = (1, 2)
#: fields that calf_variant="v1" does not use: giving one is an error rather than silently ignored
V1_UNUSED_FIELDS = ("batch_size", "chunks_per_epoch")


def method_defaults(method: str, calf_variant: str = "sn") -> dict:
    """The values the method-dependent fields take when not given (see METHOD_FIELDS): the method's
    registered defaults (an unknown method takes none here and is refused by ``validate``)."""
    try:
        return method_entry(method).defaults(calf_variant)
    except (ValueError, TypeError):
        return {}


#: the dense trunks: the live registry ``spotkern.models.trunks.TRUNKS`` (unet, transformer, registered ones)
TRUNKS = TRUNK_REGISTRY
#: what ``compile`` compiles: nothing, the network only, or the whole training step in one graph
COMPILE_CHOICES = ("none", "model", "step")
#: torch.compile modes; "reduce-overhead" adds CUDA graphs on a GPU
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")


@dataclasses.dataclass
class TrainConfig:
    """Every knob of ``spotkern train``. Times are in seconds and converted with the dataset's fps.

    Defaults are the papers' (dense_anchors.md 5, calf.md 9.1) except where noted.

    ``calf_variant="v1"`` reproduces the CALF paper's SoccerNet-v1 setting and needs ``method="calf"``
    and ``soccernet_version=1`` (a named ValueError otherwise): CALF's 3 classes and v1 K (calf.md 2.2),
    the v1 segmentation loss (5.3), lambda_seg 0.002 (5.2), N = 5 slots (4), validation every 20 epochs
    with evaluate(version=1), lr 1e-3 linearly to 1e-6 (9.1), and the v1 sampling (9.4): every epoch,
    one batch per training half holding one chunk per action of the half plus background chunks.
    ``batch_size`` and ``chunks_per_epoch`` therefore do not apply: they stay None and giving one is
    an error. The learning rate decays once per epoch, as v1 (lr -= (1e-3 - 1e-6) / epochs), not per step.
    Distributed training is refused for v1 (its batches, down to one chunk, are not split across ranks).
    """

    data: str = ""                     # dataset root (SoccerNet layout or generic dataset.json)
    out: str = "runs/spotkern"         # run directory (checkpoints, logs)
    method: str = "dense"              # dense (two steps) | dense-joint | calf
    features: str = "auto"             # SoccerNet feature file stem
    train_split: str = "train"
    valid_split: str = "valid"
    label_placement: str = "gametime"
    soccernet_version: int = 2         # SoccerNet layout: 2 (Labels-v2.json, 17 classes) | 1 (Labels.json, CALF's 3)
    # model
    trunk: str = "unet"                # dense trunk: unet | transformer
    trunk_kwargs: dict = dataclasses.field(default_factory=dict)  # e.g. {"levels": 4, "max_width": 256}
    chunk_seconds: float = 112.0       # dense chunk length L = floor(fps * 112 s)
    # dense targets and post-processing (dense_anchors.md 0, 7.2)
    radius_confidence: float = 3.0     # seconds
    displacement_multiplier: float = 2.0
    positive_weight_confidence: float = 0.03
    nms_window_confidence: float = 20.0  # seconds, confidence-only scores
    nms_window_displaced: float = 3.0    # seconds, displaced scores, hard NMS
    nms_window_soft: float = 4.0         # seconds, displaced scores, soft NMS (dense_anchors.md 7.2)
    nms_method: str = "hard"
    valid_border: float = 20.0         # seconds (dense_anchors.md 6)
    test_border: float = 50.0
    # CALF (calf.md 9.1)
    calf_chunk: int = 240
    calf_receptive_field: int = 80
    calf_variant: str = "sn"           # sn | v1 (the CALF paper's SoccerNet-v1 setting; needs soccernet_version=1)
    calf_slots: int | None = None      # N; None: 15 (sn) / 5 (v1)
    lambda_seg: float | None = None    # None: 0.000367 (sn) / 0.002 (v1), calf.md 5.2
    calf_weight_decay: float = 0.0     # CALF trains with plain Adam (calf.md 9.1): no weight decay
    # optimisation (dense_anchors.md 5.1-5.5)
    batch_size: int | None = None      # None: 256 (dense) / 32 (calf); calf v1: does not apply
    chunks_per_epoch: int | None = None  # None: 8192 (dense) / 18000 (calf); calf v1: does not apply
    epochs: int = 1000
    decay_epochs: int = 0              # 0: = epochs
    lr: float = 1e-3
    weight_decay: float = 2e-4         # decoupled, dwd (not multiplied by lr)
    end_fraction: float | None = None  # lr and wd decay linearly to this fraction; None: 0.01 / 0.001 (calf)
    sam_rho: float = 0.0
    mixup_alpha: float = 0.0           # confidence model only
    # step-2 overrides for the displacement model of the two-step method (None: same as step 1)
    displacement_lr: float | None = None
    displacement_weight_decay: float | None = None
    displacement_sam_rho: float | None = None
    displacement_epochs: int | None = None
    # execution
    device: str = "auto"
    amp: bool = False                  # bf16 autocast
    compile: str = "none"              # none | model (the network) | step (the whole step, one graph)
    compile_mode: str = "default"      # torch.compile mode: default | reduce-overhead (CUDA graphs) | max-autotune
    preload: str = "auto"              # features on the device: auto | true | false
    seed: int = 0
    validate_every: int | None = None  # epochs; 0 = never; None: 10 (dense) / 20 (calf)
    checkpoint_every: int = 0          # steps; 0 = at the end of every epoch only
    log_every: int = 0                 # steps between metrics.csv rows (one loss read each); 0 = per epoch
    max_steps: int = 0                 # stop (with a checkpoint) after this many steps in this call; 0 = no limit
    resume: bool = True
    progress: bool = True
    inference_batch: int = 256
    num_threads: int = 0               # torch CPU threads; 0 = 1 on machines of <= 2 cores, else torch's default

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        if not isinstance(d, dict):
            raise TypeError(f"TrainConfig: the configuration must be a mapping of field names (a JSON object), "
                            f"got {type(d).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names, key=str)
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {unknown}")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    @classmethod
    def from_json(cls, path: str) -> TrainConfig:
        return cls.from_dict(read_config_file(path))

    def __post_init__(self):
        # compile was a bool (compile the network) before "step" existed: old configs keep their meaning
        legacy = {True: "model", False: "none", "true": "model", "false": "none"}
        key = self.compile.lower() if isinstance(self.compile, str) else self.compile
        if isinstance(key, (bool, str)) and key in legacy:
            self.compile = legacy[key]
        method = self.method if isinstance(self.method, str) else None  # a wrong type is named by validate()
        variant = self.calf_variant if isinstance(self.calf_variant, str) else "sn"
        for name, value in method_defaults(method, variant).items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Raise a ValueError naming the field for a value of the wrong type or out of range; called by
        ``from_dict`` and at the start of training, before anything is written (float fields given as
        integers are converted to float here)."""
        check_types(self)
        if self.soccernet_version not in SOCCERNET_VERSIONS:
            raise ValueError(f"TrainConfig: soccernet_version must be 1 or 2, got {self.soccernet_version!r}")
        v1 = self.calf_variant == "v1"
        if v1 and self.method != "calf":
            raise ValueError(f"TrainConfig: calf_variant='v1' applies to method 'calf' only, "
                             f"got method {self.method!r}")
        if v1 and self.soccernet_version != 1:
            raise ValueError(f"TrainConfig: calf_variant='v1' needs SoccerNet-v1 data (Labels.json, classes "
                             f"goal/card/subs): set soccernet_version=1, got {self.soccernet_version}")
        if v1:
            for name in V1_UNUSED_FIELDS:
                if getattr(self, name) is not None:
                    raise ValueError(f"TrainConfig: {name} does not apply to calf_variant='v1' (one batch per "
                                     f"training half, calf.md 9.4); leave it unset, got {getattr(self, name)}")
        if self.method == "calf":
            if self.calf_slots < 1:  # an integer: checked with the other integer knobs above
                raise ValueError(f"TrainConfig: calf_slots must be an integer >= 1, got {self.calf_slots!r}")
            w = self.lambda_seg
            if isinstance(w, bool) or not isinstance(w, numbers.Real) or not (math.isfinite(w) and w >= 0):
                raise ValueError(f"TrainConfig: lambda_seg must be a finite number >= 0, got {w!r}")
        for name in ("epochs",) if v1 else ("batch_size", "chunks_per_epoch", "epochs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig: {name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.end_fraction <= 1:
            raise ValueError(f"TrainConfig: end_fraction must be in (0, 1], got {self.end_fraction}")
        rates = ("lr", "weight_decay", "sam_rho", "mixup_alpha", "displacement_lr", "displacement_weight_decay",
                 "displacement_sam_rho")
        for name in rates:  # NaN passes every comparison below and would silently switch SAM/mixup off
            v = getattr(self, name)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"TrainConfig: {name} must be finite, got {v}")
        for name in ("nms_window_confidence", "nms_window_displaced", "nms_window_soft"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"TrainConfig: {name} must be a positive number of seconds, got {v}")
        if self.lr <= 0 or self.weight_decay < 0 or self.sam_rho < 0 or self.mixup_alpha < 0:
            raise ValueError("TrainConfig: lr must be > 0 and weight_decay, sam_rho, mixup_alpha >= 0")
        check_ranges(self)
        check_trunk_kwargs(self.trunk, self.trunk_kwargs)


# ----------------------------------------------------------------------------- validation
# Sane bounds (issue 12.6): beyond them a value is a typo or an attack, not a setting, and would end in
# an allocation of hundreds of GiB or an int64 overflow deep inside torch rather than in a named error.
MAX_SECONDS = 3600.0  # chunk length and inference borders: one hour, longer than any football half
INT_RANGES = {
    "soccernet_version": (1, 2), "calf_chunk": (1, 100_000), "calf_receptive_field": (1, 100_000),
    "calf_slots": (1, 1024), "batch_size": (1, 1 << 16), "chunks_per_epoch": (1, 1 << 31),
    "epochs": (1, 1_000_000), "decay_epochs": (0, 1_000_000), "displacement_epochs": (1, 1_000_000),
    "seed": (0, (1 << 63) - 1), "validate_every": (0, 1_000_000), "checkpoint_every": (0, 1 << 40),
    "max_steps": (0, 1 << 40), "log_every": (0, 1 << 40), "inference_batch": (1, 1 << 16), "num_threads": (0, 4096),
}
#: (low, high, low excluded)
FLOAT_RANGES = {
    "chunk_seconds": (0.0, MAX_SECONDS, True), "radius_confidence": (0.0, MAX_SECONDS, True),
    "displacement_multiplier": (0.0, 1000.0, True), "positive_weight_confidence": (0.0, 1.0, True),
    "nms_window_confidence": (0.0, MAX_SECONDS, True), "nms_window_displaced": (0.0, MAX_SECONDS, True),
    "nms_window_soft": (0.0, MAX_SECONDS, True), "valid_border": (0.0, MAX_SECONDS, False),
    "test_border": (0.0, MAX_SECONDS, False), "lambda_seg": (0.0, math.inf, False),
    "calf_weight_decay": (0.0, math.inf, False), "lr": (0.0, math.inf, True), "weight_decay": (0.0, math.inf, False),
    "end_fraction": (0.0, 1.0, True), "sam_rho": (0.0, math.inf, False), "mixup_alpha": (0.0, math.inf, False),
    "displacement_lr": (0.0, math.inf, True), "displacement_weight_decay": (0.0, math.inf, False),
    "displacement_sam_rho": (0.0, math.inf, False),
}
PRELOAD = ("auto", "true", "false")


def _string_choices() -> dict:
    from spotkern.data.labels import PLACEMENTS
    from spotkern.ops.nms import METHODS as NMS_METHODS

    return {"method": tuple(METHODS), "trunk": tuple(TRUNKS), "calf_variant": CALF_VARIANTS,
            "nms_method": NMS_METHODS, "label_placement": PLACEMENTS, "preload": PRELOAD, "compile": COMPILE_CHOICES,
            "compile_mode": COMPILE_MODES}


def _range_text(name: str) -> str:
    lo, hi, lo_open = FLOAT_RANGES[name]
    if math.isinf(hi):
        return f" {'>' if lo_open else '>='} {lo:g}"
    return f" in {'(' if lo_open else '['}{lo:g}, {hi:g}]"


def check_types(cfg: TrainConfig) -> None:
    """Every field of ``cfg`` has its declared type (ints not bools nor 2.5, floats real numbers within
    float range, strings, bools, a dict), and the closed-set strings are among their choices. Float
    fields given as integers are converted to float."""
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        kind = f.type.replace(" | None", "")
        if v is None and f.type.endswith("| None"):
            continue
        if kind == "int":  # no silent truncation of 2.5 or True
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"TrainConfig: {f.name} must be an integer, got {v!r}")
        elif kind == "float":
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise ValueError(f"TrainConfig: {f.name} must be a finite number{_range_text(f.name)}, got {v!r}")
            try:
                setattr(cfg, f.name, float(v))
            except OverflowError:  # an integer beyond float range
                raise ValueError(f"TrainConfig: {f.name} must be a finite number{_range_text(f.name)}, got {v}") \
                    from None
        elif kind == "bool" and not isinstance(v, bool):
            raise ValueError(f"TrainConfig: {f.name} must be true or false, got {v!r}")
        elif kind == "str" and not isinstance(v, str):
            raise ValueError(f"TrainConfig: {f.name} must be a string, got {v!r}")
        elif kind == "dict" and not isinstance(v, dict):
            raise ValueError(f"TrainConfig: {f.name} must be a JSON object (a dict), got {v!r}")
    for name, choices in _string_choices().items():
        v = getattr(cfg, name)
        if (v.lower() if name == "preload" else v) not in choices:
            raise ValueError(f"TrainConfig: {name} must be one of {choices}, got {v!r}")


def check_ranges(cfg: TrainConfig) -> None:
    """Integer and float fields within ``INT_RANGES`` / ``FLOAT_RANGES`` (NaN and inf refused)."""
    for name, (lo, hi) in INT_RANGES.items():
        v = getattr(cfg, name)
        if v is not None and v < lo:
            raise ValueError(f"TrainConfig: {name} must be >= {lo}, got {v}")
        if v is not None and v > hi:
            raise ValueError(f"TrainConfig: {name} must be <= {hi}, got {v}")
    for name, (low, high, lo_open) in FLOAT_RANGES.items():
        v = getattr(cfg, name)
        if v is not None and not (math.isfinite(v) and (v > low if lo_open else v >= low) and v <= high):
            raise ValueError(f"TrainConfig: {name} must be a finite number{_range_text(name)}, got {v}")


# trunk_kwargs the trainer sets itself (FrameMLP feeds the trunk 64 channels)
_RESERVED_TRUNK_KWARGS = ("input_channels",)
# Upper bounds of the trunks' integer arguments (lower bounds are the constructors' own checks).
_TRUNK_INT_MAX = {"chunk_size": 1 << 20, "levels": 16, "width": 1 << 14, "max_width": 1 << 14, "layers": 256,
                  "hidden": 1 << 14, "num_heads": 1024, "intermediate": 1 << 16}


def check_trunk_kwargs(trunk: str, kwargs: dict) -> None:
    """``trunk_kwargs`` are arguments of the trunk's constructor with valid values: unknown keys, a
    non-object, wrong types and values the constructor refuses are named errors before training starts
    (the trunk is built on the meta device: no memory, no time)."""
    import inspect

    cls = TRUNKS[trunk]
    accepted = [p for p in inspect.signature(cls.__init__).parameters
                if p != "self" and p not in _RESERVED_TRUNK_KWARGS]
    unknown = sorted((k for k in kwargs if k not in accepted), key=str)
    if unknown:
        raise ValueError(f"TrainConfig: trunk_kwargs has unknown key(s) {unknown} for trunk {trunk!r}; accepted: "
                         f"{accepted}")
    for k, v in kwargs.items():
        if k in _TRUNK_INT_MAX and v is not None:
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"TrainConfig: trunk_kwargs[{k!r}] must be an integer, got {v!r}")
            if v > _TRUNK_INT_MAX[k]:
                raise ValueError(f"TrainConfig: trunk_kwargs[{k!r}] must be <= {_TRUNK_INT_MAX[k]}, got {v}")
    if kwargs:  # the defaults are valid; a given set is tried once per process (~0.1 s)
        _try_trunk(trunk, json.dumps(kwargs, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _try_trunk(trunk: str, kwargs_json: str) -> None:
    """Build the trunk with these kwargs on the meta device (no memory): its constructor's own checks."""
    import torch

    kw = json.loads(kwargs_json)
    if trunk == "unet" and "chunk_size" not in kw and isinstance(kw.get("levels"), int):
        kw["chunk_size"] = 7 * 2 ** max(kw["levels"] - 1, 0)  # a length the u-net accepts (the data sets the real one)
    try:
        with torch.device("meta"):
            TRUNKS[trunk](**kw)
    except (TypeError, ValueError) as e:
        raise ValueError(f"TrainConfig: trunk_kwargs: {e}") from None


# ----------------------------------------------------------------------------- files
def read_config_file(path: str, what: str = "config file") -> dict:
    """A JSON object from ``path``; a missing, unreadable, non-regular, oversized, invalid or too deeply
    nested file, or one holding something else than an object, is a ValueError naming the file."""
    from spotkern._files import FileProblem, load_json_file

    try:
        doc = load_json_file(path)
    except FileProblem as e:
        raise ValueError(f"TrainConfig: {what} {e}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"TrainConfig: {what} {path}: must hold a JSON object of TrainConfig fields, got "
                         f"{type(doc).__name__}")
    return doc


# ----------------------------------------------------------------------------- resuming a run
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
    path = os.path.join(cfg.out, RUN_CONFIG)
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(cfg.to_dict(), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
