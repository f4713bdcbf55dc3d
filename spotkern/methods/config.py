"""Training configuration: one flat dataclass, readable from a JSON file and overridable by flags."""
from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import math
import numbers
from typing import TypeVar

import torch

from spotkern._files import load_json_object
from spotkern.data.labels import PLACEMENTS
from spotkern.methods.registry import METHOD_NAMES, method_entries, method_entry
from spotkern.models.trunks import TRUNKS as TRUNK_REGISTRY
from spotkern.ops.nms import METHODS as NMS_METHODS

#: the registered training methods (``spotkern/methods/``): dense (two steps), dense-joint, calf
METHODS = METHOD_NAMES

#: Type of each method-dependent field: its dataclass default is None, and the method's config section
#: (``MethodEntry.defaults``, in the method's module) fills the fields it uses; a field the method does
#: not use stays None.
METHOD_FIELDS = {"batch_size": int, "chunks_per_epoch": int, "validate_every": int, "end_fraction": float,
                 "lambda_seg": float, "calf_slots": int}
CALF_VARIANTS = ("sn", "v1")
SOCCERNET_VERSIONS = (1, 2)


T = TypeVar("T")


def required(value: T | None, name: str) -> T:
    """A method-dependent field read by a method that uses it: set by the method's defaults or by the user,
    so None here means the method's config section does not fill a field its stages read (a named
    ValueError rather than a TypeError deep in training)."""
    if value is None:
        raise ValueError(f"TrainConfig: {name} is unset: the method's config section must give it a default")
    return value


def method_defaults(cfg: TrainConfig) -> dict:
    """The values the method-dependent fields of ``cfg`` take when not given (see METHOD_FIELDS): its
    method's registered defaults (an unknown method takes none here and is refused by ``validate``)."""
    try:
        return method_entry(cfg.method).defaults(cfg)
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
        # a bool compile means the network or nothing: True / "true" -> "model", False / "false" -> "none"
        legacy = {True: "model", False: "none", "true": "model", "false": "none"}
        key = self.compile.lower() if isinstance(self.compile, str) else self.compile
        if isinstance(key, (bool, str)) and key in legacy:
            self.compile = legacy[key]
        for name, value in method_defaults(self).items():
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
        for entry in method_entries():  # a field of another method's section, set away from its default
            for name, default in entry.own_fields.items():
                if entry.name != self.method and getattr(self, name) != default:
                    raise ValueError(f"TrainConfig: {name}={getattr(self, name)!r} applies to method {entry.name!r} "
                                     f"only, got method {self.method!r}")
        method_entry(self.method).check(self)  # the method's own checks (its module's config section)
        for name in ("batch_size", "chunks_per_epoch", "epochs"):
            if getattr(self, name) is not None and int(getattr(self, name)) < 1:
                raise ValueError(f"TrainConfig: {name} must be >= 1, got {getattr(self, name)}")
        if self.end_fraction is not None and not 0 < self.end_fraction <= 1:
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
# Sane bounds: beyond them a value is a typo or an attack, not a setting, and would end in
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
    if kwargs:  # the defaults are valid; a given set is tried once per process
        _try_trunk(trunk, json.dumps(kwargs, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _try_trunk(trunk: str, kwargs_json: str) -> None:
    """Build the trunk with these kwargs on the meta device (no memory): its constructor's own checks."""
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
    return load_json_object(path, f"TrainConfig: {what}", "a JSON object of TrainConfig fields")
