"""Each training method end to end on a tiny synthetic set: checkpoints, validation with spotkern's
average-mAP, best-model keeping, mixup + AMP + SAM switches, and prediction files."""
import json
import os

import pytest

from spotkern.data.synth import write_synthetic_soccernet
from spotkern.methods.config import TrainConfig
from spotkern.runs.predict import predict_dataset
from spotkern.train.checkpoint import load_checkpoint
from spotkern.train.trainer import train

TINY_UNET = {"levels": 2, "width": 64, "max_width": 64}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    write_synthetic_soccernet(root, splits={"train": 1, "valid": 1, "test": 1}, feature_dim=8, seed=5, progress=False)
    return root


def _history(path):
    return json.loads(load_checkpoint(path)["history"])


@pytest.mark.parametrize("method,extra,stages", [
    ("calf", {"batch_size": 4, "chunks_per_epoch": 8}, ["calf"]),
    ("dense", {"mixup_alpha": 2.0, "amp": True, "sam_rho": 0.05, "displacement_sam_rho": 0.0,
               "nms_method": "linear"}, ["confidence", "displacement"]),
    ("dense-joint", {"trunk": "transformer", "trunk_kwargs": {"size": "default"}}, ["joint"]),
])
def test_method_trains_validates_and_predicts(data, tmp_path, method, extra, stages):
    d = dict(data=data, out=str(tmp_path / "run"), method=method, trunk_kwargs=TINY_UNET, chunk_seconds=32.0,
             batch_size=8, chunks_per_epoch=16, epochs=2, validate_every=1, progress=False, num_threads=1,
             inference_batch=64, test_border=20.0)
    d.update(extra)
    out = train(TrainConfig.from_dict(d))
    assert [s["stage"] for s in out["stages"]] == stages
    for s in out["stages"]:
        assert s["finished"] and 0.0 <= s["best"] <= 1.0
        hist = _history(os.path.join(d["out"], s["stage"], "last.pt"))
        assert [h["epoch"] for h in hist] == [1, 2] and all("valid_a_mAP" in h for h in hist)
        best = load_checkpoint(os.path.join(d["out"], s["stage"], "best.pt"))
        assert float(best["best"]) == pytest.approx(max(h["valid_a_mAP"] for h in hist))
    paths = predict_dataset(d["out"], data, "test", progress=False)
    assert len(paths) == 1
    doc = json.load(open(paths[0]))
    assert doc["UrlLocal"].startswith("synthetic_league/") and doc["predictions"]
    assert {p["half"] for p in doc["predictions"]} == {"1", "2"}


def test_missing_validation_split_trains_without_validation(data, tmp_path, caplog):
    d = dict(data=data, out=str(tmp_path / "run"), method="dense-joint", trunk_kwargs=TINY_UNET, chunk_seconds=32.0,
             batch_size=4, chunks_per_epoch=4, epochs=1, validate_every=1, valid_split="challenge", progress=False,
             num_threads=1)
    with caplog.at_level("WARNING", logger="spotkern"):
        out = train(TrainConfig.from_dict(d))
    assert "no validation split" in caplog.text
    assert out["stages"][0]["finished"]
    hist = _history(os.path.join(d["out"], "joint", "last.pt"))
    assert "valid_a_mAP" not in hist[0]
    assert os.path.isfile(os.path.join(d["out"], "joint", "best.pt"))  # the last model stands in for the best


def test_calf_K_tables_and_fractional_fps():
    """audit: calf_K picks the v2 / v1 tables (calf.md 2.1, 2.2) and converts seconds to frames
    element-wise with the real fps (an fps of 1.5 used to be rounded to 2 first: K off by a third)."""
    import warnings

    import numpy as np

    from spotkern.data.soccernet_classes import CLASSES_V1_CALF, CLASSES_V2
    from spotkern.methods.calf import calf_K

    v2 = calf_K(CLASSES_V2, 2)
    assert v2.dtype == np.int32 and v2.shape == (4, 17)
    assert v2[:, 2].tolist() == [-40, -20, 120, 180] and v2[:, 5].tolist() == [-10, -6, 6, 10]  # Goal, Shots on target
    v1 = calf_K(CLASSES_V1_CALF, 2)
    assert v1.T.tolist() == [[-40, -20, 120, 180], [-40, -20, 20, 40], [-80, -40, 20, 40]]  # calf.md 2.2
    assert calf_K(CLASSES_V1_CALF, 1.5).T.tolist() == [[-30, -15, 90, 135], [-30, -15, 15, 30], [-60, -30, 15, 30]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert calf_K(("a", "b"), 12.5).T.tolist() == [[-250, -125, 125, 250]] * 2
