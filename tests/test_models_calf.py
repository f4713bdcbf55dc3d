"""CALFNet (calf.md section 8): CALF-T14 parameter counts and shapes, layer details (padding and
receptive field, capsule channel layout, BatchNorm over time, flatten), the guarded square root,
torch.compile(fullgraph=True) against eager, bf16 autocast, input errors."""
import numpy as np
import pytest
import torch

from spotkern.models import CALFNet, safe_sqrt


def n_params(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def small(**kw):
    args = dict(input_dim=16, num_classes=3, chunk_size=48, receptive_field=16, num_slots=4)
    args.update(kw)
    return CALFNet(**args)


def test_v2_model_parameter_count_and_output_shapes():
    """CALF-T14, v2."""
    torch.manual_seed(0)
    m = CALFNet()
    assert n_params(m) == 578_245
    seg, spot = m(torch.randn(2, 1, 240, 512))
    assert seg.shape == (2, 240, 17) and spot.shape == (2, 15, 19)
    assert (seg >= 0).all() and (seg <= 1).all()
    assert (spot[..., :2] > 0).all() and (spot[..., :2] < 1).all()
    torch.testing.assert_close(spot[..., 2:].sum(-1), torch.ones(2, 15))


def test_v1_model_parameter_count_and_output_shapes():
    """CALF-T14, v1."""
    m = CALFNet(num_classes=3, num_slots=5)
    assert n_params(m) == 332_129
    seg, spot = m(torch.randn(2, 240, 512))
    assert seg.shape == (2, 240, 3) and spot.shape == (2, 5, 5)


def test_layer_table_counts():
    m = CALFNet()
    counts = [n_params(x) for x in (m.frame_fc1, m.frame_fc2, m.pyramid, m.capsule_conv, m.capsule_bn,
                                     m.spot_conv1, m.spot_conv2, m.conf_pos, m.classes)]
    assert counts == [65_664, 4_128, 221_816, 124_304, 480, 27_776, 1_552, 13_950, 118_575]
    assert [c.kernel_size[0] for c in m.pyramid] == [12, 27, 40, 80]
    assert [c._pad for c in m.pyramid] == [(5, 6), (13, 13), (19, 20), (39, 40)]
    assert m.capsule_bn.num_features == 240 and m.capsule_bn.momentum == 0.01 and m.capsule_bn.eps == 1e-3
    assert m.flat_length == 29


def test_segmentation_receptive_field_is_t_minus_40_to_t_plus_41():
    torch.manual_seed(0)
    m = CALFNet().eval()  # eval: BatchNorm uses running statistics, frames do not mix through it
    x = torch.randn(1, 240, 512, requires_grad=True)
    seg, _ = m(x)
    seg[0, 120].sum().backward()
    rows = (x.grad[0].abs().sum(-1) > 0).nonzero().ravel()
    assert rows.min().item() == 80 and rows.max().item() == 161


def test_capsule_channel_layout_is_d_times_C_plus_c():
    m = small(num_classes=3).eval()
    with torch.no_grad():
        m.capsule_conv.weight.zero_()
        m.capsule_conv.bias.zero_()
        C = 3
        for d in range(16):
            m.capsule_conv.bias[d * C + 1] = 20.0  # every capsule dimension of class 1 saturates
    seg, _ = m(torch.randn(2, 48, 16))
    torch.testing.assert_close(seg[..., 1], torch.ones(2, 48), atol=1e-4, rtol=0)
    assert seg[..., 0].abs().max() == 0 and seg[..., 2].abs().max() == 0


def test_flatten_is_channel_major():
    m = small().eval()
    seen = {}
    m.conf_pos.register_forward_hook(lambda mod, inp, out: seen.update(flat=inp[0]))
    m.spot_conv2.register_forward_hook(lambda mod, inp, out: seen.update(conv=out))
    m(torch.randn(1, 48, 16))
    pooled = torch.nn.functional.max_pool1d(torch.relu(seen["conv"]), 3, 2)
    assert pooled.shape[-1] == m.flat_length
    torch.testing.assert_close(seen["flat"][0], pooled[0].reshape(-1))  # index = ch * len + t


def test_batchnorm_statistics_run_over_time_positions():
    m = small().train()
    m(torch.randn(4, 48, 16))
    assert m.capsule_bn.running_mean.shape == (48,)
    assert m.capsule_bn.running_mean.abs().sum() > 0


def test_safe_sqrt_value_and_gradient_at_zero():
    x = torch.tensor([0.0, 0.25, 4.0], requires_grad=True)
    y = safe_sqrt(x)
    torch.testing.assert_close(y, torch.tensor([0.0, 0.5, 2.0]))
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 1.0, 0.25]))


def test_segmentation_gradient_finite_when_capsules_sit_at_the_centre():
    # all capsules at sigma = 0.5 -> p = 0 exactly; the plain sqrt would give inf * 0 = NaN gradients
    m = small().eval()
    with torch.no_grad():
        m.capsule_conv.weight.zero_()
        m.capsule_conv.bias.zero_()
    x = torch.randn(2, 48, 16)
    seg, spot = m(x)
    assert seg.abs().max() == 0
    (seg.sum() + spot.sum()).backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


def test_train_and_eval_agree_on_batching_in_eval():
    torch.manual_seed(0)
    m = small().eval()
    x = torch.randn(3, 48, 16)
    seg_all, spot_all = m(x)
    seg_one, spot_one = m(x[1:2])
    torch.testing.assert_close(seg_all[1:2], seg_one)
    torch.testing.assert_close(spot_all[1:2], spot_one)


def test_compile_fullgraph_matches_eager():
    # training mode: batch statistics in the forward and the running-statistics update
    torch._dynamo.reset()
    torch.manual_seed(0)
    m = small().train()
    x = torch.randn(2, 1, 48, 16)
    eager = m(x)
    eager_stats = m.capsule_bn.running_mean.clone()
    m.capsule_bn.reset_running_stats()
    compiled = torch.compile(m, fullgraph=True)(x)
    for a, b in zip(compiled, eager):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(m.capsule_bn.running_mean, eager_stats)


def test_bf16_autocast_forward():
    torch.manual_seed(0)
    m = small()
    x = torch.randn(2, 48, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        seg, spot = m(x)
    assert torch.isfinite(seg.float()).all() and torch.isfinite(spot.float()).all()
    ref_seg, ref_spot = m(x)
    torch.testing.assert_close(seg.float(), ref_seg, atol=0.05, rtol=0)
    torch.testing.assert_close(spot.float(), ref_spot, atol=0.05, rtol=0)


@pytest.mark.parametrize("shape", [(2, 2, 48, 16), (2, 47, 16), (2, 48, 15), (48, 16)])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="^CALFNet: x"):
        small()(torch.randn(*shape))


@pytest.mark.parametrize("x", [torch.randn(2, 48, 16, dtype=torch.float64), torch.zeros(2, 48, 16, dtype=torch.int64),
                               np.zeros((2, 48, 16), np.float32)])
def test_bad_input_type_or_dtype(x):
    """audit: a float64/int tensor or a numpy array gets a named TypeError, not torch's matmul error."""
    with pytest.raises(TypeError, match="^CALFNet: x must"):
        small()(x)


@pytest.mark.parametrize("kw,exc,word", [
    (dict(num_classes=0), ValueError, "num_classes"),
    (dict(chunk_size=8), ValueError, "chunk_size"),
    (dict(num_slots=2.5), TypeError, "num_slots"),
    (dict(receptive_field=0), ValueError, "receptive_field"),
])
def test_bad_constructor_arguments(kw, exc, word):
    with pytest.raises(exc, match=rf"^CALFNet: {word}"):
        small(**kw)
