"""Eager CPU calls of the ops run their CPU kernel directly (no dispatcher: ~75 us less per call and no
torch._dynamo import on the first call); everything that needs the dispatcher still gets it."""
import subprocess
import sys

import numpy as np
import torch

import spotkern
from spotkern.ops._dispatch import eager_cpu


def test_plain_cpu_tensors_take_the_direct_path():
    x = torch.rand(4, 3)
    assert eager_cpu(x, None, torch.zeros(2, dtype=torch.int64))
    assert not eager_cpu(x.requires_grad_(True))  # autograd needs the op
    assert not eager_cpu(torch.nn.Parameter(torch.rand(2)))  # a subclass
    assert not eager_cpu(torch.empty(2, device="meta"))
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        assert not eager_cpu(torch.empty(2))
    from torch.overrides import TorchFunctionMode

    class Passthrough(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    y = torch.rand(2)
    with Passthrough():
        assert not eager_cpu(y)


def test_traced_calls_still_go_through_the_custom_op():
    calls = []
    real = torch.ops.spotkern.nms.default

    def trace(gm, example_inputs):
        calls.extend(n.target for n in gm.graph.nodes if n.op == "call_function")
        return gm.forward

    scores = torch.rand(30, 4)
    fn = torch.compile(lambda s: spotkern.nms(s, 4, method="hard"), backend=trace, fullgraph=True)
    out = fn(scores)
    assert real in calls or torch.ops.spotkern.nms in calls
    np.testing.assert_array_equal(out.numpy(), spotkern.nms(scores.numpy(), 4, method="hard"))


def test_first_eager_tensor_call_does_not_import_dynamo():
    code = ("import sys, torch, spotkern; spotkern.nms(torch.rand(50, 3), 4, method='hard'); "
            "spotkern.displace_scores(torch.rand(50, 3), torch.zeros(50, 3), 2.0); "
            "print('torch._dynamo' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
