"""spotkern.metrics on the real SoccerNet-v2 test labels and NetVLAD predictions (spec sections 11, 14 M-T7),
with the official evaluator as the oracle. Skipped when ../shared is absent."""
import contextlib
import io
import json
import os
import zipfile

import numpy as np
import pytest

from spotkern.metrics import evaluate

TOL = 1e-12
KEYS = ("a_mAP", "a_mAP_per_class", "a_mAP_visible", "a_mAP_per_class_visible", "a_mAP_unshown",
        "a_mAP_per_class_unshown")


@pytest.fixture(scope="module")
def real(shared_dir):
    labels = os.path.join(shared_dir, "data", "soccernet-v2-labels", "test")
    preds = os.path.join(shared_dir, "data", "sn-spotting-pooling-predictions", "NETVLAD_v2",
                         "results_spotting_test.zip")
    if not (os.path.isdir(labels) and os.path.isfile(preds)):
        pytest.skip("real SoccerNet data not found under ../shared/data")
    return labels, preds


def official(*args, **kwargs):
    sn = pytest.importorskip("SoccerNet.Evaluation.ActionSpotting")
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return sn.evaluate(*args, **kwargs)


@pytest.fixture(scope="module")
def official_loose(real):
    """The official evaluator once per module (about 12 s on 100 games)."""
    return official(real[0], real[1], split="test", version=2, metric="loose")


def assert_same(ours, theirs):
    for key in KEYS:
        assert type(ours[key]) is type(theirs[key]), key
        np.testing.assert_allclose(np.asarray(ours[key]), np.asarray(theirs[key]), rtol=0, atol=TOL, err_msg=key)


def test_real_loose_equals_official(real, official_loose):
    ours = evaluate(*real, metric="loose")
    assert_same(ours, official_loose)
    assert round(ours["a_mAP"], 8) == 0.31382767


@pytest.fixture(scope="module")
def gametime_labels(real, tmp_path_factory):
    """The labels with `position` removed: the official evaluator then places GT by gameTime seconds."""
    root = tmp_path_factory.mktemp("gametime_labels")
    for dirpath, _, files in os.walk(real[0]):
        if "Labels-v2.json" in files:
            with open(os.path.join(dirpath, "Labels-v2.json")) as f:
                data = json.load(f)
            for ann in data["annotations"]:
                ann.pop("position", None)
            out = root / os.path.relpath(dirpath, real[0])
            out.mkdir(parents=True)
            (out / "Labels-v2.json").write_text(json.dumps(data))
    return str(root)


def test_real_gametime_placement_equals_official(real, gametime_labels):
    theirs = official(gametime_labels, real[1], split="test", version=2, metric="at1")
    assert_same(evaluate(*real, metric="at1", label_placement="gametime"), theirs)
    # Without `position` in the files both placements coincide.
    assert_same(evaluate(gametime_labels, real[1], metric="at1"), theirs)


# Section 11: the official evaluator's figures (SoccerNet 0.2.0).
SPEC_FIGURES = [
    ("position", "loose", 0.31382766826473724, 0.34266100845034597, 0.23233791752478242),
    ("position", "tight", 0.04222371313449455, 0.04378146837172889, 0.06995461571027323),
    ("position", "at1", 0.02040652742549171, 0.020741376709466963, 0.010050883743804548),
    ("position", "at5", 0.06979584193741506, 0.07372918421959937, 0.07873477053588278),
    ("gametime", "loose", 0.31365397423252783, 0.34296426074239483, 0.23271402052196802),
    ("gametime", "tight", 0.042030319780039495, 0.043607369042437644, 0.07470958719090295),
    ("gametime", "at1", 0.021457208435652173, 0.021279958672596352, 0.042449683494708956),
]


@pytest.mark.parametrize("placement,metric,a_map,visible,unshown", SPEC_FIGURES)
def test_real_data_scores_equal_the_official_figures(real, placement, metric, a_map, visible, unshown):
    """M-T7 (section 11's table)."""
    r = evaluate(*real, metric=metric, label_placement=placement)
    assert abs(r["a_mAP"] - a_map) <= TOL
    assert abs(r["a_mAP_visible"] - visible) <= TOL
    assert abs(r["a_mAP_unshown"] - unshown) <= TOL


def test_real_per_tolerance_and_per_class(real):
    r = evaluate(*real, metric="loose", details=True)
    np.testing.assert_allclose(r["mAP"], [0.0697958, 0.1824311, 0.2669072, 0.3322710, 0.3398799, 0.3445267,
                                          0.3471619, 0.3515586, 0.3539306, 0.3580593, 0.3599609, 0.3610379],
                               atol=5e-8)
    np.testing.assert_allclose(r["mAP_unshown"], [0.0787348, 0.1276083, 0.1577139, 0.1769980, 0.1815821,
                                                  0.1870861, 0.1914491, 0.1923982, 0.1935586, 0.2015130,
                                                  0.2034342, 0.2033259], atol=5e-8)
    np.testing.assert_allclose(r["a_mAP_per_class"], [0.325284, 0.457543, 0.546522, 0.516593, 0.146063, 0.214432,
                                                      0.200639, 0.325967, 0.478102, 0.423383, 0.320985, 0.167455,
                                                      0.330471, 0.549701, 0.331932, 0, 0], atol=5e-7)


def test_real_predictions_folder_equals_zip(real, tmp_path):
    with zipfile.ZipFile(real[1]) as z:
        z.extractall(tmp_path)
    games = sorted(os.path.relpath(d, tmp_path) for d, _, f in os.walk(tmp_path) if "results_spotting.json" in f)
    a = evaluate(real[0], str(tmp_path), metric="tight")
    b = evaluate(real[0], real[1], metric="tight", games=games)
    assert_same(a, b)
    # The labels' parent folder with split="test" finds the same games.
    c = evaluate(os.path.dirname(real[0]), real[1], metric="tight", split="test")
    assert_same(a, c)
