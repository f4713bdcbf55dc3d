"""Training configuration: one flat dataclass, readable from a JSON file and overridable by flags."""
from __future__ import annotations

import dataclasses
import json
import math
import numbers

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
    except ValueError:
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
    num_threads: int = 0               # torch CPU threads for this run; 0 = torch's default

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {unknown}")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    @classmethod
    def from_json(cls, path: str) -> "TrainConfig":
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def __post_init__(self):
        # compile was a bool (compile the network) before "step" existed: old configs keep their meaning
        legacy = {True: "model", False: "none", "true": "model", "false": "none"}
        if isinstance(self.compile, (bool, str)) and (self.compile in legacy if isinstance(self.compile, bool)
                                                      else self.compile.lower() in legacy):
            self.compile = legacy[self.compile if isinstance(self.compile, bool) else self.compile.lower()]
        for name, value in method_defaults(self.method, self.calf_variant).items():
            if getattr(self, name) is None:
                setattr(self, name, value)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        if self.method not in METHODS:  # first: an unknown method has no method defaults
            raise ValueError(f"TrainConfig: method must be one of {tuple(METHODS)}, got {self.method!r}")
        for f in dataclasses.fields(self):  # integer knobs: no silent truncation of 2.5 or True
            v = getattr(self, f.name)
            if f.type in ("int", "int | None") and v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise ValueError(f"TrainConfig: {f.name} must be an integer, got {v!r}")
        for name in ("validate_every", "checkpoint_every", "log_every", "max_steps", "decay_epochs", "num_threads",
                     "seed"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig: {name} must be >= 0, got {getattr(self, name)}")
        if self.compile not in COMPILE_CHOICES:
            raise ValueError(f"TrainConfig: compile must be one of {COMPILE_CHOICES}, got {self.compile!r}")
        if self.compile_mode not in COMPILE_MODES:
            raise ValueError(f"TrainConfig: compile_mode must be one of {COMPILE_MODES}, got {self.compile_mode!r}")
        if self.trunk not in TRUNKS:
            raise ValueError(f"TrainConfig: trunk must be one of {tuple(TRUNKS)}, got {self.trunk!r}")
        if self.calf_variant not in CALF_VARIANTS:
            raise ValueError(f"TrainConfig: calf_variant must be one of {CALF_VARIANTS}, got {self.calf_variant!r}")
        if isinstance(self.soccernet_version, bool) or self.soccernet_version not in SOCCERNET_VERSIONS:
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
