"""The pure-torch losses take strided inputs (issue 14: no forced ``.contiguous()`` copies) and give what
they give on contiguous copies."""
import pytest
import torch

from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.losses import calf_segmentation_loss, calf_spotting_loss, dense_confidence_loss, dense_displacement_loss


def strided(shape, low=0.0, high=1.0, seed=0):
    """A (B, T, C) view with C as the slowest axis: not contiguous."""
    g = torch.Generator().manual_seed(seed)
    B, T, C = shape
    return (low + (high - low) * torch.rand(B, C, T, generator=g)).transpose(1, 2)


@pytest.mark.parametrize("loss", [dense_confidence_loss, dense_displacement_loss])
def test_dense_losses_take_strided_views(loss):
    x, t = strided((3, 20, 17), seed=1), strided((3, 20, 17), seed=2)
    if loss is dense_displacement_loss:
        x, t = 2 * x - 1, 2 * t - 1
    w = strided((3, 20, 17), seed=3)
    assert not x.is_contiguous() and not t.is_contiguous()
    torch.testing.assert_close(loss(x, t, w), loss(x.contiguous(), t.contiguous(), w.contiguous()))


@pytest.mark.parametrize("fused", [False, True])
def test_calf_segmentation_loss_takes_strided_views(fused):
    tse = torch.randint(-300, 300, (2, 17, 240), dtype=torch.int32).transpose(1, 2)
    p = strided((2, 240, 17))
    torch.testing.assert_close(calf_segmentation_loss(tse, p, K_V2_FRAMES, fused=fused),
                               calf_segmentation_loss(tse.contiguous(), p.contiguous(), K_V2_FRAMES, fused=fused))


def test_calf_spotting_loss_takes_strided_views():
    y = torch.zeros(2, 5, 19)
    y[:, :2, 0] = 1
    y[:, :2, 1] = torch.tensor([[0.2, 0.7], [0.4, 0.5]])
    y[:, 0, 3] = y[:, 1, 4] = 1
    pred = strided((2, 5, 19), seed=4)
    assert not pred.is_contiguous()
    torch.testing.assert_close(calf_spotting_loss(y, pred), calf_spotting_loss(y, pred.contiguous()))
