"""Two-process DistributedDataParallel training with gloo on CPU, launched by torchrun (issue 6, item 3):
the ranks split every global batch, so the result matches a single-process run of the same config."""
import json
import os
import subprocess
import sys

import pytest
import torch

from spotkern.data.synth import write_synthetic_soccernet
from spotkern.methods.config import TrainConfig
from spotkern.methods.models import build_model
from spotkern.train.checkpoint import load_checkpoint
from spotkern.train.trainer import train

ARGS = {"method": "dense-joint", "trunk_kwargs": {"levels": 2, "width": 64, "max_width": 64}, "chunk_seconds": 32.0,
        "batch_size": 8, "chunks_per_epoch": 24, "epochs": 1, "validate_every": 0, "sam_rho": 0.1, "seed": 4,
        "progress": False, "num_threads": 1}


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_process_gloo_matches_single_process(tmp_path):
    data = str(tmp_path / "data")
    write_synthetic_soccernet(data, splits={"train": 1}, feature_dim=8, seed=2, progress=False)
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps({**ARGS, "data": data, "out": str(tmp_path / "ddp")}))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "spotkern", "-q", "train", "--config", str(cfg_path), "--device", "cpu"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = load_checkpoint(str(tmp_path / "ddp" / "joint" / "last.pt"))
    assert ddp["finished"] and ddp["global_step"] == 3
    train(TrainConfig.from_dict({**ARGS, "data": data, "out": str(tmp_path / "single"), "device": "cpu"}))
    single = load_checkpoint(str(tmp_path / "single" / "joint" / "last.pt"))
    torch.manual_seed(4)
    initial = build_model(json.loads(single["model_spec"])).state_dict()
    changed = 0
    for k, v in single["model"].items():
        torch.testing.assert_close(ddp["model"][k], v, rtol=1e-4, atol=1e-5)
        changed += int(not torch.equal(v, initial[k]))
    assert changed > len(initial) // 2  # the three steps did train
