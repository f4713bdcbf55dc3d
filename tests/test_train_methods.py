"""Each training method end to end on a tiny synthetic set: checkpoints, validation with spotkern's
average-mAP, best-model keeping, mixup + AMP + SAM switches, and prediction files."""
import json
import os

import pytest

from spotkern.data.synth import write_synthetic_soccernet
from spotkern.train.checkpoint import load_checkpoint
from spotkern.train.config import TrainConfig
from spotkern.train.predict import predict_dataset
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
               "nms_method": "linear", "nms_window_displaced": 4.0}, ["confidence", "displacement"]),
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
