"""Dense-anchor models (dense_anchors.md section 4): DA-T10 parameter counts, levels derived from the
chunk length, block structure, heads, shapes, torch.compile(fullgraph=True) against eager, bf16
autocast, input errors."""
import pytest
import torch
from torch import nn

from spotkern.models import BottleneckBlock, DenseSpotter, DenseTransformer, DenseUNet, FrameMLP, TemporalHead


def n_params(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


def conf_only(trunk, input_dim=512, **kw):
    return DenseSpotter(trunk, input_dim=input_dim, num_classes=17, heads=("confidence",), **kw)


def test_unet_parameter_counts_with_512_features():
    """DA-T10: u-net, 6 levels, F = 512."""
    m = conf_only("unet")
    assert n_params(m) == 17_465_297
    assert n_params(m.mlp) == 147_776
    assert n_params(m.trunk.encoder) == 9_798_848
    assert n_params(m.trunk.upsample) + n_params(m.trunk.decoder) == 7_515_392
    assert n_params(m.head_modules) == 3_281
    assert m.trunk.levels == 6 and m.trunk.widths == [64, 128, 256, 512, 1024, 2048]


def test_unet_parameter_counts_with_2048_and_8576_features():
    """DA-T10: u-net, F = 2048 (6 levels) and F = 8576 (5 levels)."""
    m = conf_only("unet", input_dim=2048)
    assert n_params(m) == 18_514_385 and n_params(m.mlp.projection) == 1_049_088
    m = conf_only("unet", input_dim=8576, chunk_size=112)
    assert m.trunk.levels == 5
    assert n_params(m) == 8_868_305
    assert n_params(m.trunk.encoder) == 2_450_624
    assert n_params(m.trunk.upsample) + n_params(m.trunk.decoder) == 1_875_200


@pytest.mark.parametrize("size,expected", [("default", 319_633), ("small", 970_321), ("base", 9_669_457)])
def test_transformer_parameter_counts_per_size(size, expected):
    """DA-T10: transformer encoder, default / small / base."""
    m = conf_only("transformer", size=size)
    assert n_params(m) == expected
    if size == "default":
        t = m.trunk
        assert (t.positions.numel(), n_params(t.input_map), n_params(t.layers), n_params(t.final_ln)) == (
            14_336, 4_160, 149_952, 128)


def test_six_levels_reject_112_frames():
    with pytest.raises(ValueError, match="^DenseUNet: chunk_size 112 must be divisible"):
        DenseUNet(chunk_size=112, levels=6)
    with pytest.raises(ValueError, match="^DenseUNet: chunk_size must be 7"):
        DenseUNet(chunk_size=100)
    assert DenseUNet(chunk_size=100, levels=3).levels == 3


def test_bottleneck_block_structure():
    blk = BottleneckBlock(64, 128)
    assert blk.reduce.out_channels == 32 and blk.conv.kernel_size == (3,) and blk.conv.padding == (1,)
    assert blk.shortcut is not None and blk.shortcut.kernel_size == (1,)
    assert BottleneckBlock(64, 64).shortcut is None
    # pre-activation: the shortcut conv sees ReLU(x); identity blocks add the raw x
    x = torch.randn(2, 64, 10)
    same = BottleneckBlock(64, 64)
    with torch.no_grad():
        same.expand.weight.zero_()
        same.expand.bias.zero_()
    torch.testing.assert_close(same(x), x)
    with torch.no_grad():
        blk.expand.weight.zero_()
        blk.expand.bias.zero_()
    torch.testing.assert_close(blk(x), blk.shortcut(torch.relu(x)))


def test_unet_has_no_normalisation_and_glorot_init():
    m = DenseSpotter("unet", input_dim=32, num_classes=3, chunk_size=28)
    assert not any(isinstance(x, (nn.BatchNorm1d, nn.LayerNorm, nn.GroupNorm)) for x in m.modules())
    convs = [x for x in m.modules() if isinstance(x, (nn.Conv1d, nn.Linear, nn.ConvTranspose1d))]
    assert all(c.bias.abs().sum() == 0 for c in convs)
    w = m.trunk.encoder[2][0].reduce.weight  # Conv1d(128 -> 64, 1): Glorot bound sqrt(6 / (fan_in + fan_out))
    bound = (6 / (w.shape[1] * w.shape[2] + w.shape[0] * w.shape[2])) ** 0.5
    assert w.abs().max() <= bound and w.abs().max() > 0.8 * bound


def test_outputs_and_heads():
    torch.manual_seed(0)
    m = DenseSpotter("unet", input_dim=40, num_classes=5, chunk_size=56, levels=3)
    out = m(torch.randn(2, 56, 40))
    assert set(out) == {"confidence", "displacement"}
    assert out["confidence"].shape == (2, 56, 5) and out["displacement"].shape == (2, 56, 5)
    assert out["displacement"].abs().max() < 1  # tanh
    only = DenseSpotter("unet", input_dim=40, num_classes=5, chunk_size=56, levels=3, heads="displacement")
    assert set(only(torch.randn(1, 56, 40))) == {"displacement"}


def test_head_is_kernel3_same_conv():
    head = TemporalHead(8, 3)
    h = torch.zeros(1, 10, 8)
    h[0, 5] = 1.0
    out = head(h) - head.conv.bias
    nonzero = (out.abs().sum(-1)[0] > 0).nonzero().ravel().tolist()
    assert nonzero == [4, 5, 6]


def test_frame_mlp_projection_only_above_512():
    assert FrameMLP(512).projection is None and FrameMLP(300).fc1.in_features == 300
    assert FrameMLP(513).projection.out_features == 512


def test_unet_skip_is_addition_and_output_is_relu():
    torch.manual_seed(0)
    u = DenseUNet(chunk_size=28, levels=3, width=8, max_width=16, input_channels=12)
    y = u(torch.randn(2, 28, 12))
    assert y.shape == (2, 28, 8) and (y >= 0).all()
    assert u.widths == [8, 16, 16]


def test_transformer_shorter_chunks_and_attention_mixes_frames():
    torch.manual_seed(0)
    t = DenseTransformer("default", chunk_size=24)
    x = torch.randn(1, 20, 64, requires_grad=True)
    y = t(x)
    assert y.shape == (1, 20, 64)
    (y[0, 0] * torch.randn(64)).sum().backward()  # a plain sum of a LayerNorm output is constant
    assert (x.grad[0].abs().sum(-1) > 0).all()  # no mask: every frame reaches frame 0
    with pytest.raises(ValueError, match="^DenseTransformer: x"):
        t(torch.randn(1, 25, 64))


@pytest.mark.parametrize("trunk,kw", [
    ("unet", dict(chunk_size=28, levels=3, width=8, max_width=32)),
    ("transformer", dict(chunk_size=16, layers=1, hidden=16, num_heads=2, intermediate=32)),
])
def test_compile_fullgraph_matches_eager(trunk, kw):
    torch._dynamo.reset()
    torch.manual_seed(0)
    m = DenseSpotter(trunk, input_dim=24, num_classes=3, **kw)
    x = torch.randn(2, kw["chunk_size"], 24)
    eager = m(x)
    compiled = torch.compile(m, fullgraph=True)(x)
    for k in eager:
        torch.testing.assert_close(compiled[k], eager[k], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("trunk,kw", [
    ("unet", dict(chunk_size=28, levels=3, width=8, max_width=32)),
    ("transformer", dict(chunk_size=16, size="small")),
])
def test_bf16_autocast_forward(trunk, kw):
    torch.manual_seed(0)
    m = DenseSpotter(trunk, input_dim=24, num_classes=3, **kw)
    x = torch.randn(2, kw["chunk_size"], 24)
    ref = m(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(x)
    for k in ref:
        assert torch.isfinite(out[k].float()).all()
        torch.testing.assert_close(out[k].float(), ref[k], atol=0.1, rtol=0.05)


@pytest.mark.parametrize("kw,exc,match", [
    (dict(trunk="lstm"), ValueError, "^DenseSpotter: trunk"),
    (dict(trunk=3), TypeError, "^DenseSpotter: trunk"),
    (dict(heads=("confidence", "class")), ValueError, "^DenseSpotter: heads"),
    (dict(heads=()), ValueError, "^DenseSpotter: heads"),
    (dict(num_classes=0), ValueError, "^DenseSpotter: num_classes"),
    (dict(trunk=DenseUNet(chunk_size=28, levels=2), levels=3), TypeError, "^DenseSpotter: trunk keyword"),
])
def test_bad_spotter_arguments(kw, exc, match):
    args = dict(trunk="unet", input_dim=16, num_classes=3, chunk_size=28, levels=2)
    args.update(kw)
    if not isinstance(args["trunk"], str):
        args.pop("chunk_size")
        if "levels" not in kw:
            args.pop("levels")
    with pytest.raises(exc, match=match):
        DenseSpotter(**args)


def test_bad_inputs():
    m = DenseSpotter("unet", input_dim=16, num_classes=3, chunk_size=28, levels=3)
    with pytest.raises(ValueError, match="^DenseSpotter: x"):
        m(torch.randn(2, 28, 15))
    with pytest.raises(ValueError, match="^DenseUNet: x"):
        m(torch.randn(2, 30, 16))
    with pytest.raises(ValueError, match="^DenseTransformer: size"):
        DenseTransformer("huge")
    with pytest.raises(ValueError, match="^DenseTransformer: hidden"):
        DenseTransformer(hidden=30, num_heads=4)


@pytest.mark.parametrize("activation", ["sigmoid", "Tanh", 3])
def test_head_rejects_unknown_activation(activation):
    # Used to fall through silently to logits.
    with pytest.raises(ValueError, match="^TemporalHead: activation"):
        TemporalHead(8, 3, activation)


def test_unet_wiring_matches_the_spec_formula():
    """dense_anchors.md 4.2 written out with the u-net's own blocks: encoder levels joined by
    max-pool 2, decoder h = ConvTranspose(ReLU(h)) + e_i (addition, no 1x1 on the skip), then 2
    blocks, final ReLU."""
    torch.manual_seed(0)
    u = DenseUNet(chunk_size=28, levels=3, width=8, max_width=16, input_channels=12)
    for p in u.parameters():  # non-zero biases too, so that a dropped term shows
        torch.nn.init.normal_(p, std=0.3)
    x = torch.randn(2, 28, 12)
    h = x.transpose(1, 2)
    e0 = u.encoder[0](h)
    e1 = u.encoder[1](torch.nn.functional.max_pool1d(e0, 2, 2))
    e2 = u.encoder[2](torch.nn.functional.max_pool1d(e1, 2, 2))
    d1 = u.decoder[1](u.upsample[1](torch.relu(e2)) + e1)
    d0 = u.decoder[0](u.upsample[0](torch.relu(d1)) + e0)
    torch.testing.assert_close(u(x), torch.relu(d0).transpose(1, 2))
