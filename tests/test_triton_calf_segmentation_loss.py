"""Fused Triton CALF segmentation loss: values and derivatives against the torch form under
TRITON_INTERPRET=1 (set by tests/conftest.py), CUDA registration and the COMPILE_SPECS it lists
(compiled for sm_70/80/90 by tests/test_triton_compile.py)."""
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("triton")

from spotkern.data.soccernet_classes import K_V2_FRAMES  # noqa: E402
from spotkern.ops._calf_zones import cell_losses  # noqa: E402

pytestmark = pytest.mark.triton

if os.environ.get("TRITON_INTERPRET") != "1":  # pragma: no cover - conftest sets it
    pytest.skip("Triton kernels are tested under TRITON_INTERPRET=1", allow_module_level=True)

from spotkern.triton import calf_segmentation_loss as tk  # noqa: E402

VARIANTS = {"sn": 0, "v1": 1}


def torch_form(tse, p, K, variant, eps=1e-7):
    x = p.clone().requires_grad_(True)
    cells = cell_losses(tse, x, K, miss_radius=0.9, hit_radius=0.1, variant=variant, eps=eps)
    cells.sum().backward()
    return cells.detach(), x.grad


def random_case(B, L, C, seed, tse_dtype=torch.int32, saturate=False):
    g = torch.Generator().manual_seed(seed)
    K = torch.from_numpy(np.ascontiguousarray(np.tile(K_V2_FRAMES, (1, 2))[:, :C]))
    tse = torch.randint(-260, 260, (B, L, C), generator=g).to(tse_dtype)
    tse[:, : min(L, 3)] = -1
    p = torch.rand(B, L, C, generator=g)
    if saturate:
        p = torch.where(torch.rand(B, L, C, generator=g) < 0.3, torch.round(p), p)
    return tse, p, K


@settings(max_examples=25)
@given(st.integers(1, 3), st.integers(1, 300), st.integers(1, 20), st.integers(0, 2**31 - 1),
       st.sampled_from(["sn", "v1"]), st.sampled_from([torch.int32, torch.int64]), st.booleans())
def test_kernel_matches_torch_form(B, L, C, seed, variant, tse_dtype, saturate):
    tse, p, K = random_case(B, L, C, seed, tse_dtype, saturate)
    cells, grad = torch_form(tse, p, K, variant)
    per_cell, g1 = tk.calf_segmentation_loss_triton(tse, p, K, 0.9, 0.1, VARIANTS[variant], 1e-7, True)
    total, g2 = tk.calf_segmentation_loss_triton(tse, p, K, 0.9, 0.1, VARIANTS[variant], 1e-7, False)
    torch.testing.assert_close(per_cell, cells, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g1, grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g2, grad, rtol=1e-5, atol=1e-5)
    assert total.shape == () and total.item() == pytest.approx(cells.sum().item(), rel=1e-5, abs=1e-4)


def test_kernel_spec_vectors():
    # CALF-T7 (Goal K) and CALF-T8 (one frame, all 17 classes) through the kernel
    K = torch.tensor([[-40], [-20], [120], [180]], dtype=torch.int32)
    s = torch.tensor([-50, -30, -10, -1, 0, 0, 60, 150, 200, 200], dtype=torch.int32).view(-1, 1)
    p = torch.tensor([0.5, 0.5, 0.9, 0.99, 0.5, 0.95, 0.5, 0.5, 0.05, 0.5]).view(-1, 1)
    cells, _ = tk.calf_segmentation_loss_triton(s, p, K, 0.9, 0.1, 0, 1e-7, True)
    np.testing.assert_allclose(cells.ravel().numpy(), [0.5877867, 0.1823216, 0, 0, 0.5877867, 0, 0.1823216,
                                                       0.1823216, 0, 0.5877867], atol=1e-6)
    total, _ = tk.calf_segmentation_loss_triton(torch.full((1, 17), 10, dtype=torch.int32), torch.full((1, 17), 0.3),
                                                torch.from_numpy(K_V2_FRAMES), 0.9, 0.1, 0, 1e-7, False)
    assert total.item() == pytest.approx(10.424017, abs=1e-5)


def test_kernel_saturated_scores_finite_with_zero_gradient():
    K = torch.tensor([[-40], [-20], [120], [180]], dtype=torch.int32)
    s = torch.tensor([[-50], [0], [200]], dtype=torch.int32)
    p = torch.tensor([[1.0], [0.0], [1.0]])
    cells, grad = tk.calf_segmentation_loss_triton(s, p, K, 0.9, 0.1, 0, 1e-7, True)
    assert torch.isfinite(cells).all() and (grad == 0).all()
    np.testing.assert_allclose(cells.ravel().numpy(), [-np.log(1e-7) + np.log(0.9)] * 3, rtol=1e-5)


def test_kernel_is_the_cuda_kernel_of_the_op():
    assert torch._C._dispatch_has_kernel_for_dispatch_key("spotkern::calf_segmentation_loss", "CUDA")
    assert torch._C._dispatch_has_kernel_for_dispatch_key("spotkern::calf_segmentation_loss", "CPU")


def test_compile_specs_cover_every_launch():
    seen = {(sig["tse_ptr"], ce["VARIANT"], ce["PER_CELL"]) for _, sig, ce in tk.COMPILE_SPECS}
    assert seen == {(t, v, pc) for t in ("*i32", "*i64") for v in (0, 1) for pc in (False, True)}
    for fn, sig, ce in tk.COMPILE_SPECS:
        assert fn is tk.calf_segmentation_loss_kernel
        assert list(sig) == list(fn.arg_names)
