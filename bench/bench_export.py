"""Whole-half inference of an exported network against PyTorch: the time to turn one 45-minute half
(5400 frames at 2 fps, 512-d features) into its raw outputs (chunking, the network, stitching;
``spotkern.export.pipeline.half_raw_outputs``) with the network in PyTorch eager (the baseline row),
``torch.compile`` and onnxruntime (the ``--format onnx`` file), for the paper-size u-net and Transformer
confidence models (112-s chunks) and CALF's network, on one thread and on all threads (one group each).

Under ``--benchmark-disable`` (CI's smoke run) each row runs once on a 600-frame half with small trunks
(``SMOKE_TRUNKS``) and ``torch.compile(backend="eager")`` (no Inductor build): it checks the code paths, not
the speed."""
import os

import numpy as np
import pytest
import torch

from spotkern.data.soccernet_classes import CLASSES_V2
from spotkern.export.exporter import LoadedRun, export_onnx_network, pipeline_of
from spotkern.export.pipeline import half_raw_outputs
from spotkern.methods.models import build_model
from spotkern.methods.registry import method_entry
from spotkern.train.throughput import bench_config

ort = pytest.importorskip("onnxruntime")  # optional dependency: export (in dev)

FEATURES, FPS, HALF = 512, 2.0, 5400
#: the smoke run's trunks: small, on the frame MLP's 64 channels as the real ones
SMOKE_TRUNKS = {"unet": {"levels": 2, "width": 8, "max_width": 8},
                "transformer": {"size": "default", "layers": 1, "hidden": 8, "num_heads": 1, "intermediate": 8}}
ALL = os.cpu_count() or 1
THREADS = {"1 thread": 1, f"all threads ({ALL})": ALL}


def _smoke(config) -> bool:
    return bool(config.getoption("benchmark_disable", default=False))


@pytest.fixture(scope="module", params=["unet", "transformer", "calf"])
def setup(request, tmp_path_factory):
    """(name, pipeline, eager network, compiled network, onnx path, half features)."""
    smoke = _smoke(request.config)
    name = request.param
    cfg = bench_config(name, 64, trunk_kwargs=SMOKE_TRUNKS.get(name) if smoke else None)
    stage = method_entry(cfg.method).stages_for(cfg)[0](cfg, feature_dim=FEATURES, num_classes=len(CLASSES_V2), fps=FPS,
                                                classes=CLASSES_V2)
    spec = stage.model_spec()
    torch.manual_seed(0)
    model = build_model(spec).eval()
    run = LoadedRun("", cfg, {}, stage, {stage.name: model},
                    {stage.name: {"model_spec": spec, "classes": list(CLASSES_V2), "fps": FPS}})
    pipeline = pipeline_of(run)
    path = str(tmp_path_factory.mktemp("onnx") / f"{name}.onnx")
    export_onnx_network(model, spec, path, classes=list(CLASSES_V2), stage=stage.name)
    compiled = torch.compile(model, backend="eager" if smoke else "inductor", dynamic=False)
    T = 600 if smoke else HALF
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((T, FEATURES), dtype=np.float32))
    return name, stage.name, pipeline, model, compiled, path, x


def _session(path, threads):
    from spotkern.export.spotter import OrtNetwork

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    session = ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])
    kind = "calf" if path.endswith("calf.onnx") else "dense"
    outputs = [o.name for o in session.get_outputs()]
    return OrtNetwork(session, kind, "features", outputs)


def _run(benchmark, request, setup, threads, row, net):
    name, stage, pipeline, *_rest, x = setup
    benchmark.group = f"export: {name}, one {x.shape[0]}-frame half, {threads}"
    benchmark.name = row
    n = THREADS[threads]
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with torch.no_grad():  # one round, no warm-up under --benchmark-disable
            raw = benchmark.pedantic(half_raw_outputs, args=(pipeline, {stage: net}, x), rounds=3, iterations=1,
                                     warmup_rounds=0 if _smoke(request.config) else 1)
    finally:
        torch.set_num_threads(old)
    assert raw["confidence"].shape == (x.shape[0], len(CLASSES_V2))
    return raw


@pytest.mark.parametrize("threads", list(THREADS))
def test_eager(benchmark, request, setup, threads):
    _run(benchmark, request, setup, threads, "eager (baseline)", setup[3])


@pytest.mark.parametrize("threads", list(THREADS))
def test_compiled(benchmark, request, setup, threads):
    _run(benchmark, request, setup, threads, "torch.compile", setup[4])


@pytest.mark.parametrize("threads", list(THREADS))
def test_onnxruntime(benchmark, request, setup, threads):
    _run(benchmark, request, setup, threads, "onnxruntime", _session(setup[5], THREADS[threads]))
