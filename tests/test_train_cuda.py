"""The training step on a CUDA GPU never synchronises with the host: every method's steps run under
``torch.cuda.set_sync_debug_mode("error")``, eager, compiled and replayed as CUDA graphs. Runs only on a
machine with a CUDA GPU and ``TRITON_INTERPRET`` unset or 0 (``bench/gpu_check.sh`` runs ``pytest tests -m
cuda``, which also takes the "cuda" backend of every op test, tests/backends.py); skipped everywhere else."""
import pytest
import torch
from backends import CUDA, marks

pytestmark = marks(CUDA)

DEVICE = torch.device("cuda")

METHODS = {
    "calf": {"method": "calf", "batch_size": 32, "chunks_per_epoch": 256, "sam_rho": 0.05},
    "dense": {"method": "dense", "batch_size": 32, "chunks_per_epoch": 256, "mixup_alpha": 2.0, "sam_rho": 0.05},
    "dense-joint-transformer": {"method": "dense-joint", "trunk": "transformer", "trunk_kwargs": {"size": "default"},
                                "batch_size": 32, "chunks_per_epoch": 256, "amp": True},
}


@pytest.fixture(scope="module")
def gpu_data(tmp_path_factory):
    from spotkern.data.synth import write_synthetic_soccernet

    root = str(tmp_path_factory.mktemp("data"))
    write_synthetic_soccernet(root, splits={"train": 2}, feature_dim=64, seed=3, progress=False)
    return root


@pytest.mark.parametrize("compile,mode", [("none", "default"), ("step", "default"), ("step", "reduce-overhead")])
@pytest.mark.parametrize("name", sorted(METHODS))
def test_training_step_never_synchronises(gpu_data, tmp_path, name, compile, mode):
    """``torch.cuda.set_sync_debug_mode("error")`` turns any host synchronisation into an error: the
    training steps of every stage (targets, mixup, SAM, AdamW, loss bookkeeping) run under it, eager,
    compiled, and replayed as CUDA graphs."""
    from spotkern.methods.config import TrainConfig
    from spotkern.train.trainer import StageTrainer, load_datasets, make_stages

    cfg = TrainConfig.from_dict(dict(data=gpu_data, out=str(tmp_path), device="cuda", epochs=1, validate_every=0,
                                     progress=False, chunk_seconds=56.0, compile=compile, compile_mode=mode,
                                     **METHODS[name]))
    train_ds, _ = load_datasets(cfg, False)
    for stage in make_stages(cfg, train_ds):
        tr = StageTrainer(cfg, stage, train_ds, None, DEVICE)
        inputs = tr.engine.epoch_inputs(0, 0, 0, tr.total_steps)
        losses = torch.zeros(6, device=DEVICE)
        for k in range(3):  # warm-up: compilation, allocator, cuBLAS handles, CUDA graph recording
            losses[k] = tr.engine.run_step(inputs, k)
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for k in (3, 4, 5):
                losses[k] = tr.engine.run_step(inputs, k)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        assert torch.isfinite(losses).all()
