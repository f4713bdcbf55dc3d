"""TrainConfig refuses wrong types and insane values with errors naming the field (issue 12.5, 12.6), and
a run is never resumed with other settings than its checkpoints were trained with (issue 12.5)."""
import json
import os

import pytest

from spotkern.methods.config import TrainConfig
from spotkern.train.run_config import (
    EXECUTION_FIELDS,
    RunConfigMismatch,
    changed_fields,
    check_run_config,
    write_run_config,
)


@pytest.mark.parametrize("field,value,message", [
    ("lr", "0.01", r"lr must be a finite number > 0, got '0\.01'"),
    ("lr", 10**400, "lr must be a finite number > 0, got 1000"),  # beyond float range
    ("chunk_seconds", 0.0, r"chunk_seconds must be a finite number in \(0, 3600\], got 0"),
    ("chunk_seconds", -50.0, "chunk_seconds must be a finite number in"),
    ("chunk_seconds", 1e9, "chunk_seconds must be a finite number in"),  # a 238 GiB chunk batch
    ("test_border", -10.0, r"test_border must be a finite number in \[0, 3600\], got -10"),
    ("valid_border", float("nan"), "valid_border must be a finite number in"),
    ("radius_confidence", float("inf"), "radius_confidence must be a finite number"),
    ("positive_weight_confidence", 1.5, "positive_weight_confidence must be a finite number in"),
    ("epochs", 10**30, r"epochs must be <= 1000000"),
    ("seed", 2**64, "seed must be <= "),
    ("batch_size", 2**40, "batch_size must be <= 65536"),
    ("inference_batch", 0, "inference_batch must be >= 1"),
    ("amp", "yes", "amp must be true or false, got 'yes'"),
    ("trunk", 3, "trunk must be a string, got 3"),
    ("preload", "maybe", "preload must be one of"),
    ("nms_method", "soft", "nms_method must be one of"),
    ("label_placement", "frame", "label_placement must be one of"),
    ("trunk_kwargs", [1], r"trunk_kwargs must be a JSON object \(a dict\), got \[1\]"),
    ("trunk_kwargs", {"foo": 1}, r"trunk_kwargs has unknown key\(s\) \['foo'\] for trunk 'unet'"),
    # input_channels is set by the trainer
    ("trunk_kwargs", {"input_channels": 32}, r"trunk_kwargs has unknown key\(s\) \['input_channels'\]"),
    ("trunk_kwargs", {"levels": "4"}, r"trunk_kwargs\['levels'\] must be an integer"),
    ("trunk_kwargs", {"levels": 40}, r"trunk_kwargs\['levels'\] must be <= 16"),
    ("trunk_kwargs", {"width": 2}, "trunk_kwargs: DenseUNet: width must be >= 4"),  # the constructor's own check
])
def test_config_errors_name_the_field(field, value, message):
    with pytest.raises(ValueError, match="^TrainConfig: " + message):
        TrainConfig.from_dict({field: value})


def test_transformer_kwargs_are_checked_by_its_constructor():
    TrainConfig.from_dict({"trunk": "transformer", "trunk_kwargs": {"size": "small", "layers": 2}})
    with pytest.raises(ValueError, match="TrainConfig: trunk_kwargs: DenseTransformer: hidden .* divisible"):
        TrainConfig.from_dict({"trunk": "transformer", "trunk_kwargs": {"hidden": 30, "num_heads": 4}})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['levels'\] for trunk 'transformer'"):
        TrainConfig.from_dict({"trunk": "transformer", "trunk_kwargs": {"levels": 3}})


def test_float_fields_accept_integers_as_floats():
    cfg = TrainConfig.from_dict({"lr": 1, "chunk_seconds": 56})
    assert isinstance(cfg.lr, float) and cfg.chunk_seconds == 56.0
    with pytest.raises(TypeError, match="TrainConfig: the configuration must be a mapping"):
        TrainConfig.from_dict(["lr", 1])


# ----------------------------------------------------------------------------- resuming a run
def _run(tmp_path, **kw):
    cfg = TrainConfig.from_dict({"data": "d", "out": str(tmp_path / "run"), "method": "calf", **kw})
    write_run_config(cfg)
    os.makedirs(os.path.join(cfg.out, "calf"), exist_ok=True)
    open(os.path.join(cfg.out, "calf", "last.pt"), "wb").close()  # the run has a checkpoint
    return cfg


def test_resuming_with_changed_settings_is_refused_and_config_json_kept(tmp_path):
    cfg = _run(tmp_path, epochs=10, lr=1e-3)
    path = os.path.join(cfg.out, "config.json")
    before = open(path).read()
    changed = TrainConfig.from_dict({**cfg.to_dict(), "epochs": 20, "test_border": 10.0})
    with pytest.raises(RunConfigMismatch, match=r"test_border: 50\.0 -> 10\.0; epochs: 10 -> 20\).*--no-resume"):
        write_run_config(changed)
    assert open(path).read() == before  # predict keeps reading the trained settings


def test_execution_knobs_may_change_on_resume(tmp_path):
    cfg = _run(tmp_path)
    knobs = dict(device="cpu", progress=False, num_threads=1, max_steps=5, compile=True, checkpoint_every=3,
                 preload="false", inference_batch=16, out=cfg.out)
    assert set(knobs) <= set(EXECUTION_FIELDS)
    write_run_config(TrainConfig.from_dict({**cfg.to_dict(), **knobs}))
    assert json.load(open(os.path.join(cfg.out, "config.json")))["num_threads"] == 1


def test_nothing_to_compare_without_checkpoints_or_without_resume(tmp_path):
    cfg = TrainConfig.from_dict({"data": "d", "out": str(tmp_path / "run"), "epochs": 10})
    write_run_config(cfg)
    write_run_config(TrainConfig.from_dict({**cfg.to_dict(), "epochs": 20}))  # no checkpoint yet: a new run
    assert json.load(open(os.path.join(cfg.out, "config.json")))["epochs"] == 20
    cfg = _run(tmp_path)
    write_run_config(TrainConfig.from_dict({**cfg.to_dict(), "epochs": 3, "resume": False}))  # retrain


def test_stored_config_of_an_older_version_compares_by_defaults(tmp_path):
    cfg = TrainConfig.from_dict({"data": "d", "out": str(tmp_path), "method": "calf"})
    stored = {k: v for k, v in cfg.to_dict().items() if k not in ("calf_variant", "sam_rho")}  # absent keys
    assert changed_fields(stored, cfg) == {}
    assert changed_fields({**stored, "lr": 0.5}, cfg) == {"lr": (0.5, cfg.lr)}


def test_train_refuses_before_writing_anything(tmp_path):
    from spotkern.train.trainer import train

    cfg = _run(tmp_path, epochs=10)
    with pytest.raises(RunConfigMismatch):
        train(TrainConfig.from_dict({**cfg.to_dict(), "epochs": 11}))
    check_run_config(cfg)  # the stored settings themselves still pass
