"""Post-processing as a separate, reusable step: raw per-half outputs -> post-NMS ``(T, C)`` scores.

A :class:`PostProcess` is a JSON-serialisable description: per class an NMS method (``hard``,
``calf``, ``linear``, ``gaussian``; dense_anchors.md 7.3-7.5, calf.md 10.4), a window in seconds and
a score threshold, and an optional top-k per half. :func:`default_postprocess` builds what validation
and ``spotkern predict`` apply without a post-processing file; ``spotkern tune`` searches a better one
on saved scores.

``raw`` (one half) is a dict of the saved outputs (``spotkern.inference.scores``):

* ``"confidence"``: (T, C) float32, the confidence head after the sigmoid (dense anchors) or CALF's
  stitched detection scores before NMS (-1 where no slot landed, calf.md 10.3);
* ``"displacement"`` (optional): (T, C) float32 in rd units (the displacement head's tanh output);
* ``"radius_displacement"``: rd in frames (required with a displacement).

Thresholds. A class threshold ``tau`` keeps the post-NMS scores ``s`` with ``float32(s) >= float32(tau)``.
For hard and CALF NMS that is the op's own threshold. For soft NMS a threshold only cuts the tail of
the emission sequence: with op thresholds a <= b the two runs select the same frames in the same
order while the current best is >= b (dense_anchors.md 7.4: decays only shrink scores), so they emit
the same values >= b. The op therefore runs at the largest float32 below ``tau`` and the output is
filtered: the result does not depend on how low the op's threshold was, which is what lets the search
(``spotkern.tune``) compute every threshold from one NMS run. ``None`` keeps the op's default
threshold (0 for hard and CALF NMS, 1e-5 for soft NMS) with no filter, as the run's default does.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from spotkern._files import FileProblem, load_json_file, write_json_atomic
from spotkern._typing import Array, ArrayT, PathLike
from spotkern._validation import check_array, check_float, check_int, is_tensor
from spotkern.ops.displace_scores import displace_scores
from spotkern.ops.nms import METHODS, nms

if TYPE_CHECKING:  # annotations only
    from _typeshed import DataclassInstance

    #: a run's config as post-processing reads it: its dict (``<run>/config.json``) or a dataclass instance
    #: with the NMS fields (``nms_method``, ``nms_window_soft``, ``nms_window_displaced``,
    #: ``nms_window_confidence``), e.g. the training config; post-processing sits below training and
    #: never imports it
    RunConfig = Mapping[str, Any] | DataclassInstance

FORMAT = "spotkern-postprocess"
#: the post-processing ``spotkern predict`` applied, recorded beside its results files
POSTPROCESS_FILE = "postprocess.json"
FORMAT_VERSION = 1
SOFT_METHODS = ("linear", "gaussian")
#: CALF's fixed NMS window in seconds (calf.md 10.4: 20 s, whatever the config)
CALF_WINDOW_S = 20.0


def window_frames(window_s: float, fps: float) -> int:
    """NMS window in frames: round(seconds * fps), in validation and prediction alike."""
    return int(round(float(window_s) * float(fps)))


def op_threshold(tau: float, method: str = "hard") -> float:
    """The op threshold that emits every score s with float32(s) >= float32(tau): the largest float32
    strictly below float32(tau), as a float (see the module docstring). Soft NMS needs a positive
    threshold: at least the smallest positive double there (it never emits a score of 0)."""
    t = float(np.nextafter(np.float32(tau), np.float32(-np.inf)))
    return max(t, float(np.nextafter(0.0, 1.0))) if method in SOFT_METHODS else t


@dataclasses.dataclass
class PostProcess:
    """Per-class post-processing of raw scores (see the module docstring).

    methods: C NMS methods; windows: C windows in seconds (> 0); thresholds: C values >= 0 or None;
    top_k: keep at most this many detections per half over all classes (highest scores; equal scores
    keep frame-major order), None = all. classes: the C class names the lists are indexed by (checked
    against the scores when known). info: free-form provenance (what ``spotkern tune`` searched and
    scored), carried through JSON unchanged.
    """

    methods: list
    windows: list
    thresholds: list
    top_k: int | None = None
    classes: list | None = None
    info: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        fn = "PostProcess"
        for name in ("methods", "windows", "thresholds"):
            v = getattr(self, name)
            if not isinstance(v, (list, tuple)):
                raise TypeError(f"{fn}: {name} must be a list with one entry per class, got {type(v).__name__}")
            setattr(self, name, list(v))
        C = len(self.methods)
        if C == 0:
            raise ValueError(f"{fn}: methods must not be empty")
        for name in ("windows", "thresholds"):
            if len(getattr(self, name)) != C:
                raise ValueError(f"{fn}: {name} must have one entry per class ({C}), got {len(getattr(self, name))}")
        for c, m in enumerate(self.methods):
            if m not in METHODS:
                raise ValueError(f"{fn}: methods[{c}] must be one of {', '.join(map(repr, METHODS))}, got {m!r}")
        self.windows = [check_float(fn, f"windows[{c}]", w, minimum=0.0, min_inclusive=False)
                        for c, w in enumerate(self.windows)]
        self.thresholds = [None if t is None else check_float(fn, f"thresholds[{c}]", t, minimum=0.0)
                           for c, t in enumerate(self.thresholds)]
        if self.top_k is not None:
            self.top_k = check_int(fn, "top_k", self.top_k, minimum=1)
        if self.classes is not None:
            if not isinstance(self.classes, (list, tuple)) or len(self.classes) != C:
                raise ValueError(f"{fn}: classes must list the {C} class names, got {self.classes!r}")
            self.classes = [str(c) for c in self.classes]
        if not isinstance(self.info, dict):
            raise TypeError(f"{fn}: info must be a dict, got {type(self.info).__name__}")

    @property
    def num_classes(self) -> int:
        return len(self.methods)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": FORMAT_VERSION, "classes": self.classes, "methods": self.methods,
                "windows_s": self.windows, "thresholds": self.thresholds, "top_k": self.top_k, "info": self.info}

    @classmethod
    def from_dict(cls, d: dict, where: str = "PostProcess.from_dict") -> PostProcess:
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValueError(f"{where}: not a spotkern post-processing description (needs \"format\": \"{FORMAT}\")")
        if d.get("version") != FORMAT_VERSION:
            raise ValueError(f"{where}: unsupported version {d.get('version')!r} "
                             f"(this spotkern reads {FORMAT_VERSION})")
        missing = [k for k in ("methods", "windows_s", "thresholds") if k not in d]
        if missing:
            raise ValueError(f"{where}: missing fields {missing}")
        try:
            return cls(d["methods"], d["windows_s"], d["thresholds"], d.get("top_k"), d.get("classes"),
                       d.get("info") or {})
        except (TypeError, ValueError) as e:
            raise type(e)(f"{where}: {e}") from None

    def save(self, path: str) -> str:
        """Write the JSON description atomically; returns ``path``."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return write_json_atomic(path, self.to_dict(), indent=1)

    @classmethod
    def load(cls, path: str) -> PostProcess:
        try:
            d = load_json_file(path)  # a regular, size-capped file (a FIFO is an error, not a hang)
        except FileProblem as e:
            raise ValueError(f"PostProcess.load: {e}") from None
        return cls.from_dict(d, f"PostProcess.load: {path}")

    # ------------------------------------------------------------------ variants
    def replace(self, **changes: Any) -> PostProcess:
        """A copy with fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def with_threshold(self, threshold: float | None) -> PostProcess:
        """The same post-processing with one threshold for every class (``predict --threshold``)."""
        return self.replace(thresholds=[threshold] * self.num_classes)

    def check_classes(self, classes: Iterable[str], fn: str = "PostProcess") -> None:
        """The scores' class names must be the description's (same count; same names when it has them)."""
        classes = [str(c) for c in classes]
        if len(classes) != self.num_classes:
            raise ValueError(f"{fn}: the post-processing describes {self.num_classes} classes, the scores have "
                             f"{len(classes)}")
        if self.classes is not None and self.classes != classes:
            raise ValueError(f"{fn}: the post-processing's classes {self.classes} differ from the scores' {classes}")

    # ------------------------------------------------------------------ applying
    def apply(self, raw: dict, fps: float) -> Array:
        """Post-NMS (T, C) float32 scores of one half, -1 where nothing is kept.

        raw: the half's saved outputs (module docstring), numpy arrays or CPU tensors (the result is of
        the same kind). fps: frames per second of the scores (windows are in seconds)."""
        scores = pre_nms_scores(raw)
        # apply_scores keeps the kind it is given: each branch is one kind (numpy / tensor)
        return self.apply_scores(scores, fps) if is_tensor(scores) else self.apply_scores(scores, fps)

    def apply_scores(self, scores: ArrayT, fps: float) -> ArrayT:
        """NMS, thresholds and top-k on (T, C) float32 pre-NMS scores (displaced or not)."""
        fn = "PostProcess.apply"
        check_array(fn, "scores", scores, dtypes=("float32",), ndim=2, allow_empty=True)
        fps = check_float(fn, "fps", fps, minimum=0.0, min_inclusive=False)
        C = int(scores.shape[1])
        if C != self.num_classes:
            raise ValueError(f"{fn}: scores have {C} classes, the post-processing describes {self.num_classes}")
        frames = [window_frames(w, fps) for w in self.windows]
        for c, (m, w) in enumerate(zip(self.methods, frames)):
            if w < (2 if m == "calf" else 0):
                raise ValueError(f"{fn}: windows[{c}] = {self.windows[c]} s is {w} frames at {fps:g} fps; method "
                                 f"'calf' needs >= 2 frames")
        out = torch.full_like(scores, -1.0) if is_tensor(scores) else np.full_like(scores, -1.0)
        # one NMS call per (method, thresholded or not): classes sharing them run together
        groups: dict[tuple[str, bool], list[int]] = {}
        for c, (m, t) in enumerate(zip(self.methods, self.thresholds)):
            groups.setdefault((m, t is None), []).append(c)
        for (method, plain), cols in groups.items():
            idx = torch.as_tensor(cols, device=scores.device) if is_tensor(scores) else np.asarray(cols)
            sub = scores[:, idx].contiguous() if is_tensor(scores) else np.ascontiguousarray(scores[:, idx])
            wins = [frames[c] for c in cols]
            if plain:
                out[:, idx] = nms(sub, wins, method=method)
                continue
            taus = [self.thresholds[c] for c in cols]
            kept = nms(sub, wins, method=method, threshold=op_threshold(min(taus), method))
            tau = np.asarray(taus, dtype=np.float32)
            if is_tensor(kept):
                keep = kept >= torch.from_numpy(tau).to(kept.device)[None, :]
                out[:, idx] = torch.where(keep, kept, -1.0)
            else:
                out[:, idx] = np.where(kept >= tau[None, :], kept, np.float32(-1.0))
        if self.top_k is not None:
            out = keep_top_k(out, self.top_k)
        return out


def keep_top_k(dense: ArrayT, k: int) -> ArrayT:
    """Keep the ``k`` highest cells >= 0 of a post-NMS (T, C) array (equal scores: row-major order
    first), -1 elsewhere. Same kind (numpy / tensor) as the input."""
    a = dense.detach().cpu().numpy() if is_tensor(dense) else dense
    flat = a.reshape(-1)
    cells = np.flatnonzero(flat >= 0)
    if cells.size <= k:
        return dense
    order = np.argsort(-flat[cells], kind="stable")[:k]
    res = np.full_like(a, -1.0)
    res.reshape(-1)[cells[order]] = flat[cells[order]]
    return torch.from_numpy(res).to(dense.device) if is_tensor(dense) else res


def pre_nms_scores(raw: dict) -> Array:
    """The scores NMS runs on: the confidences displaced by their displacements (dense_anchors.md 7.1)
    when ``raw`` has them, else the confidences."""
    fn = "pre_nms_scores"
    if not isinstance(raw, dict) or "confidence" not in raw:
        raise ValueError(f"{fn}: raw must be a dict with a 'confidence' (T, C) array")
    conf = raw["confidence"]
    check_array(fn, "raw['confidence']", conf, dtypes=("float32",), ndim=2, allow_empty=True)
    disp = raw.get("displacement")
    if disp is None:
        return conf
    check_array(fn, "raw['displacement']", disp, dtypes=("float32",), ndim=2, allow_empty=True)
    if tuple(disp.shape) != tuple(conf.shape):
        raise ValueError(f"{fn}: raw['displacement'] must have the shape of raw['confidence'] {tuple(conf.shape)}, "
                         f"got {tuple(disp.shape)}")
    if raw.get("radius_displacement") is None:
        raise ValueError(f"{fn}: raw['radius_displacement'] (rd in frames) is required with a displacement")
    rd = check_float(fn, "raw['radius_displacement']", float(raw["radius_displacement"]), minimum=0.0,
                     min_inclusive=False)
    return displace_scores(conf, disp, rd)


def default_postprocess(config: RunConfig, classes: Iterable[str], *, kind: str,
                        has_displacement: bool = False) -> PostProcess:
    """What a run applies without a post-processing file (``spotkern predict`` and validation).

    config: the run's config: a mapping (``<run>/config.json``) or a dataclass instance (e.g. the training
    config) with the NMS fields. kind: "calf" (CALF's NMS with its
    fixed 20 s window, calf.md 10.4) or "dense": ``nms_method`` with ``nms_window_soft`` (soft methods)
    or ``nms_window_displaced`` (hard) on displaced scores, ``nms_window_confidence`` on confidence-only
    scores (dense_anchors.md 7.2). Thresholds: the op defaults (None)."""
    if isinstance(config, Mapping):
        cfg = config
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        cfg = dataclasses.asdict(config)
    else:
        raise TypeError(f"default_postprocess: config must be a mapping or a dataclass instance, got "
                        f"{type(config).__name__}")
    classes = [str(c) for c in classes]
    C = len(classes)
    if kind == "calf":
        method, window = "calf", CALF_WINDOW_S
    elif kind == "dense":
        method = cfg.get("nms_method", "hard")
        if has_displacement:
            window = cfg.get("nms_window_soft", 4.0) if method in SOFT_METHODS else cfg.get("nms_window_displaced", 3.0)
        else:
            window = cfg.get("nms_window_confidence", 20.0)
    else:
        raise ValueError(f"default_postprocess: kind must be 'calf' or 'dense', got {kind!r}")
    return PostProcess([method] * C, [float(window)] * C, [None] * C, None, classes,
                       {"source": "default", "kind": kind, "has_displacement": bool(has_displacement)})


def resolve_postprocess(config: RunConfig, classes: Iterable[str], *, kind: str, has_displacement: bool,
                        postprocess: PostProcess | PathLike | None = None,
                        threshold: float | None = None, top_k: int | None = None) -> PostProcess:
    """The post-processing ``spotkern predict`` applies: ``postprocess`` (a PostProcess or its JSON file)
    or the run's default, then one ``threshold`` for every class and ``top_k`` when given."""
    if isinstance(postprocess, (str, os.PathLike)):
        postprocess = PostProcess.load(os.fspath(postprocess))
    pp = postprocess or default_postprocess(config, classes, kind=kind, has_displacement=has_displacement)
    if not isinstance(pp, PostProcess):
        raise TypeError(f"predict: postprocess must be a PostProcess or a file path, got {type(pp).__name__}")
    pp.check_classes(classes, "predict")
    overrides = {}
    if threshold is not None:
        pp = pp.with_threshold(threshold)
        overrides["threshold"] = pp.thresholds[0]
    if top_k is not None:
        pp = pp.replace(top_k=top_k)
        overrides["top_k"] = pp.top_k
    if overrides:
        pp = pp.replace(info={**pp.info, "overrides": overrides})
    return pp
