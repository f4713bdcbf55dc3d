"""CALF context-aware segmentation loss (calf.md 5), forward + backward on a CALF batch (B chunks of
240 x 17 cells), one core. Group ``calf segmentation loss B=<b>``: the public style (every zone's
expression on every cell times a 0/1 indicator, ``calf_segmentation_loss_ref``) as the baseline row,
spotkern's torch closed form eager, and compiled (``torch.compile(fullgraph=True)``)."""
import pytest
import torch

from spotkern import calf_segmentation_loss
from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.reference import calf_segmentation_loss_ref

ROWS = {"public style (all zones x indicator)": "ref", "spotkern eager": "eager", "spotkern compiled": "compiled"}


@pytest.mark.parametrize("B", [32, 256])
@pytest.mark.parametrize("row", list(ROWS))
def test_calf_segmentation_loss(benchmark, row, B):
    kind = ROWS[row]
    if kind == "compiled" and benchmark.disabled:
        pytest.skip("compiled rows run only when benchmarking")
    benchmark.group = f"calf segmentation loss B={B}"
    g = torch.Generator().manual_seed(0)
    tse = torch.randint(-250, 250, (B, 240, 17), generator=g, dtype=torch.int32)
    tse[:, :40] = -1  # chunk borders (calf.md 5.4)
    tse[:, 200:] = -1
    p = torch.rand(B, 240, 17, generator=g).clamp(0.01, 0.99).requires_grad_(True)
    K = torch.as_tensor(K_V2_FRAMES)
    fn = calf_segmentation_loss_ref if kind == "ref" else calf_segmentation_loss
    if kind == "compiled":
        torch._dynamo.reset()
        fn = torch.compile(fn, fullgraph=True)

    def step():
        p.grad = None
        loss = fn(tse, p, K)
        loss.backward()
        return loss

    torch.testing.assert_close(step().detach(), calf_segmentation_loss_ref(tse, p.detach(), K), rtol=1e-4, atol=1e-3)
    benchmark(step)
