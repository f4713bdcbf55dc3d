"""Atomic checkpoints, loaded with ``torch.load(weights_only=True)``, and the checkpoint policy of a
training stage (``last.pt``, ``last.prev.pt``, ``best.pt``).

A checkpoint holds only tensors and plain Python containers/numbers/strings (no pickled objects), so
loading never executes code from the file.

Policy of a stage directory (:class:`StageCheckpoints`):

* every file is written to ``<name>.tmp.<pid>``, fsynced and renamed over the old one, so a kill leaves
  the old or the new file, never a torn one; temporary files of dead processes are removed;
* each checkpoint records ``digest``, a SHA-256 digest of its contents: torch's zip reader checks no CRC,
  so a flipped bit in a tensor would otherwise load silently;
* ``best.pt`` is written **before** ``last.pt``, and ``last.pt`` records in ``best_digest`` which
  checkpoint ``best.pt`` must hold. A kill between the two writes leaves ``best.pt`` one checkpoint
  ahead of ``last.pt`` (recognised by its ``parent_digest``, the digest of the ``last.pt`` it follows);
  the resumed run repeats that epoch bit-exactly and rewrites it. Any other mismatch (a stale
  ``best.pt`` from an earlier run, a damaged one) is detected, never used silently;
* the previous ``last.pt`` is kept as ``last.prev.pt`` (a hard link, no copy): a truncated or corrupt
  ``last.pt`` falls back to it with a warning; when nothing usable is left the error names the files.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import re
import warnings
import zipfile
from typing import Literal, overload

import torch
from torch import nn

from spotkern._typing import DeviceLike
from spotkern.methods.models import build_model

log = logging.getLogger("spotkern")

LAST, PREVIOUS, BEST = "last.pt", "last.prev.pt", "best.pt"
#: keys of a stage checkpoint that its digest does not cover (the digests themselves)
DIGEST_KEYS = ("digest", "best_digest", "parent_digest")
_TMP = re.compile(r"\.tmp\.(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file(s) and says why."""


def _fsync_dir(d: str) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # e.g. a platform without directory handles: the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_synced(tmp: str, state: dict) -> None:
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())


def save_checkpoint(path: str, state: dict) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same directory, fsync, then
    ``os.replace`` — an interruption leaves either the old or the new checkpoint, never a torn one."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        _write_synced(tmp, state)
        os.replace(tmp, path)
    except BaseException:  # disk full, Ctrl-C...: leave no temporary file behind
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(d)


# What torch.load raises on a truncated, empty or garbled file (PytorchStreamReader's RuntimeError,
# EOFError, the weights-only unpickler's UnpicklingError, ...).
_LOAD_ERRORS = (RuntimeError, EOFError, pickle.UnpicklingError, ValueError, OSError, zipfile.BadZipFile,
                KeyError, IndexError, TypeError, AttributeError, ImportError, MemoryError)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def load_checkpoint(path: str, map_location: DeviceLike = "cpu", *, mmap: bool = False) -> dict:
    """Load a checkpoint with ``weights_only=True``. A missing file is a FileNotFoundError, an unreadable
    one (truncated, empty, not a checkpoint) a :class:`CheckpointError` naming the file, not torch's
    raw ``PytorchStreamReader`` / ``EOFError`` / ``UnpicklingError``. ``mmap``: map the tensors
    instead of reading them (cheap when only the metadata is needed)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load_checkpoint: {path} does not exist")
    try:
        st = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except _LOAD_ERRORS as e:
        raise CheckpointError(f"load_checkpoint: {path}: not a readable checkpoint ({_first_line(e)})") from None
    if not isinstance(st, dict):
        raise CheckpointError(f"load_checkpoint: {path}: not a checkpoint (holds a {type(st).__name__}, not a dict)")
    return st


def payload_digest(state: dict) -> str:
    """SHA-256 hex digest of a checkpoint's contents (tensor dtypes, shapes and bytes; every other value
    by its repr), keys in order, the ``DIGEST_KEYS`` excluded."""
    h = hashlib.sha256()  # SHA-NI: about twice as fast as BLAKE2b here

    def feed(x):
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            if t.numel():
                h.update(t.reshape(-1).view(torch.uint8).numpy().data)
        elif isinstance(x, dict):
            h.update(b"{")
            for k, v in x.items():
                h.update(repr(k).encode())
                feed(v)
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[" if isinstance(x, list) else b"(")
            for v in x:
                feed(v)
            h.update(b"]")
        else:
            h.update(repr(x).encode())

    feed({k: v for k, v in state.items() if k not in DIGEST_KEYS})
    return h.hexdigest()


def clean_orphans(directory: str) -> list:
    """Remove ``*.tmp.<pid>`` files of processes that no longer run (left by a kill during a write);
    returns the removed paths. Files of live processes are left alone."""
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        m = _TMP.search(name)
        if m is None or _alive(int(m.group(1))):
            continue
        path = os.path.join(directory, name)
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    if removed:
        log.info("removed %d temporary checkpoint file(s) of interrupted writes in %s", len(removed), directory)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists (another user's) or not checkable: keep the file
    return True


def _ahead(best: dict, last: dict) -> bool:
    """Whether ``best`` was written right after ``last`` (a kill between writing best.pt and last.pt)."""
    return last.get("digest") is not None and best.get("parent_digest") == last.get("digest")


class StageCheckpoints:
    """The checkpoints of one training stage directory (module docstring).

    The trainer saves with :meth:`save` and resumes with :meth:`load_last`; inference loads the best
    model with :meth:`load_best`. The instance remembers which checkpoint ``best.pt`` holds, so a run
    started afresh (no resume) never claims a ``best.pt`` left by an earlier run.
    """

    def __init__(self, directory: str):
        self.dir = directory
        self.best_digest: str | None = None  # the checkpoint best.pt holds, as far as this run knows
        self.last_digest: str | None = None  # the last checkpoint this run wrote or resumed from
        self._cleaned = False

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    # ---------------------------------------------------------------- writing
    def save(self, state: dict, best: bool = False) -> str:
        """Write ``state`` as ``last.pt`` (the previous one kept as ``last.prev.pt``) and, when ``best``,
        first as ``best.pt``. ``state`` needs ``global_step``; returns the checkpoint's digest."""
        os.makedirs(self.dir, exist_ok=True)
        if not self._cleaned:
            clean_orphans(self.dir)
            self._cleaned = True
        digest = payload_digest(state)
        meta = {"digest": digest, "parent_digest": self.last_digest}
        if best:
            save_checkpoint(self.path(BEST), {**state, **meta, "best_digest": digest})
            self.best_digest = digest
        self._write_last({**state, **meta, "best_digest": self.best_digest})
        self.last_digest = digest
        return digest

    def _write_last(self, state: dict) -> None:
        last, prev = self.path(LAST), self.path(PREVIOUS)
        tmp = f"{last}.tmp.{os.getpid()}"
        try:
            _write_synced(tmp, state)
            if os.path.isfile(last):
                # keep the old last.pt as last.prev.pt; a hard link keeps last.pt in place meanwhile
                link = f"{prev}.tmp.{os.getpid()}"
                try:
                    if os.path.lexists(link):
                        os.remove(link)
                    os.link(last, link)
                    os.replace(link, prev)
                except OSError:  # no hard links on this file system: rename (last.pt briefly absent)
                    os.replace(last, prev)
            os.replace(tmp, last)
        except BaseException:
            for p in (tmp, f"{prev}.tmp.{os.getpid()}"):
                if os.path.lexists(p):
                    os.remove(p)
            raise
        _fsync_dir(self.dir)

    # ---------------------------------------------------------------- reading
    def _read(self, name: str, map_location="cpu", verify: bool = True) -> dict:
        """One file, verified against its digest (a checkpoint without a digest is accepted as it is)."""
        path = self.path(name)
        st = load_checkpoint(path, map_location=map_location, mmap=not verify)
        if verify and "digest" in st and payload_digest(st) != st["digest"]:
            raise CheckpointError(f"load_checkpoint: {path}: corrupt checkpoint (its contents do not match "
                                  "the digest written with it)")
        return st

    def _read_last_chain(self, map_location="cpu", verify: bool = True):
        """(state, name) of the newest usable of last.pt / last.prev.pt with a warning for each one
        skipped; (None, None) when neither exists; CheckpointError when none is usable."""
        problems = []
        for name in (LAST, PREVIOUS):
            if not os.path.isfile(self.path(name)):
                if name == LAST and os.path.isfile(self.path(PREVIOUS)):
                    problems.append(f"{self.path(LAST)}: missing")
                continue
            try:
                st = self._read(name, map_location, verify)
            except CheckpointError as e:
                problems.append(str(e).removeprefix("load_checkpoint: "))
                continue
            if problems:
                warnings.warn(f"{'; '.join(problems)}: falling back to {self.path(name)} (one checkpoint older)",
                              RuntimeWarning, stacklevel=3)
            return st, name
        if problems:
            raise CheckpointError(f"no usable checkpoint in {self.dir}: {'; '.join(problems)}; remove the stage "
                                  "directory to train it afresh")
        return None, None

    def load_last(self, map_location: DeviceLike = "cpu") -> dict | None:
        """The state to resume from: ``last.pt``, else ``last.prev.pt`` (with a warning), or None when the
        stage has no checkpoint. Also checks that ``best.pt`` holds the best checkpoint the state
        records; if not (a stale or damaged ``best.pt``), the state's ``best`` score is reset to -inf
        with a warning so that the next validation rewrites ``best.pt``."""
        st, _ = self._read_last_chain(map_location)
        if st is None:
            return None
        self.best_digest, self.last_digest = st.get("best_digest"), st.get("digest")
        if "digest" in st:
            problem = self._best_problem(st)
            if problem:
                warnings.warn(f"{problem}; the best score is reset so that the next validation rewrites it",
                              RuntimeWarning, stacklevel=2)
                st["best"] = -math.inf
                self.best_digest = None
        return st

    def _best_problem(self, st: dict):
        """None when best.pt is consistent with ``st`` (the last checkpoint), else what is wrong."""
        path = self.path(BEST)
        want = st.get("best_digest")
        if not os.path.isfile(path):
            return None if want is None else f"{path}: missing, but {self.path(LAST)} records a best checkpoint"
        try:
            best = self._read(BEST)
        except CheckpointError as e:
            return str(e).removeprefix("load_checkpoint: ")
        if best.get("digest") == want:
            return None
        if _ahead(best, st):
            # killed between writing best.pt and last.pt: the resumed run repeats this validation
            log.info("%s is one checkpoint ahead of the last one (interrupted between the two writes); "
                     "the resumed run rewrites it", path)
            return None
        return (f"{path}: not the best checkpoint recorded in {self.path(LAST)} (a stale best.pt from an earlier run "
                "or a damaged one)")

    def load_best(self, map_location: DeviceLike = "cpu") -> tuple[dict, str]:
        """(state, path) of the stage's best model: ``best.pt``, or the last checkpoint when no best one
        was recorded (no validation yet). Raises CheckpointError naming the file when ``best.pt`` is
        missing, unreadable, corrupt or not the best checkpoint the last one records (unless the last
        checkpoint is itself that best one: then it is used, with a warning), and FileNotFoundError when
        the stage has no checkpoint at all."""
        best_path = self.path(BEST)
        with warnings.catch_warnings():  # a fallback is reported once, by the verified read below
            warnings.simplefilter("ignore")
            try:
                last_meta, _ = self._read_last_chain(verify=False)
            except CheckpointError:
                last_meta = None
        want = None if last_meta is None else last_meta.get("best_digest")
        st = problem = None
        if not os.path.isfile(best_path):
            if last_meta is None:
                raise FileNotFoundError(f"load_checkpoint: {self.dir} holds no checkpoint ({LAST} or {BEST})")
            if want is None:  # never validated: the last checkpoint is the model
                st, name = self._read_last_chain(map_location)
                return st, self.path(name)
            problem = f"{best_path}: missing, but {self.path(LAST)} records a best checkpoint"
        else:
            try:
                st = self._read(BEST, map_location)
            except CheckpointError as e:
                problem = str(e).removeprefix("load_checkpoint: ")
        if st is not None and "digest" in st and last_meta is not None and "digest" in last_meta:
            if st["digest"] != want and not _ahead(st, last_meta):
                problem = f"{best_path}: not the best checkpoint recorded in {self.path(LAST)} (stale or damaged)"
            elif st["digest"] != want:
                warnings.warn(f"{best_path}: one checkpoint ahead of {self.path(LAST)} (the run was interrupted "
                              "between the two writes); using it", RuntimeWarning, stacklevel=2)
        if problem is None and st is not None:  # st is read whenever no problem was found
            return st, best_path
        if want is not None and last_meta.get("digest") == want:
            st, name = self._read_last_chain(map_location)
            if st.get("digest") == want:
                warnings.warn(f"{problem}; using {self.path(name)}, which holds the same best checkpoint",
                              RuntimeWarning, stacklevel=2)
                return st, self.path(name)
        raise CheckpointError(f"{problem}; retrain the stage (remove {self.dir}) or restore the file")


@overload
def load_stage_checkpoint(stage_dir: str, which: Literal["last"] = "last",
                          map_location: DeviceLike = "cpu") -> dict | None: ...


@overload
def load_stage_checkpoint(stage_dir: str, which: Literal["best"],
                          map_location: DeviceLike = "cpu") -> tuple[dict, str]: ...


def load_stage_checkpoint(stage_dir: str, which: str = "last",
                          map_location: DeviceLike = "cpu") -> dict | None | tuple[dict, str]:
    """``which="last"``: the state to resume from (or None), see :meth:`StageCheckpoints.load_last`;
    ``which="best"``: (state, path) of the best model, see :meth:`StageCheckpoints.load_best`."""
    ck = StageCheckpoints(stage_dir)
    if which == "last":
        return ck.load_last(map_location)
    if which == "best":
        return ck.load_best(map_location)
    raise ValueError(f"load_stage_checkpoint: which must be 'last' or 'best', got {which!r}")


def load_stage(stage_dir: str, device: DeviceLike = "cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode, meta) from ``<stage_dir>/best.pt`` (else ``last.pt``), weights_only, verified
    (``StageCheckpoints.load_best``); the network is rebuilt from the checkpoint's ``model_spec``
    (``spotkern.methods.models.build_model``)."""
    st, path = load_stage_checkpoint(stage_dir, "best", map_location=device)
    return stage_model(st, path, device)


def stage_model(st: dict, path: str, device: DeviceLike = "cpu") -> tuple[nn.Module, dict]:
    """(model in eval mode, meta) of a stage's state: ``model`` (the state dict), ``model_spec`` and ``config``
    (JSON strings), ``classes``, ``fps``, ``stage``, as a checkpoint or a safetensors export holds them."""
    spec = json.loads(st["model_spec"])
    model = build_model(spec).to(device)
    model.load_state_dict(st["model"])
    model.eval()
    meta = {"model_spec": spec, "config": json.loads(st["config"]), "classes": list(st["classes"]),
            "fps": float(st["fps"]), "stage": st["stage"], "path": path}
    return model, meta
