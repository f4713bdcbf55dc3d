"""Checkpoint policy of a stage (issue 12.2): best.pt before last.pt, the best checkpoint's identity
recorded and verified, last.prev.pt as a fallback for a truncated or corrupt last.pt, orphaned
temporary files removed; with real kills between the two writes of a best save."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from spotkern.data.synth import write_synthetic_soccernet
from spotkern.methods.config import TrainConfig
from spotkern.train.checkpoint import (
    CheckpointError,
    StageCheckpoints,
    load_checkpoint,
    load_stage_checkpoint,
    save_checkpoint,
)
from spotkern.train.trainer import train


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    write_synthetic_soccernet(root, splits={"train": 2, "valid": 1}, feature_dim=16, seed=1, progress=False,
                              half_minutes=(5.0, 6.0))  # short halves: a quick validation every epoch
    return root


RUN = dict(method="calf", batch_size=4, chunks_per_epoch=8, epochs=3, validate_every=1, progress=False, seed=3,
           num_threads=1, inference_batch=64)


def _cfg(data, out, **kw):
    return TrainConfig.from_dict({**RUN, "data": data, "out": str(out), **kw})


def _same_model(a: dict, b: dict) -> bool:
    return a["model"].keys() == b["model"].keys() and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def _state(step: int, value: float = 0.0) -> dict:
    return {"model": {"w": torch.full((3,), value)}, "global_step": step, "epoch": step, "best": value}


# ----------------------------------------------------------------------------- a real kill between the writes
KILL_SCRIPT = """
import os, signal, sys, torch
from spotkern.cli import main

pairs_to_kill, previous, pairs = int(sys.argv[1]), [None], [0]
real_save = torch.save

def save(obj, f, *a, **k):
    # The same checkpoint written a second time in a row is the second write of a best save (the trainer
    # writes last.pt and best.pt from one state): die between the two writes of the N-th such pair.
    step = obj.get("global_step") if isinstance(obj, dict) else None
    if step is not None and step == previous[0]:
        pairs[0] += 1
        if pairs[0] == pairs_to_kill:
            os.kill(os.getpid(), signal.SIGKILL)
    previous[0] = step
    return real_save(obj, f, *a, **k)

torch.save = save
sys.exit(main(sys.argv[2:]))
"""


def _train_argv(data, out):
    argv = ["-q", "train", "--data", data, "--out", str(out)]
    for k, v in RUN.items():
        argv += ["--" + k.replace("_", "-"), str(v).lower() if isinstance(v, bool) else str(v)]
    return argv


def test_kill_between_best_and_last_keeps_the_best_model(tiny_data, tmp_path):
    """SIGKILL between the two writes of the last best save of a run: the resumed run's best.pt is the
    uninterrupted run's (on the old order, last.pt claimed a best score best.pt did not hold, and the
    resumed run never rewrote best.pt: predict and the displacement stage used the wrong model)."""
    ref = tmp_path / "ref"
    train(_cfg(tiny_data, ref))
    history = json.loads(load_checkpoint(str(ref / "calf" / "last.pt"))["history"])
    best_saves, best = 0, -float("inf")
    for h in history:
        if h["valid_a_mAP"] > best:
            best_saves, best = best_saves + 1, h["valid_a_mAP"]
    script = tmp_path / "kill.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT))
    out = tmp_path / "killed"
    proc = subprocess.run([sys.executable, str(script), str(best_saves), *_train_argv(tiny_data, out)],
                          capture_output=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    # predict right after the kill: the best model, never one that last.pt does not vouch for silently
    with pytest.warns(RuntimeWarning, match="ahead"):
        st, path = load_stage_checkpoint(str(out / "calf"), "best")
    assert path.endswith("best.pt") and _same_model(st, load_checkpoint(str(ref / "calf" / "best.pt")))
    train(_cfg(tiny_data, out))  # resume with the same command
    for name in ("best.pt", "last.pt"):
        a, b = load_checkpoint(str(ref / "calf" / name)), load_checkpoint(str(out / "calf" / name))
        assert _same_model(a, b), name
        assert a["best"] == b["best"] and a["global_step"] == b["global_step"]
    last, best_st = load_checkpoint(str(out / "calf" / "last.pt")), load_checkpoint(str(out / "calf" / "best.pt"))
    assert last["best_digest"] == best_st["digest"] and best_st["best"] == last["best"]


# ----------------------------------------------------------------------------- damaged last.pt
def _flip_tensor_byte(path):
    """Flip one byte inside the largest tensor record of a checkpoint: torch.load still succeeds."""
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)  # the local header's name and extra lengths (the extra pads to 64 B)
        n, m = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
        f.seek(info.header_offset + 30 + n + m + info.file_size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x55]))


NO_VALIDATION = dict(validate_every=0, epochs=2)  # end-of-epoch save at step 2, a max_steps save at 3


@pytest.fixture(scope="module")
def uninterrupted(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    train(_cfg(tiny_data, out, **NO_VALIDATION))
    return load_checkpoint(str(out / "calf" / "last.pt"))


@pytest.mark.parametrize("damage", ["truncate", "empty", "flip"])
def test_damaged_last_checkpoint_falls_back_to_the_previous_one(tiny_data, uninterrupted, tmp_path, damage):
    kw = NO_VALIDATION
    out = tmp_path / "run"
    train(_cfg(tiny_data, out, max_steps=3, **kw))
    last = out / "calf" / "last.pt"
    assert load_checkpoint(str(out / "calf" / "last.prev.pt"))["global_step"] == 2
    if damage == "flip":
        _flip_tensor_byte(str(last))
        torch.load(str(last), weights_only=True)  # loads without complaint: only the digest sees it
    else:
        data = last.read_bytes()
        last.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"")
    with pytest.warns(RuntimeWarning, match=r"last\.pt: .*falling back to .*last\.prev\.pt"):
        train(_cfg(tiny_data, out, **kw))
    a, b = uninterrupted, load_checkpoint(str(last))
    assert _same_model(a, b) and a["global_step"] == b["global_step"] == 4


def test_nothing_usable_left_is_a_named_error(tmp_path):
    ck = StageCheckpoints(str(tmp_path))
    ck.save(_state(1))
    ck.save(_state(2))
    for name in ("last.pt", "last.prev.pt"):
        (tmp_path / name).write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(CheckpointError, match=r"no usable checkpoint in .*last\.pt.*last\.prev\.pt"):
        ck.load_last()
    with pytest.raises(CheckpointError, match=r"load_checkpoint: .*last\.pt: not a readable checkpoint"):
        load_checkpoint(str(tmp_path / "last.pt"))


def test_cli_reports_corrupt_checkpoints_in_one_line(tmp_path, capsys):
    from spotkern.cli import main

    run = tmp_path / "run"
    (run / "calf").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"method": "calf"}))
    (run / "calf" / "best.pt").write_bytes(b"\x00" * 100)
    assert main(["predict", "--run", str(run), "--data", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "best.pt" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- the pair's consistency
def test_best_is_written_before_last_and_last_is_kept(tmp_path, monkeypatch):
    order = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (order.append(os.path.basename(b)), real(a, b))[1])
    ck = StageCheckpoints(str(tmp_path))
    ck.save(_state(1, 0.5), best=True)
    assert [n for n in order if not n.endswith(".prev.pt")] == ["best.pt", "last.pt"]
    ck.save(_state(2, 0.4))
    last, prev, best = (load_checkpoint(str(tmp_path / n)) for n in ("last.pt", "last.prev.pt", "best.pt"))
    assert (last["global_step"], prev["global_step"], best["global_step"]) == (2, 1, 1)
    assert last["best_digest"] == prev["best_digest"] == best["digest"] == prev["digest"]


def test_stale_best_from_an_earlier_run_is_never_used(tmp_path):
    old = StageCheckpoints(str(tmp_path))
    old.save(_state(5, 0.9), best=True)
    fresh = StageCheckpoints(str(tmp_path))  # a run started afresh (no resume) in the same directory
    fresh.save(_state(1, 0.1))
    with pytest.raises(CheckpointError, match=r"best\.pt: not the best checkpoint recorded in .*last\.pt"):
        load_stage_checkpoint(str(tmp_path), "best")
    with pytest.warns(RuntimeWarning, match=r"best\.pt: not the best checkpoint.*reset"):
        st = StageCheckpoints(str(tmp_path)).load_last()
    assert st["best"] == -float("inf")  # the next validation rewrites best.pt


def test_damaged_best_falls_back_only_to_the_same_checkpoint(tmp_path):
    ck = StageCheckpoints(str(tmp_path))
    ck.save(_state(1, 0.5), best=True)  # last.pt holds the best checkpoint itself
    _flip_tensor_byte(str(tmp_path / "best.pt"))
    with pytest.warns(RuntimeWarning, match="holds the same best checkpoint"):
        st, path = load_stage_checkpoint(str(tmp_path), "best")
    assert path.endswith("last.pt") and torch.equal(st["model"]["w"], torch.full((3,), 0.5))
    ck.save(_state(2, 0.3))  # now last.pt is another checkpoint (best.pt still damaged): no silent substitute
    with pytest.raises(CheckpointError, match=r"best\.pt: corrupt checkpoint"):
        load_stage_checkpoint(str(tmp_path), "best")


def test_orphaned_temporary_files_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = tmp_path / f"last.pt.tmp.{int(dead.stdout)}"
    live = tmp_path / f"best.pt.tmp.{os.getppid()}"  # a running process's write in progress
    orphan.write_bytes(b"partial")
    live.write_bytes(b"partial")
    StageCheckpoints(str(tmp_path)).save(_state(1))
    assert not orphan.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["last.pt", live.name])


def test_save_checkpoint_leaves_no_temporary_file_on_failure(tmp_path, monkeypatch):
    def fail(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OSError):
        save_checkpoint(str(tmp_path / "x.pt"), {"a": 1})
    with pytest.raises(OSError):
        StageCheckpoints(str(tmp_path)).save(_state(1))
    assert list(tmp_path.iterdir()) == []


def test_missing_best_is_replaced_only_by_the_same_checkpoint(tmp_path):
    ck = StageCheckpoints(str(tmp_path))
    ck.save(_state(1, 0.2))  # no validation yet: the last checkpoint is the model, silently
    st, path = load_stage_checkpoint(str(tmp_path), "best")
    assert path.endswith("last.pt") and st["global_step"] == 1
    ck.save(_state(2, 0.5), best=True)
    os.remove(tmp_path / "best.pt")
    with pytest.warns(RuntimeWarning, match=r"best\.pt: missing.*holds the same best checkpoint"):
        st, path = load_stage_checkpoint(str(tmp_path), "best")
    assert st["global_step"] == 2
    ck.save(_state(3, 0.1))
    with pytest.raises(CheckpointError, match=r"best\.pt: missing, but .*last\.pt records a best checkpoint"):
        load_stage_checkpoint(str(tmp_path), "best")
