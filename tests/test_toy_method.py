"""A new training method is one file: ``tests/toy_method.py`` defines "toy-linear" (stage, model kind and
config section) and registers it on import; it then trains, validates and predicts through the same entry
points as the built-in methods, and its config section's defaults and check apply."""
import json
import os

import pytest

from spotkern.data.synth import write_synthetic_soccernet
from spotkern.methods import registry
from spotkern.methods.config import TrainConfig
from spotkern.methods.models import build_model
from spotkern.runs.predict import predict_dataset, run_default_postprocess
from spotkern.train.checkpoint import load_checkpoint
from spotkern.train.trainer import train


@pytest.fixture(scope="module")
def toy():
    import toy_method  # noqa: F401  (registers the method; tests/ is on sys.path as the tests' rootdir)

    yield toy_method
    registry._METHODS.pop(toy_method.NAME, None)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    write_synthetic_soccernet(root, splits={"train": 1, "valid": 1, "test": 1}, feature_dim=8, seed=3, progress=False)
    return root


def test_toy_method_trains_validates_and_predicts(toy, data, tmp_path):
    out_dir = str(tmp_path / "run")
    cfg = TrainConfig.from_dict(dict(data=data, out=out_dir, method=toy.NAME, chunk_seconds=32.0, epochs=2,
                                     progress=False, num_threads=1, test_border=10.0))
    assert cfg.batch_size == toy.TOY_DEFAULTS["batch_size"] and cfg.end_fraction == toy.TOY_DEFAULTS["end_fraction"]
    assert cfg.lambda_seg is None  # a field the toy's section does not fill stays None
    out = train(cfg)
    assert [s["stage"] for s in out["stages"]] == ["toy"] and out["stages"][0]["finished"]
    hist = json.loads(load_checkpoint(os.path.join(out_dir, "toy", "last.pt"))["history"])
    assert [h["epoch"] for h in hist] == [1, 2] and all("valid_a_mAP" in h for h in hist)  # validated each epoch
    paths = predict_dataset(out_dir, data, "test", progress=False)
    assert len(paths) == 1
    doc = json.load(open(paths[0]))
    assert doc["predictions"] and {p["half"] for p in doc["predictions"]} == {"1", "2"}
    # the stage decides the post-processing, in prediction as in the report
    pp = run_default_postprocess(out_dir, cfg.to_dict(), doc_classes(data))
    recorded = json.load(open(os.path.join(out_dir, "predictions", "test", "postprocess.json")))
    assert pp.to_dict() == recorded


def doc_classes(data):
    from spotkern.data.dataset import read_dataset

    return read_dataset(data, "test").classes


def test_toy_model_kind_is_built_from_its_spec(toy):
    model = build_model({"kind": toy.NAME, "kwargs": {"input_dim": 8, "num_classes": 3, "chunk_size": 16}})
    assert isinstance(model, toy.ToyLinear) and model.linear.out_features == 3


def test_toy_config_section_checks_its_own_field(toy, data, tmp_path):
    with pytest.raises(ValueError, match="chunk_seconds must be <= 64 for method 'toy-linear'"):
        TrainConfig.from_dict(dict(data=data, method=toy.NAME, chunk_seconds=100.0))
    with pytest.raises(ValueError, match="calf_variant='v1' applies to method 'calf' only"):
        TrainConfig.from_dict(dict(data=data, method=toy.NAME, calf_variant="v1"))


def test_unknown_model_kind_is_a_named_error():
    with pytest.raises(ValueError, match="build_model: unknown model kind 'nope'"):
        build_model({"kind": "nope", "kwargs": {}})
