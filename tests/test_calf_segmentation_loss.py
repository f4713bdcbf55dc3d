"""CALF segmentation loss (calf.md section 5) on every backend (tests/backends.py) and in both forms (the
torch form, and the fused op: C++ on the CPU, the Triton kernel on the GPU): spec vectors CALF-T7/T8,
hand-computed values for every zone and both variants, numerical safety (defect D4), agreement with the
public-style reference, between the torch form and the fused op and with the spec tables, gradients;
then per backend: the Triton kernel's registration and COMPILE_SPECS, CUDA at training size, and on the
CPU torch.compile, custom-op checks and input errors."""
import math

import numpy as np
import pytest
import torch
from backends import CPU, CUDA, INTERPRETER, backends, param, property_test, run, triton_module
from hypothesis import strategies as st
from spec_vectors import CALF_T7, CALF_T8, GOAL_K
from strategies import loss_chunks

from spotkern.data.soccernet_classes import K_V2_FRAMES, K_V2_SECONDS
from spotkern.losses import CALFSegmentationLoss, calf_segmentation_loss
from spotkern.reference import calf_segmentation_loss_ref

GOAL_K = np.array(GOAL_K, dtype=np.int32)
LN09 = math.log(0.9)

# (backend, fused): the torch form (fused=False) and the fused op on the CPU and CUDA; under the
# interpreter only the fused op runs Triton. The fused CUDA op takes float64 scores in torch (the same
# closed form): FLOAT64 leaves the interpreter out.
IMPLS = [param(CPU, False, id="cpu-torch"), param(CPU, True, id="cpu-fused"), param(INTERPRETER, True),
         param(CUDA, True, id="cuda-fused"), param(CUDA, False, id="cuda-torch")]
FLOAT64 = [p for p in IMPLS if p.values[0] != INTERPRETER]
each_impl = pytest.mark.parametrize("backend, fused", IMPLS)
each_float64_impl = pytest.mark.parametrize("backend, fused", FLOAT64)


def loss(backend, tse, scores, K, **kw):
    return run(backend, calf_segmentation_loss, tse, scores, K, **kw)


def cells(backend, s_values, p_values, K=GOAL_K, dtype=torch.float32, **kw):
    s = torch.tensor(s_values, dtype=torch.int32).reshape(-1, 1)
    p = torch.tensor(p_values, dtype=dtype).reshape(-1, 1)
    return loss(backend, s, p, K, reduction="none", **kw).flatten()


# --- spec vectors -----------------------------------------------------------------------------------

@each_impl
@pytest.mark.parametrize("s,p,expected", CALF_T7)
def test_loss_of_a_cell_in_each_zone_of_goal_K(backend, fused, s, p, expected):
    """CALF-T7: one cell per zone of Goal's K, sn form."""
    assert cells(backend, [s], [p], fused=fused).item() == pytest.approx(expected, abs=1e-6)


@each_impl
def test_cells_of_every_zone_in_one_call_equal_the_single_cells(backend, fused):
    """CALF-T7, the table's cells in one call."""
    s, p, expected = zip(*CALF_T7)
    np.testing.assert_allclose(cells(backend, s, p, fused=fused).numpy(), expected, atol=1e-6)


@each_impl
def test_per_class_losses_of_one_frame_with_the_v2_K_table(backend, fused):
    """CALF-T8: one frame, all 17 v2 classes; K in seconds gives defect D3's value."""
    s = torch.full((1, 17), CALF_T8.s, dtype=torch.int32)
    p = torch.full((1, 17), CALF_T8.p)
    per_class = loss(backend, s, p, K_V2_FRAMES, reduction="none", fused=fused)[0]
    np.testing.assert_allclose(per_class.numpy(), CALF_T8.per_class, atol=1e-4)
    assert loss(backend, s, p, K_V2_FRAMES, fused=fused).item() == pytest.approx(CALF_T8.total, abs=1e-5)
    # defect D3: K in seconds where frames are expected gives OSL's wrong value
    got = loss(backend, s, p, K_V2_SECONDS, fused=fused).item()
    assert got == pytest.approx(CALF_T8.total_K_in_seconds, abs=1e-5)


# --- hand-computed values, every zone, both variants ------------------------------------------------

# (s, p, sn value, v1 value) for Goal K = (-40, -20, 120, 180)
ZONES = [
    # zone 1: -ln(1 - p) + ln 0.9
    (-41, 0.7, -math.log(0.3) + LN09, -math.log(0.3) + LN09),
    (-41, 0.1, 0.0, 0.0),  # dead band: p <= 0.1
    # zone 2, left end s = K1 (w2 = 1) and s = -25 (w2 = 0.25)
    (-40, 0.7, -math.log(0.3) + LN09, -math.log(0.3) + LN09),
    (-25, 0.8, -math.log(1 - 0.8 * 0.25) + LN09, -math.log(1 - 0.8 * 0.25) + LN09),
    # zone 3 includes its left end K2 and excludes 0; anything goes
    (-20, 1.0, 0.0, 0.0),
    (-1, 0.0, 0.0, 0.0),
    # zone 4: sn -ln(s/K3 + p (K3 - s)/K3) + ln 0.9; v1 -ln(p + s/K3) + ln 0.9
    (0, 0.2, -math.log(0.2) + LN09, -math.log(0.2) + LN09),
    (30, 0.2, -math.log(0.25 + 0.2 * 0.75) + LN09, -math.log(0.2 + 0.25) + LN09),
    (119, 0.0, -math.log(119 / 120) + LN09, -math.log(119 / 120) + LN09),  # both 0: argument > 0.9
    # zone 5: sn -ln(1 - p w5) + ln 0.9; v1 -ln(1 - p + (K4 - s)/(K4 - K3)) + ln 0.9
    (120, 0.99, 0.0, -math.log(1 - 0.99 + 1.0) + LN09),  # left end: w5 = 0
    (150, 0.9, -math.log(1 - 0.9 * 0.5) + LN09, -math.log(1 - 0.9 + 0.5) + LN09),
    (170, 0.95, -math.log(1 - 0.95 * 50 / 60) + LN09, -math.log(1 - 0.95 + 10 / 60) + LN09),
    # zone 6 includes K4
    (180, 0.6, -math.log(0.4) + LN09, -math.log(0.4) + LN09),
    (10_000, 0.95, -math.log(0.05) + LN09, -math.log(0.05) + LN09),
]


@pytest.mark.parametrize("backend, fused, dtype", [*(pytest.param(*p.values, torch.float64, marks=p.marks, id=p.id)
                                                     for p in FLOAT64),
                                                   param(INTERPRETER, True, torch.float32, id="triton-interpreter")])
@pytest.mark.parametrize("variant", ["sn", "v1"])
@pytest.mark.parametrize("s,p,sn_value,v1_value", ZONES)
def test_every_zone_by_hand(backend, fused, dtype, s, p, sn_value, v1_value, variant):
    """float64 (to 1e-12) where the op computes in float64; the Triton kernel computes float32."""
    expected = max(0.0, sn_value if variant == "sn" else v1_value)
    got = cells(backend, [s], [p], dtype=dtype, variant=variant, fused=fused).item()
    assert got == pytest.approx(expected, abs=1e-12 if dtype == torch.float64 else 2e-6)


@each_float64_impl
def test_margins_are_parameters(backend, fused):
    # the "no margins" ablation: m- = 1, m+ = 0 -> plain -ln terms, no dead band
    got = cells(backend, [-50, 0, 150], [0.05, 0.95, 0.5], miss_radius=1.0, hit_radius=0.0, dtype=torch.float64,
                fused=fused)
    np.testing.assert_allclose(got.numpy(), [-math.log(0.95), -math.log(0.95), -math.log(0.75)], rtol=1e-12)
    got = cells(backend, [-50, 0], [0.5, 0.5], miss_radius=0.8, hit_radius=0.3, dtype=torch.float64, fused=fused)
    np.testing.assert_allclose(got.numpy(), [math.log(2) + math.log(0.8), math.log(2) + math.log(0.7)], rtol=1e-12)


@each_impl
def test_border_rows_cost_nothing(backend, fused):
    tse = torch.randint(-300, 300, (2, 240, 17), dtype=torch.int32)
    tse[:, :40] = -1
    tse[:, 200:] = -1
    p = torch.rand(2, 240, 17)
    p[:, :40] = 1.0
    p[:, 200:] = 0.0
    per_cell = loss(backend, tse, p, K_V2_FRAMES, reduction="none", fused=fused)
    assert per_cell[:, :40].abs().sum() == 0 and per_cell[:, 200:].abs().sum() == 0
    whole = loss(backend, tse, p, K_V2_FRAMES, fused=fused)
    inner = loss(backend, tse[:, 40:200].contiguous(), p[:, 40:200].contiguous(), K_V2_FRAMES, fused=fused)
    assert whole.item() == pytest.approx(inner.item(), rel=1e-5)


# --- numerical safety (calf.md 5.5, defect D4) ------------------------------------------------------

@each_impl
@pytest.mark.parametrize("dtype,eps", [(torch.float32, 1e-7), (torch.float64, 1e-12)])
def test_saturated_scores_stay_finite(backend, fused, dtype, eps):
    tse = torch.arange(-250, 250, dtype=torch.int32).reshape(-1, 1).repeat(1, 17)
    for value in (0.0, 1.0):
        p = torch.full(tse.shape, value, dtype=dtype, requires_grad=True)
        total = loss(backend, tse, p, K_V2_FRAMES, fused=fused)
        total.backward()
        assert torch.isfinite(total) and torch.isfinite(p.grad).all()
        # the reference multiplies inf by a 0 indicator: NaN
        assert torch.isnan(calf_segmentation_loss_ref(tse, p.detach(), K_V2_FRAMES))
    # p = 1 in zones 1 and 6 and p = 0 at s = 0: the clamped value -ln(eps) + ln 0.9, with zero gradient
    p = torch.tensor([[1.0], [0.0], [1.0]], dtype=dtype, requires_grad=True)
    out = loss(backend, torch.tensor([[-50], [0], [200]], dtype=torch.int32), p, GOAL_K, reduction="none",
               fused=fused)
    np.testing.assert_allclose(out.detach().numpy().ravel(), [-math.log(eps) + LN09] * 3, rtol=1e-6)
    out.sum().backward()
    assert p.grad.abs().sum() == 0


# --- against the public-style reference and between implementations ---------------------------------

@property_test(lambda b: st.tuples(loss_chunks(), st.sampled_from(["sn", "v1"])), names=(CPU,))
def test_torch_form_matches_public_style_reference(backend, case):
    (tse, p, K), variant = case
    tse, p = torch.from_numpy(tse), torch.from_numpy(p)
    got = calf_segmentation_loss(tse, p, K, variant=variant, reduction="none")
    ref = calf_segmentation_loss_ref(tse, p, K, variant=variant, reduction="none")
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)
    assert torch.isfinite(got).all()


# The fused op against the torch form on the CPU (float32 and float64 alike); the GPU backends mostly
# float32, which the Triton kernel computes (float64 takes the same closed form in torch), on longer
# chunks with more classes.
FUSED_CASES = {CPU: dict(p_min=0.0), INTERPRETER: dict(max_L=300, max_C=20, p_min=0.0),
               CUDA: dict(max_L=300, max_C=20, p_min=0.0)}
FUSED_DTYPES = {CPU: [torch.float32, torch.float64], INTERPRETER: [torch.float32] * 3 + [torch.float64],
                CUDA: [torch.float32] * 3 + [torch.float64]}


@property_test(lambda b: st.tuples(loss_chunks(**FUSED_CASES[b]), st.sampled_from(["sn", "v1"]),
                                   st.sampled_from(FUSED_DTYPES[b]), st.booleans()),
               examples={CPU: 30, INTERPRETER: 25, CUDA: 25})
def test_fused_op_matches_torch_form(backend, case):
    (tse, p, K), variant, dtype, per_cell = case
    tse, p = torch.from_numpy(tse), torch.from_numpy(p).to(dtype)
    reduction = "none" if per_cell else "sum"
    a = p.clone().requires_grad_(True)
    b = p.clone().requires_grad_(True)
    la = calf_segmentation_loss(tse, a, K, variant=variant, reduction=reduction, fused=False)
    lb = loss(backend, tse, b, K, variant=variant, reduction=reduction, fused=True)
    assert lb.shape == la.shape
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    if per_cell:
        torch.testing.assert_close(lb, la, rtol=tol, atol=tol)
    else:  # float32 sums over up to 18,000 cells in another order
        assert lb.item() == pytest.approx(la.item(), rel=tol, abs=1e-4 if dtype == torch.float32 else tol)
    w = torch.rand_like(la)
    (la * w).sum().backward()
    (lb * w).sum().backward()
    torch.testing.assert_close(b.grad, a.grad, rtol=tol, atol=tol)


@each_float64_impl
@pytest.mark.parametrize("variant", ["sn", "v1"])
def test_gradcheck_float64(backend, fused, variant):
    g = torch.Generator().manual_seed(3)
    K = np.ascontiguousarray(K_V2_FRAMES[:, :5])
    tse = torch.randint(-220, 220, (2, 30, 5), generator=g, dtype=torch.int32)
    p = (0.02 + 0.96 * torch.rand(2, 30, 5, generator=g, dtype=torch.float64)).requires_grad_(True)
    # inputs well inside the hinges' linear pieces: every active cell is away from its kink
    assert torch.autograd.gradcheck(
        lambda x: loss(backend, tse, x, K, variant=variant, reduction="none", fused=fused), (p,))
    assert torch.autograd.gradcheck(lambda x: loss(backend, tse, x, K, variant=variant, fused=fused), (p,))


def _table_cell(s, p, K1, K2, K3, K4, variant, m_minus=0.9, m_plus=0.1):
    """calf.md 5.1 / 5.3 per-cell loss written straight from the tables, in float64 Python maths."""
    lm, lh = math.log(m_minus), math.log(1 - m_plus)
    hinge = lambda arg, margin: max(0.0, -math.log(arg) + margin)  # noqa: E731
    if s < K1 or s >= K4:                                     # zones 1 and 6
        return hinge(1 - p, lm)
    if s < K2:                                                # zone 2
        return hinge(1 - p * (K2 - s) / (K2 - K1), lm)
    if s < 0:                                                 # zone 3
        return 0.0
    if s < K3:                                                # zone 4
        return hinge(s / K3 + p * (K3 - s) / K3, lh) if variant == "sn" else hinge(p + s / K3, lh)
    if variant == "sn":                                       # zone 5
        return hinge(1 - p * (s - K3) / (K4 - K3), lm)
    return hinge(1 - p + (K4 - s) / (K4 - K3), lm)


@each_float64_impl
@pytest.mark.parametrize("variant", ["sn", "v1"])
def test_cells_match_the_spec_tables_on_random_cells(backend, fused, variant):
    """Every zone of all 17 v2 classes against calf.md's tables computed cell by cell (an oracle
    independent of both the torch form and the reference's q = 1 - p forms)."""
    g = torch.Generator().manual_seed(3)
    tse = torch.randint(-220, 220, (40, 17), dtype=torch.int32, generator=g)
    p = torch.rand(40, 17, dtype=torch.float64, generator=g) * 0.98 + 0.01
    got = loss(backend, tse, p, K_V2_FRAMES, variant=variant, reduction="none", fused=fused)
    expected = torch.tensor([[_table_cell(int(tse[t, c]), float(p[t, c]), *(int(k) for k in K_V2_FRAMES[:, c]),
                                          variant) for c in range(17)] for t in range(40)], dtype=torch.float64)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    assert (expected > 0).sum() > 100  # the draw reaches the active parts of the zones




# --- the Triton kernel: registration, COMPILE_SPECS; CUDA at training size -----------------------------

@backends(INTERPRETER)
def test_kernel_is_the_cuda_kernel_of_the_op(backend):
    triton_module("calf_segmentation_loss")
    assert torch._C._dispatch_has_kernel_for_dispatch_key("spotkern::calf_segmentation_loss", "CUDA")
    assert torch._C._dispatch_has_kernel_for_dispatch_key("spotkern::calf_segmentation_loss", "CPU")


@backends(INTERPRETER)
def test_compile_specs_cover_every_launch(backend):
    tk = triton_module("calf_segmentation_loss")
    seen = {(sig["tse_ptr"], ce["VARIANT"], ce["PER_CELL"]) for _, sig, ce in tk.COMPILE_SPECS}
    assert seen == {(t, v, pc) for t in ("*i32", "*i64") for v in (0, 1) for pc in (False, True)}
    for fn, sig, _ in tk.COMPILE_SPECS:
        assert fn is tk._calf_segmentation_loss_kernel
        assert list(sig) == list(fn.arg_names)


@backends(CUDA)
def test_cuda_fused_kernel_matches_the_torch_form_at_training_size(backend):
    g = torch.Generator().manual_seed(0)
    tse = torch.randint(-300, 300, (8, 240, 17), generator=g, dtype=torch.int32)
    p = torch.rand(8, 240, 17, generator=g)
    p[0, 0] = 1.0
    p[0, 1] = 0.0  # saturated scores stay finite (calf.md 5.5)
    a = p.clone().requires_grad_(True)
    b = p.clone().requires_grad_(True)
    la = calf_segmentation_loss(tse, a, K_V2_FRAMES)
    lb = loss(backend, tse, b, K_V2_FRAMES, fused=True)
    la.backward()
    lb.backward()
    torch.testing.assert_close(lb, la, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-6)


# --- CPU: compile, custom-op checks ----------------------------------------------------------------------

FUSED = [False, True]


def test_int64_tse_and_2d_input():
    tse = torch.randint(-220, 220, (30, 17), dtype=torch.int64)
    p = torch.rand(30, 17)
    a = calf_segmentation_loss(tse, p, K_V2_FRAMES)
    b = calf_segmentation_loss(tse.to(torch.int32)[None], p[None], K_V2_FRAMES, fused=True)
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


def test_opcheck_fused_op():
    tse = torch.randint(-220, 220, (2, 12, 17), dtype=torch.int32)
    K = torch.from_numpy(K_V2_FRAMES)
    for per_cell in (False, True):
        p = torch.rand(2, 12, 17, dtype=torch.float64, requires_grad=True)
        torch.library.opcheck(torch.ops.spotkern.calf_segmentation_loss, (tse, p, K, 0.9, 0.1, 0, 1e-12, per_cell))


@pytest.mark.parametrize("fused", FUSED)
def test_compile_fullgraph_matches_eager(fused):
    torch._dynamo.reset()
    loss_mod = CALFSegmentationLoss(K_V2_FRAMES, fused=fused)
    tse = torch.randint(-220, 220, (2, 24, 17), dtype=torch.int32)
    p = torch.rand(2, 24, 17)

    def step(fwd, x):
        x = x.clone().requires_grad_(True)
        loss = fwd(tse, x)
        loss.backward()
        return loss.detach(), x.grad

    eager = step(loss_mod, p)
    compiled = step(torch.compile(loss_mod, fullgraph=True, backend="aot_eager" if fused else "inductor"), p)
    torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)


def test_compile_functional_form_with_numpy_K():
    torch._dynamo.reset()
    tse = torch.randint(-220, 220, (2, 24, 17), dtype=torch.int32)
    p = torch.rand(2, 24, 17)
    for variant in ("sn", "v1"):
        for reduction in ("sum", "none"):
            torch._dynamo.reset()
            fn = torch.compile(lambda x, v=variant, r=reduction: calf_segmentation_loss(tse, x, K_V2_FRAMES, variant=v,
                                                                                        reduction=r),
                               fullgraph=True, backend="eager")
            torch.testing.assert_close(fn(p), calf_segmentation_loss(tse, p, K_V2_FRAMES, variant=variant,
                                                                     reduction=reduction))


def test_module_matches_function():
    mod = CALFSegmentationLoss(K_V2_FRAMES, variant="v1", reduction="none")
    tse = torch.randint(-220, 220, (2, 24, 17), dtype=torch.int32)
    p = torch.rand(2, 24, 17)
    torch.testing.assert_close(mod(tse, p), calf_segmentation_loss(tse, p, K_V2_FRAMES, variant="v1",
                                                                   reduction="none"))
    assert "v1" in repr(mod)


# --- input errors -----------------------------------------------------------------------------------

T32 = torch.zeros(4, 17, dtype=torch.int32)
P32 = torch.full((4, 17), 0.5)
BAD = [
    (dict(tse=T32.half()), TypeError, "tse"),  # float32/float64 TSE of whole frames is accepted (issue 11)
    (dict(tse=T32.double() + 0.5), ValueError, "tse must hold integer frames"),
    (dict(scores=P32.half()), TypeError, "scores"),
    (dict(scores=P32.numpy()), TypeError, "scores"),
    (dict(scores=torch.full((4, 16), 0.5)), ValueError, "same shape"),
    (dict(scores=torch.full((17,), 0.5), tse=torch.zeros(17, dtype=torch.int32)), ValueError, "dimensions"),
    (dict(scores=torch.full((4, 17), float("nan"))), ValueError, "NaN"),
    (dict(scores=torch.full((0, 17), 0.5), tse=torch.zeros(0, 17, dtype=torch.int32)), ValueError, "empty"),
    (dict(K=K_V2_FRAMES[:, :3]), ValueError, "K"),
    (dict(K=K_V2_FRAMES[::-1].copy()), ValueError, "K1 < K2"),
    (dict(K=K_V2_FRAMES.astype(np.float16)), TypeError, "K"),  # whole-frame float32/64 K is accepted (issue 11)
    (dict(K=K_V2_FRAMES / 4.0), ValueError, "K must hold whole frames"),
    (dict(miss_radius=0.0), ValueError, "miss_radius"),
    (dict(miss_radius=1.5), ValueError, "miss_radius"),
    (dict(hit_radius=1.0), ValueError, "hit_radius"),
    (dict(hit_radius=-0.1), ValueError, "hit_radius"),
    (dict(variant="v3"), ValueError, "variant"),
    (dict(reduction="mean"), ValueError, "reduction"),
    (dict(fused="yes"), TypeError, "fused"),
]


@pytest.mark.parametrize("override,exc,word", BAD)
def test_bad_input(override, exc, word):
    args = dict(tse=T32, scores=P32, K=K_V2_FRAMES)
    args.update(override)
    tse, scores, K = args.pop("tse"), args.pop("scores"), args.pop("K")
    with pytest.raises(exc, match=rf"^calf_segmentation_loss: .*{word}"):
        calf_segmentation_loss(tse, scores, K, **args)


def test_bad_module_arguments():
    with pytest.raises(ValueError, match="^CALFSegmentationLoss: K"):
        CALFSegmentationLoss(K_V2_FRAMES[::-1].copy())
    with pytest.raises(ValueError, match="^CALFSegmentationLoss: variant"):
        CALFSegmentationLoss(K_V2_FRAMES, variant="x")
