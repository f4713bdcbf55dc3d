"""The ``resnet152-soccernet`` encoder alone (Keras's ResNet-152 in PyTorch, soccernet_features.md 2) on
frames already in memory, CPU, one core. Group ``resnet152 encoder 224x224 B=<b>``: eager (contiguous
NCHW) as the baseline row, then ``channels_last``, ``channels_last`` under bf16 autocast (where the CPU has
bf16 kernels) and ``torch.compile`` of the channels_last model (benchmark runs only). Each row records
frames/s and the time of a 45-minute half at SoccerNet's 2 fps (5400 frames) in ``extra_info``.

``test_resnet152_encoder_cuda`` (skipped without a CUDA GPU; ``bench/gpu_check.sh`` runs it): the same rows
on the GPU at batch 32, bf16 autocast with and without channels_last, each checked against the eager
float32 features of the same batch on the GPU."""
import copy

import numpy as np
import pytest
import torch

from spotkern.video.resnet import ResNet152Keras, caffe_preprocess

FRAMES_PER_HALF = 45 * 60 * 2
ROWS = {
    "eager (baseline)": "eager",
    "channels_last": "channels_last",
    "channels_last + bf16 autocast": "bf16",
    "channels_last + torch.compile": "compiled",
}


def _bf16_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@pytest.fixture(scope="module")
def encoder():
    """Random weights (no file needed), eval mode; one (B, 224, 224, 3) BGR batch, preprocessed."""
    torch.manual_seed(0)
    return ResNet152Keras().eval()


def _batch(b: int) -> torch.Tensor:
    frames = np.random.default_rng(0).integers(0, 256, (b, 224, 224, 3), dtype=np.uint8)
    return caffe_preprocess(frames)


@pytest.fixture(scope="module")
def eager_features(encoder):
    cache = {}

    def get(b):
        if b not in cache:
            with torch.no_grad():
                cache[b] = encoder(_batch(b))
        return cache[b]

    return get


@pytest.mark.parametrize("B", [2])
@pytest.mark.parametrize("row", list(ROWS))
def test_resnet152_encoder(benchmark, encoder, eager_features, row, B):
    kind = ROWS[row]
    if kind == "compiled" and benchmark.disabled:
        pytest.skip("the compiled row runs only when benchmarking (compiling ResNet-152 takes minutes)")
    if kind == "bf16" and not _bf16_supported():
        pytest.skip("this CPU has no bf16 kernels (mkldnn)")
    benchmark.group = f"resnet152 encoder 224x224 B={B}"
    x = _batch(B)
    model = encoder
    if kind != "eager":
        model = copy.deepcopy(encoder).to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if kind == "compiled":
        torch._dynamo.reset()
        model = torch.compile(model)

    def step():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=kind == "bf16"):
            return model(x)

    out = step().float()
    ref = eager_features(B)
    # max relative difference per frame against the eager float32 row
    rel = ((out - ref).abs().amax(dim=1) / ref.abs().amax(dim=1)).max().item()
    assert rel <= (5e-2 if kind == "bf16" else 1e-4), rel
    benchmark(step)
    if not benchmark.disabled:
        per_frame = benchmark.stats.stats.mean / B
        benchmark.extra_info["frames_per_s"] = round(1 / per_frame, 2)
        benchmark.extra_info["s_per_45min_half_at_2fps"] = round(per_frame * FRAMES_PER_HALF, 1)


CUDA_ROWS = {
    "eager fp32 (baseline)": ("eager", False),
    "channels_last": ("channels_last", False),
    "bf16 autocast": ("eager", True),
    "channels_last + bf16 autocast": ("channels_last", True),
    "channels_last + bf16 + torch.compile": ("compiled", True),
}


@pytest.mark.parametrize("B", [32])
@pytest.mark.parametrize("row", list(CUDA_ROWS))
def test_resnet152_encoder_cuda(benchmark, encoder, row, B):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    kind, bf16 = CUDA_ROWS[row]
    benchmark.group = f"resnet152 encoder cuda 224x224 B={B}"
    model = copy.deepcopy(encoder).cuda()
    x = _batch(B).cuda()
    with torch.no_grad():
        ref = model(x)
    if kind != "eager":
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    if kind == "compiled":
        torch._dynamo.reset()
        model = torch.compile(model)

    def step():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        torch.cuda.synchronize()
        return out

    out = step().float()
    rel = ((out - ref).abs().amax(dim=1) / ref.abs().amax(dim=1)).max().item()
    # TF32 may be on for cuDNN convolutions: float32 rows within 1e-2 relative, bf16 within 5e-2
    assert rel <= (5e-2 if bf16 else 1e-2), rel
    benchmark(step)
    if not benchmark.disabled:
        per_frame = benchmark.stats.stats.mean / B
        benchmark.extra_info["frames_per_s"] = round(1 / per_frame, 1)
        benchmark.extra_info["s_per_45min_half_at_2fps"] = round(per_frame * FRAMES_PER_HALF, 2)
