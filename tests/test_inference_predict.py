"""Whole-half prediction through real layouts with probe models whose outputs reveal which frame
each row came from (dense_anchors.md 6, calf.md 10, defect D2), and its outputs post-processed by
``PostProcess``."""
import numpy as np
import pytest
import torch
from torch import nn

from spotkern.inference import dense_border, predict_half_calf, predict_half_dense
from spotkern.postprocess import PostProcess


class FrameEcho(nn.Module):
    """Dense probe: confidence logit = feature 0 (the frame index), displacement = feature 1."""

    def __init__(self, chunk_size):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.trunk = type("T", (), {"chunk_size": chunk_size})()

    def forward(self, x):
        c = x[..., :1].expand(-1, -1, 3)
        return {"confidence": c + self.w, "displacement": x[..., 1:2].expand(-1, -1, 3) + self.w}


@pytest.mark.parametrize("T", [1, 100, 224, 1000, 5400])
def test_predict_half_dense_rows_come_from_their_frames(T):
    feats = np.zeros((T, 4), np.float32)
    feats[:, 0] = np.arange(T) / T - 0.5  # distinct per frame
    feats[:, 1] = 0.25
    model = FrameEcho(224)
    B = dense_border(2, 224, 50)
    conf = predict_half_dense(model, feats, chunk_len=224, border=B)
    np.testing.assert_allclose(conf.numpy(), np.repeat(1 / (1 + np.exp(-feats[:, :1])), 3, axis=1), rtol=1e-6)
    disp = predict_half_dense(model, feats, chunk_len=224, border=B, head="displacement", radius_displacement=12.0)
    np.testing.assert_allclose(disp.numpy(), 3.0)


class ClipProbe(nn.Module):
    """CALF probe: one slot per clip at chunk row 160 (position 161/240 decodes to floor(161*239/240)
    = 160), class 0, confidence = the clip's feature 0 at row 160 (its absolute frame / 10**4)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        n = x.shape[0]
        spot = torch.zeros(n, 2, 4)
        spot[:, 0, 0] = x[:, 160, 0] + self.w
        spot[:, 0, 1] = 161 / 240
        spot[:, 0, 2] = 1.0
        spot[:, 1, 3] = 1.0  # slot 1: confidence 0 at row 0, class 1
        return torch.zeros(n, 240, 2), spot


@pytest.mark.parametrize("T", [5300, 5400, 241, 100])
def test_predict_half_calf_detections_land_on_their_true_frames(T):
    feats = np.zeros((T, 2), np.float32)
    feats[:, 0] = np.arange(T) / 1e4
    stitched = predict_half_calf(ClipProbe(), feats)
    f = np.flatnonzero(stitched[:, 0].numpy() >= 0)
    vals = stitched[f, 0].numpy()
    np.testing.assert_allclose(vals * 1e4, f, atol=0.05)  # each detection sits on the frame it encodes
    if T == 5300:
        assert 5220 in f  # the final clip (start 5060), lost by the defective reference stitcher


def hard_nms(window_frames, C, fps=2.0):
    """Hard NMS for C classes with a window of ``window_frames`` frames at ``fps``, no threshold."""
    return PostProcess(["hard"] * C, [window_frames / fps] * C, [None] * C)


def test_displacement_moves_a_score_out_of_a_peaks_nms_window():
    conf = torch.zeros(50, 2)
    conf[10, 0], conf[12, 0], conf[30, 1] = 0.9, 0.8, 0.7
    disp = torch.zeros(50, 2)
    disp[12, 0] = 0.5  # rd units: 0.8 moves 6 frames to 18, outside the 3-frame radius of the 0.9 peak
    out = hard_nms(6, 2).apply({"confidence": conf, "displacement": disp, "radius_displacement": 12.0}, 2.0)
    assert torch.is_tensor(out)
    assert out[10, 0] == pytest.approx(0.9) and out[18, 0] == pytest.approx(0.8) and out[12, 0] < 0
    out_conf = hard_nms(6, 2).apply({"confidence": conf}, 2.0)
    assert out_conf[12, 0] < 0  # without displacement 0.8 is suppressed by 0.9 two frames away


def test_calf_nms_keeps_one_detection_per_window_of_stitched_scores():
    calf = torch.full((50, 1), -1.0)
    calf[[5, 25, 26], 0] = torch.tensor([0.5, 0.9, 0.4])
    kept = PostProcess(["calf"], [20.0], [None]).apply({"confidence": calf}, 2.0)  # 20 s = 40 frames
    assert torch.nonzero(kept[:, 0] >= 0).flatten().tolist() == [25]  # [5, 45) suppressed around 25


def test_displacement_is_scaled_by_rd_in_float64():
    # float32(d * 12) is exactly 2.5 (half to even: 2 frames) while d * 12 = 2.50000012 (3 frames): the
    # post-processing must form rd * d in float64, as the spec's reference (dense_anchors.md 7.1)
    from spotkern.reference import displace_scores_ref

    d = np.float32(0.20833334)
    assert np.float32(d * np.float32(12)) == 2.5 and float(d) * 12 > 2.5
    conf = torch.zeros(20, 1)
    conf[5, 0] = 0.9
    disp = torch.zeros(20, 1)
    disp[5, 0] = float(d)
    out = hard_nms(2, 1).apply({"confidence": conf, "displacement": disp, "radius_displacement": 12.0}, 2.0)
    want = displace_scores_ref(conf.numpy(), disp.numpy(), 12.0)
    assert out[8, 0] == pytest.approx(0.9) and want[8, 0] == pytest.approx(0.9)


class EveryRowProbe(nn.Module):
    """CALF probe with one slot per chunk row: slot i decodes to row floor(((i + 0.5) / 239) * 239) = i,
    class 0, confidence = the clip's feature 0 at row i (its absolute frame / 10**4)."""

    def __init__(self, L=240):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.L = L

    def forward(self, x):
        n, L = x.shape[0], self.L
        spot = torch.zeros(n, L, 3)
        spot[:, :, 0] = x[:, :, 0] + self.w
        spot[:, :, 1] = (torch.arange(L) + 0.5) / (L - 1)
        spot[:, :, 2] = 1.0
        return torch.zeros(n, L, 1), spot


@pytest.mark.parametrize("rf", [80, 81, 79, 1])
@pytest.mark.parametrize("T", [5300, 1000])
def test_predict_half_calf_stitching_leaves_no_gap_for_any_receptive_field(T, rf):
    """audit (calf.md 10.3 "there are no gaps"): with stride L - rf every frame of the half must be
    written by some clip, with the value of its own frame. An odd rf stitched with border ceil(rf/2)
    used to leave one unwritten (-1) frame per middle clip."""
    feats = np.zeros((T, 2), np.float32)
    feats[:, 0] = np.arange(T) / 1e4
    stitched = predict_half_calf(EveryRowProbe(), feats, receptive_field=rf)[:, 0].numpy()
    assert (stitched >= 0).all()
    np.testing.assert_allclose(stitched * 1e4, np.arange(T), atol=0.05)


@pytest.mark.parametrize("fps", [2, 1])
def test_detect_half_calf_uses_a_20_second_nms_window(fps):
    """calf.md 10.4: window 20 s * fps (40 frames at 2 fps). With scores rising with the frame index every
    kept peak i suppresses [i - 10 fps, i + 10 fps), so kept frames are 10 fps + 1 apart."""
    from spotkern.methods.calf import CALFStage
    from spotkern.methods.config import TrainConfig

    T = 1000
    feats = np.zeros((T, 2), np.float32)
    feats[:, 0] = np.arange(T) / 1e4
    stage = CALFStage(TrainConfig(method="calf"), feature_dim=2, num_classes=1, fps=fps)
    out = stage.detect({"calf": EveryRowProbe()}, feats, border_s=0.0)
    kept = np.flatnonzero(out[:, 0] >= 0)
    assert kept[-1] == T - 1
    assert set(np.diff(kept[kept >= 10 * fps]).tolist()) == {10 * fps + 1}


@pytest.mark.parametrize("method, seconds", [("hard", 3.0), ("linear", 4.0), ("gaussian", 4.0)])
def test_displaced_scores_use_3s_hard_and_4s_soft_nms_windows(monkeypatch, method, seconds):
    """dense_anchors.md 7.2: displaced scores default to a 3 s window for hard NMS, 4 s for soft NMS."""
    import torch

    import spotkern.methods.dense as dense
    from spotkern.methods.config import TrainConfig

    class Trunk:
        chunk_size = 112

    class Model:
        trunk = Trunk()

    seen = {}

    def fake_predict(model, features, *, head, **kw):
        return torch.zeros((features.shape[0], 3))

    import spotkern.postprocess

    def fake_nms(scores, window, *, method, **kw):
        seen.update(window=window, method=method)
        return np.full(scores.shape, -1.0, np.float32)

    monkeypatch.setattr(dense, "predict_half_dense", fake_predict)
    monkeypatch.setattr(spotkern.postprocess, "nms", fake_nms)  # the name post-processing calls
    feats = np.zeros((300, 4), np.float32)
    cfg = TrainConfig(method="dense-joint", nms_method=method)
    stage = dense.DenseJoint(cfg, feature_dim=4, num_classes=3, fps=2.0)
    stage.detect({"joint": Model()}, feats, border_s=0.0)
    assert seen == {"window": [int(seconds * 2)] * 3, "method": method}
