"""Exact resume: an interrupted (or SIGKILLed) run continued from its checkpoint ends bit-identical to
an uninterrupted run (issue 6, item 3)."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from spotkern.data.synth import write_synthetic_soccernet
from spotkern.methods.config import TrainConfig
from spotkern.train.checkpoint import load_checkpoint
from spotkern.train.trainer import train


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    write_synthetic_soccernet(root, splits={"train": 2, "valid": 1}, feature_dim=16, seed=1, progress=False)
    return root


def _cfg(data, out, **kw):
    d = dict(data=data, out=str(out), method="calf", batch_size=4, chunks_per_epoch=8, epochs=2,
             validate_every=0, progress=False, sam_rho=0.05, seed=3,
             num_threads=1)
    d.update(kw)
    return TrainConfig.from_dict(d)


def _assert_same_state(a_path, b_path, finished=True):
    a, b = load_checkpoint(a_path), load_checkpoint(b_path)
    assert a["global_step"] == b["global_step"]
    assert a["finished"] == b["finished"] == finished
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    for k in sa:
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(sa[k][name], sb[k][name])


def test_interrupted_run_resumes_exactly(tiny_data, tmp_path):
    train(_cfg(tiny_data, tmp_path / "a"))
    out = train(_cfg(tiny_data, tmp_path / "b", max_steps=3))
    assert out["stages"][0]["interrupted"]
    st = load_checkpoint(str(tmp_path / "b" / "calf" / "last.pt"))
    assert (st["epoch"], st["step"], st["global_step"]) == (1, 1, 3)
    train(_cfg(tiny_data, tmp_path / "b"))
    _assert_same_state(str(tmp_path / "a" / "calf" / "last.pt"), str(tmp_path / "b" / "calf" / "last.pt"))


def test_resume_after_sigkill(tiny_data, tmp_path):
    # A long schedule (100 steps) so the kill always lands mid-run; both runs then stop at step 6.
    kw = dict(epochs=50, checkpoint_every=1, sam_rho=0.0)
    cfg = _cfg(tiny_data, tmp_path / "killed", **kw)
    args = [sys.executable, "-m", "spotkern", "-q", "train", "--data", tiny_data, "--out", cfg.out,
            "--method", "calf", "--batch-size", "4", "--chunks-per-epoch", "8", "--epochs", "50",
            "--validate-every", "0", "--progress", "false", "--sam-rho", "0.0", "--seed", "3",
            "--checkpoint-every", "1", "--num-threads", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    ckpt = os.path.join(cfg.out, "calf", "last.pt")
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if os.path.isfile(ckpt) and load_checkpoint(ckpt)["global_step"] >= 2:
                break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate()
    killed_at = load_checkpoint(ckpt)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert not killed_at["finished"]
    done = killed_at["global_step"]
    assert 2 <= done < 6
    cfg.max_steps = 6 - done
    train(cfg)  # resume from the last checkpoint the killed process wrote
    train(_cfg(tiny_data, tmp_path / "ref", max_steps=6, **kw))
    _assert_same_state(os.path.join(cfg.out, "calf", "last.pt"), str(tmp_path / "ref" / "calf" / "last.pt"),
                       finished=False)
