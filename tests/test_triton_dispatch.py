"""CUDA dispatch of the custom ops, with the Triton interpreter standing in for the device.

* every custom op has a CUDA kernel once ``spotkern.triton`` is imported;
* calling each op through the dispatcher's CUDA entry (``OpOverload.redispatch`` with the CUDA key)
  on CPU tensors runs the registered Triton launcher under TRITON_INTERPRET=1 and must equal the
  op's CPU kernel;
* CPU-only use never imports Triton, and a CUDA tensor without a usable Triton gets a clear error.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import spotkern
from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.ops import _cuda

triton = pytest.importorskip("triton")
pytestmark = pytest.mark.triton
import spotkern.triton  # noqa: E402,F401  (registers the CUDA kernels)

OPS = ["time_shift_encoding_packed", "time_shift_encoding_events", "spotting_targets", "reciprocal_matching",
       "dense_anchor_targets", "displace_scores", "nms", "nms_detections", "calf_segmentation_loss"]
CUDA_KEYSET = torch._C.DispatchKeySet(torch._C.DispatchKey.CUDA)


@pytest.mark.parametrize("name", OPS)
def test_cuda_kernel_is_registered(name):
    assert torch._C._dispatch_has_kernel_for_dispatch_key(f"spotkern::{name}", "CUDA")


def _cases():
    rng = np.random.default_rng(0)
    lab = torch.zeros((300, 17))
    lab[rng.integers(0, 300, 12), rng.integers(0, 17, 12)] = 1
    K = torch.from_numpy(np.ascontiguousarray(K_V2_FRAMES, dtype=np.int32))
    lengths = torch.tensor([120, 180], dtype=torch.int64)
    frames = torch.from_numpy(rng.integers(0, 300, 20))
    classes = torch.from_numpy(rng.integers(0, 17, 20))
    tse = spotkern.time_shift_encoding(lab, K)
    chunks = torch.stack([tse[0:80], tse[100:180], tse[200:280]]).contiguous()
    x = torch.from_numpy((rng.integers(0, 9, (4, 15)) / 8).astype(np.float32))
    pres = torch.from_numpy(rng.random((4, 15)) < 0.5)
    p = torch.from_numpy(rng.random((4, 15)).astype(np.float32))
    conf = torch.from_numpy(rng.random((2, 50, 17)).astype(np.float32))
    disp = torch.from_numpy((rng.random((2, 50, 17)) * 2 - 1).astype(np.float32))
    offsets = torch.tensor([0, 7, 20], dtype=torch.int64)
    dense = spotkern.nms(conf, 6, method="hard")
    return {
        "time_shift_encoding_packed": (lab, lengths.new_tensor([300]), K),
        "time_shift_encoding_packed/batch": (lab, lengths, K),
        "time_shift_encoding_events": (frames, classes, K, 300),
        "spotting_targets": (chunks, 15, 20),
        "reciprocal_matching": (x, pres, p, "calf"),
        "reciprocal_matching/optimal": (x, pres.float(), p, "optimal"),
        "dense_anchor_targets": (frames, classes, None, 300, 17, 6.0, 12.0),
        "dense_anchor_targets/batch": (frames.int(), classes.int(), offsets, 40, 17, 2.5, 6.0),
        "displace_scores": (conf, disp, 12.0),
        "nms": (conf, [6] * 17, [0.0] * 17, 0, 0.0, 0.0, 2.0),
        "nms/calf": (conf, [40] * 17, [0.0] * 17, 1, 0.0, 0.0, 2.0),
        "nms/linear": (conf[:, :16, :4], [4] * 4, [0.0] * 4, 2, 1e-5, 0.0, 2.0),
        "nms/gaussian": (conf[:, :16, :4], [4] * 4, [1.5] * 4, 3, 1e-5, 0.25, 2.0),
        "nms_detections": (dense,),
    }


CASES = _cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_entry_runs_the_triton_kernel_and_equals_the_cpu_kernel(case):
    op = getattr(torch.ops.spotkern, case.split("/")[0]).default
    args = CASES[case]
    args = tuple(a.contiguous() if isinstance(a, torch.Tensor) else a for a in args)
    cpu = op(*args)  # CPU tensors: the C++ kernel
    cuda = op.redispatch(CUDA_KEYSET, *args)  # the registered CUDA kernel, interpreted on the CPU
    cpu = cpu if isinstance(cpu, tuple) else (cpu,)
    cuda = cuda if isinstance(cuda, tuple) else (cuda,)
    assert len(cpu) == len(cuda)
    for a, b in zip(cpu, cuda):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(a, b)


def test_cpu_only_use_never_imports_triton():
    """A CPU-only install without Triton: spotkern imports and runs on numpy arrays and CPU tensors
    without importing spotkern.triton (torch itself may probe for the triton package)."""
    code = ("import sys; sys.modules['triton'] = None\n"  # Triton not installed
            "import torch, numpy as np, spotkern\n"
            "K = np.array([[-4, -4], [-2, -2], [2, 2], [4, 4]])\n"
            "spotkern.time_shift_encoding(np.zeros((10, 2), np.float32), K)\n"
            "spotkern.time_shift_encoding(torch.zeros(10, 2), K)\n"
            "spotkern.nms(torch.rand(20, 3), 4, method=\"hard\")\n"
            "assert torch.cuda.is_available() or 'spotkern.triton' not in sys.modules, 'spotkern.triton imported'\n"
            "print('ok')")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


def test_registration_with_triton_reports_no_error(monkeypatch):
    monkeypatch.setattr(_cuda, "_registered", False)
    monkeypatch.setattr(_cuda, "CUDA_ERROR", None)
    _cuda.register_cuda_kernels()
    assert _cuda.CUDA_ERROR is None


class _FakeCudaTensor(torch.Tensor):
    """A CPU tensor that claims to live on a CUDA device (there is none in CI)."""

    @property
    def is_cuda(self):
        return True


def _without_triton(monkeypatch):
    monkeypatch.setitem(sys.modules, "spotkern.triton", None)  # "import spotkern.triton" raises ImportError
    monkeypatch.setattr(_cuda, "_registered", False)
    monkeypatch.setattr(_cuda, "CUDA_ERROR", None)


def test_cuda_tensor_without_triton_gets_a_clear_error(monkeypatch):
    _without_triton(monkeypatch)
    x = torch.Tensor._make_subclass(_FakeCudaTensor, torch.zeros(4, 2))
    with pytest.raises(RuntimeError, match=r"^my_op: CUDA tensors need Triton .*import failed: \w*Error"):
        _cuda.require_cuda("my_op", x)
    _cuda.require_cuda("my_op", torch.zeros(3))  # CPU tensors are fine
    _cuda.require_cuda("my_op", np.zeros(3))


@pytest.mark.parametrize("call", [
    lambda x: spotkern.displace_scores(x, x.clone(), 12.0),
    lambda x: spotkern.nms(x, 4, method="hard"),
    lambda x: spotkern.reciprocal_matching(x[:, 0].contiguous(), x[:, 0] > 0, x[:, 1].contiguous()),
])
def test_public_ops_report_missing_triton(monkeypatch, call):
    _without_triton(monkeypatch)
    x = torch.Tensor._make_subclass(_FakeCudaTensor, torch.rand(6, 2))
    with pytest.raises(RuntimeError, match="CUDA tensors need Triton"):
        call(x)
