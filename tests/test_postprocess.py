"""``spotkern.postprocess``: the default description reproduces today's post-processing bit for bit,
thresholds filter the NMS output without depending on the op's threshold (the lemma the search relies
on), top-k, JSON, and bad input."""
import json
import os

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import spotkern
from spotkern.data.synth_scores import synth_raw_scores
from spotkern.methods.config import TrainConfig
from spotkern.postprocess import (
    PostProcess,
    default_postprocess,
    keep_top_k,
    op_threshold,
    pre_nms_scores,
)

METHODS = ("hard", "calf", "linear", "gaussian")


def raw_half(seed, T=400, C=3, displacement=True):
    g = np.random.default_rng(seed)
    n = int(g.integers(0, 8))
    raw = synth_raw_scores(g, T, C, g.integers(0, T, n), g.integers(0, C, n), radius_displacement=6.0)
    if not displacement:
        raw = {"confidence": raw["confidence"]}
    return raw


@pytest.mark.parametrize("nms_method", ["hard", "linear", "gaussian"])
@pytest.mark.parametrize("displacement", [True, False])
def test_default_dense_is_displacement_then_nms_with_the_configs_window(nms_method, displacement):
    """The dense default: confidences displaced by rd * d (dense_anchors.md 7.1), then NMS with window
    nms_window_soft / _displaced / _confidence by case (7.2), in frames round(seconds * fps)."""
    cfg = TrainConfig(method="dense", nms_method=nms_method, nms_window_soft=3.5, nms_window_displaced=2.5,
                      nms_window_confidence=9.0)
    raw = raw_half(1, displacement=displacement)
    pp = default_postprocess(cfg, ["a", "b", "c"], kind="dense", has_displacement=displacement)
    fps = 2.0
    soft = nms_method != "hard"
    seconds = (3.5 if soft else 2.5) if displacement else 9.0
    pre = spotkern.displace_scores(raw["confidence"], raw["displacement"], 6.0) if displacement else raw["confidence"]
    want = spotkern.nms(pre, int(round(seconds * fps)), method=nms_method)
    got = pp.apply(raw, fps)
    np.testing.assert_array_equal(got, want)
    # the same from the config's dict (config.json), and from tensors (tensor out)
    np.testing.assert_array_equal(
        default_postprocess(cfg.to_dict(), "abc", kind="dense", has_displacement=displacement).apply(raw, fps), want)
    traw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in raw.items()}
    out = pp.apply(traw, fps)
    assert torch.is_tensor(out)
    np.testing.assert_array_equal(out.numpy(), want)


@pytest.mark.parametrize("fps", [2.0, 1.0])
def test_default_calf_is_calf_nms_with_a_20_second_window(fps):
    """The CALF default: CALF's NMS (calf.md 10.4) on the stitched scores, window 20 s whatever the config."""
    g = np.random.default_rng(3)
    stitched = np.full((300, 2), -1.0, dtype=np.float32)
    cells = g.integers(0, 300, 40)
    stitched[cells, g.integers(0, 2, 40)] = g.random(40).astype(np.float32)
    want = spotkern.nms(stitched, int(round(20 * fps)), method="calf")
    pp = default_postprocess({}, ["x", "y"], kind="calf")
    assert pp.methods == ["calf", "calf"] and pp.windows == [20.0, 20.0]
    np.testing.assert_array_equal(pp.apply({"confidence": stitched}, fps), want)


@given(seed=st.integers(0, 2**31), method=st.sampled_from(METHODS), window=st.integers(2, 30),
       T=st.sampled_from([1, 2, 7, 60, 300]), tau=st.sampled_from([0.0, 1e-5, 0.013, 0.05, 0.2, 0.5]),
       coarse=st.booleans())
def test_threshold_is_a_filter_independent_of_the_op_threshold(seed, method, window, T, tau, coarse):
    """The lemma behind thresholds in the search: NMS at any op threshold a <= op_threshold(tau), then
    kept where float32(score) >= float32(tau), is the same array (ties and exact zeros included)."""
    g = np.random.default_rng(seed)
    s = g.random((T, 3)).astype(np.float32) ** 3
    if coarse:  # many ties and exact zeros
        s = np.round(s * 4).astype(np.float32) / 4
    soft = method in ("linear", "gaussian")
    hi = op_threshold(tau, method)
    lo = 1e-300 if soft else -0.5
    lo = min(lo, hi)
    a = spotkern.nms(s, window, method=method, threshold=hi)
    b = spotkern.nms(s, window, method=method, threshold=lo)
    t32 = np.float32(tau)
    np.testing.assert_array_equal(np.where(a >= t32, a, -1), np.where(b >= t32, b, -1))
    pp = PostProcess([method] * 3, [window / 2.0] * 3, [tau] * 3)
    np.testing.assert_array_equal(pp.apply_scores(s, 2.0), np.where(b >= t32, b, np.float32(-1)))


def test_threshold_for_hard_nms_is_the_ops_threshold():
    s = np.array([[0.3], [0.05], [0.0], [0.7], [0.049999997]], dtype=np.float32)
    got = PostProcess(["hard"], [0.5], [0.05]).apply_scores(s, 2.0)  # window 1 frame: r = 0, nothing suppressed
    np.testing.assert_array_equal(got[:, 0], spotkern.nms(s, 1, method="hard", threshold=0.05)[:, 0])
    assert got[:, 0].tolist() == [pytest.approx(0.3), pytest.approx(0.05), -1, pytest.approx(0.7), -1]


def test_per_class_methods_windows_and_thresholds():
    g = np.random.default_rng(5)
    s = (g.random((120, 4)) ** 2).astype(np.float32)
    pp = PostProcess(["hard", "linear", "gaussian", "hard"], [2.0, 3.0, 1.5, 10.0], [None, 0.1, None, 0.25])
    got = pp.apply_scores(s, 2.0)
    cols = [spotkern.nms(np.ascontiguousarray(s[:, [c]]), w, method=m)[:, 0]
            for c, (m, w) in enumerate(zip(pp.methods, [4, 6, 3, 20]))]
    cols[1] = np.where(cols[1] >= np.float32(0.1), cols[1], -1)
    cols[3] = np.where(cols[3] >= np.float32(0.25), cols[3], -1)
    np.testing.assert_array_equal(got, np.stack(cols, axis=1))


def test_top_k_keeps_the_best_cells_row_major_on_ties():
    d = np.full((4, 3), -1.0, dtype=np.float32)
    d[0, 2], d[1, 0], d[1, 1], d[3, 2] = 0.5, 0.9, 0.5, 0.5
    got = keep_top_k(d, 2)
    assert np.argwhere(got >= 0).tolist() == [[0, 2], [1, 0]]  # 0.9, then the first 0.5 in row-major order
    np.testing.assert_array_equal(keep_top_k(d, 4), d)
    t = keep_top_k(torch.from_numpy(d), 3)
    assert torch.is_tensor(t) and (t >= 0).sum() == 3
    pp = PostProcess(["hard"] * 3, [0.5] * 3, [None] * 3, top_k=2)
    assert (pp.apply_scores(d.clip(0), 2.0) >= 0).sum() == 2


def test_json_round_trip(tmp_path):
    pp = PostProcess(["hard", "gaussian"], [3, 4.5], [None, 0.05], top_k=100, classes=["a", "b"],
                     info={"metric": "loose"})
    path = pp.save(str(tmp_path / "sub" / "pp.json"))
    assert PostProcess.load(path) == pp
    doc = json.load(open(path))
    assert doc["format"] == "spotkern-postprocess" and doc["windows_s"] == [3.0, 4.5]
    assert pp.with_threshold(0.2).thresholds == [0.2, 0.2]


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(methods=["hard", "soft"], windows=[1, 1], thresholds=[None, None]), ValueError, r"methods\[1\]"),
    (dict(methods=["hard"], windows=[0.0], thresholds=[None]), ValueError, r"windows\[0\] must be > 0"),
    (dict(methods=["hard"], windows=[float("nan")], thresholds=[None]), ValueError, "finite"),
    (dict(methods=["hard"], windows=[1.0], thresholds=[-0.1]), ValueError, r"thresholds\[0\] must be >= 0"),
    (dict(methods=["hard"], windows=[1.0, 2.0], thresholds=[None]), ValueError, "windows must have one entry"),
    (dict(methods=["hard"], windows=[1.0], thresholds=[None], top_k=0), ValueError, "top_k must be >= 1"),
    (dict(methods=["hard"], windows=[1.0], thresholds=[None], top_k=2.5), TypeError, "top_k"),
    (dict(methods=[], windows=[], thresholds=[]), ValueError, "methods must not be empty"),
    (dict(methods="hard", windows=[1.0], thresholds=[None]), TypeError, "methods must be a list"),
    (dict(methods=["hard"], windows=[1.0], thresholds=[None], classes=["a", "b"]), ValueError, "classes"),
])
def test_bad_descriptions(kwargs, exc, match):
    with pytest.raises(exc, match=f"^PostProcess: .*{match}"):
        PostProcess(**kwargs)


def test_bad_files_and_scores(tmp_path):
    with pytest.raises(ValueError, match="PostProcess.load: .*missing.json: missing"):
        PostProcess.load(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json: invalid JSON"):
        PostProcess.load(str(tmp_path / "bad.json"))
    os.mkfifo(tmp_path / "fifo.json")  # an error, not a hang
    with pytest.raises(ValueError, match="fifo.json: a FIFO, not a regular file"):
        PostProcess.load(str(tmp_path / "fifo.json"))
    (tmp_path / "other.json").write_text(json.dumps({"methods": ["hard"]}))
    with pytest.raises(ValueError, match="not a spotkern post-processing"):
        PostProcess.load(str(tmp_path / "other.json"))
    doc = PostProcess(["hard"], [1.0], [None]).to_dict()
    (tmp_path / "v.json").write_text(json.dumps({**doc, "version": 9}))
    with pytest.raises(ValueError, match="unsupported version 9"):
        PostProcess.load(str(tmp_path / "v.json"))
    (tmp_path / "w.json").write_text(json.dumps({**doc, "windows_s": [-1]}))
    with pytest.raises(ValueError, match=r"w.json: PostProcess: windows\[0\]"):
        PostProcess.load(str(tmp_path / "w.json"))
    pp = PostProcess(["calf", "hard"], [0.5, 1.0], [None, None], classes=["a", "b"])
    s = np.zeros((10, 2), np.float32)
    with pytest.raises(ValueError, match=r"PostProcess.apply: windows\[0\] = 0.5 s is 1 frames .* 'calf'"):
        pp.apply_scores(s, 2.0)
    with pytest.raises(ValueError, match="scores have 3 classes"):
        pp.apply_scores(np.zeros((10, 3), np.float32), 2.0)
    with pytest.raises(TypeError, match="PostProcess.apply: scores must have dtype float32"):
        pp.apply_scores(np.zeros((10, 2)), 2.0)
    with pytest.raises(ValueError, match="differ from the scores'"):
        pp.check_classes(["a", "c"])
    with pytest.raises(ValueError, match="pre_nms_scores: raw\\['radius_displacement'\\]"):
        pre_nms_scores({"confidence": s, "displacement": s})
    with pytest.raises(ValueError, match="pre_nms_scores: raw\\['displacement'\\] must have the shape"):
        pre_nms_scores({"confidence": s, "displacement": s[:5], "radius_displacement": 2.0})
    with pytest.raises(ValueError, match="default_postprocess: kind"):
        default_postprocess({}, ["a"], kind="yolo")
