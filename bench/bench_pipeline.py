"""Training pipeline throughput, one core: per model (paper-size u-net and transformer dense spotters,
CALF's network; 512-d features, batch 16), the data path (sample + gather + targets on the device), a
full training step and an inference forward, in one group so the ratios read directly. Target: the data
path under 5 % of a training step (issue 6, item 6). ``spotkern bench`` prints chunks/s for the same
rows, eager and compiled."""
import pytest

from spotkern.train.throughput import PipelineBench, synthetic_halves

BATCH = 16


@pytest.fixture(scope="module")
def halves():
    return synthetic_halves(4, 512)


@pytest.fixture(scope="module", params=["unet", "transformer", "calf"])
def pipeline(request, halves):
    return PipelineBench(request.param, BATCH, 512, "cpu", halves=halves)


def _group(benchmark, pipeline, what):
    benchmark.group = f"pipeline {pipeline.name} batch {BATCH}"
    benchmark.name = what


def test_data_path(benchmark, pipeline):
    _group(benchmark, pipeline, "data path")
    x, _ = benchmark(pipeline.data_batch)
    assert x.shape == (BATCH, pipeline.L, 512)


def test_train_step_with_data(benchmark, pipeline):
    _group(benchmark, pipeline, "train step incl. data path")
    loss = benchmark.pedantic(pipeline.train_step, rounds=3, iterations=1, warmup_rounds=1)
    assert float(loss) == float(loss)  # finite, not NaN


def test_inference(benchmark, pipeline):
    _group(benchmark, pipeline, "inference forward")
    x = pipeline.data_batch()[0]
    benchmark.pedantic(pipeline.infer, args=(x,), rounds=3, iterations=1, warmup_rounds=1)


@pytest.fixture(scope="module")
def memmapped(tmp_path_factory, halves):
    """The same halves as .npy files opened with mmap_mode="r" (the path for datasets too big to preload)."""
    import numpy as np

    from spotkern.data.dataset import Half

    d = tmp_path_factory.mktemp("mm")
    out = []
    for i, h in enumerate(halves):
        np.save(d / f"{i}.npy", np.asarray(h.features))
        out.append(Half(h.game, h.half, np.load(d / f"{i}.npy", mmap_mode="r"), h.frames, h.classes))
    return out


@pytest.mark.benchmark(group=f"pipeline unet batch {BATCH}")
def test_data_path_memory_mapped(benchmark, memmapped):
    from spotkern.data.batching import FeatureBank

    p = PipelineBench("unet", BATCH, 512, "cpu", halves=memmapped)
    p.data.bank = FeatureBank(memmapped, "cpu", preload=False)
    p.bank = p.data.bank
    benchmark.name = "data path (memory-mapped features)"
    x, _ = benchmark(p.data_batch)
    assert not p.bank.preloaded and x.shape == (BATCH, 224, 512)
