"""The ``spotkern`` command line: config precedence, synth, the shortened demo (synth -> train ->
predict -> evaluate), evaluate wiring and bench rows."""
import json
import os
import re

import pytest

from spotkern.cli import build_parser, config_from_args, main
from spotkern.data import read_soccernet


def test_flags_override_config_file_which_overrides_defaults(tmp_path):
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps({"data": "d", "batch_size": 64, "lr": 0.5, "trunk_kwargs": {"levels": 3}}))
    args = build_parser().parse_args(["train", "--config", str(cfg_file), "--lr", "0.25", "--amp", "true",
                                      "--displacement-epochs", "7"])
    cfg = config_from_args(args)
    assert (cfg.data, cfg.batch_size, cfg.lr, cfg.amp, cfg.displacement_epochs) == ("d", 64, 0.25, True, 7)
    assert cfg.trunk_kwargs == {"levels": 3} and cfg.epochs == 1000  # untouched default
    with pytest.raises(ValueError, match="unknown keys"):
        cfg_file.write_text(json.dumps({"learning_rate": 1}))
        config_from_args(build_parser().parse_args(["train", "--config", str(cfg_file)]))
    with pytest.raises(ValueError, match="method"):  # from the file: TrainConfig names it
        cfg_file.write_text(json.dumps({"method": "yolo"}))
        config_from_args(build_parser().parse_args(["train", "--config", str(cfg_file)]))
    with pytest.raises(SystemExit):  # as a flag: argparse refuses it against the listed choices
        build_parser().parse_args(["train", "--method", "yolo"])


def test_synth_command(tmp_path):
    assert main(["-q", "synth", str(tmp_path), "--train", "1", "--valid", "0", "--test", "1",
                 "--feature-dim", "8", "--no-progress"]) == 0
    ds = read_soccernet(str(tmp_path), "test")
    assert ds.feature_dim == 8 and len(ds.halves) == 2


def test_quick_demo_end_to_end(tmp_path, capsys):
    work = str(tmp_path / "demo")
    assert main(["-q", "demo", "--quick", "--workdir", work, "--no-progress", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"average-mAP \(loose\) = \d+\.\d\d %, tight = \d+\.\d\d % on 2 synthetic test games", out)
    res = json.load(open(os.path.join(work, "demo_result.json")))
    assert 0.0 <= res["a_mAP_loose"] <= 1.0 and res["a_mAP_tight"] <= res["a_mAP_loose"] + 1e-9
    files = []
    for root, _, names in os.walk(os.path.join(work, "run", "predictions", "test")):
        files += [os.path.join(root, n) for n in names]
    results = [f for f in files if f.endswith("results_spotting.json")]
    assert len(results) == 2 and len(files) == 3  # and the post-processing applied, postprocess.json
    doc = json.load(open(results[0]))
    assert doc["predictions"] and {"gameTime", "label", "position", "half", "confidence"} <= set(doc["predictions"][0])
    # The evaluate subcommand reads the same files.
    games = json.load(open(os.path.join(work, "data", "splits.json")))["test"]
    (tmp_path / "games.json").write_text(json.dumps(games))
    rc = main(["-q", "evaluate", os.path.join(work, "data"), os.path.join(work, "run", "predictions", "test"),
               "--games", str(tmp_path / "games.json")])
    assert rc == 0
    # spotkern predict with the sn style writes Predictions-v2.json with all-string entries.
    sn_out = str(tmp_path / "sn")
    capsys.readouterr()
    assert main(["-q", "predict", "--run", os.path.join(work, "run"), "--data", os.path.join(work, "data"),
                 "--out", sn_out, "--style", "sn", "--device", "cpu", "--no-progress", "--evaluate", "loose"]) == 0
    assert re.search(r"average-mAP \(loose\) = \d+\.\d\d % on 2 games", capsys.readouterr().out)
    sn_files = [os.path.join(r, n) for r, _, ns in os.walk(sn_out) for n in ns if n != "postprocess.json"]
    assert len(sn_files) == 2 and all(f.endswith("Predictions-v2.json") for f in sn_files)
    entry = json.load(open(sn_files[0]))["predictions"][0]
    assert all(isinstance(v, str) for v in entry.values())


def test_bench_rows():
    from spotkern.train.throughput import run_bench
    from spotkern.train.trainer import cpu_threads

    with cpu_threads(1):
        rows = run_bench(models=["unet", "calf"], batch_size=2, feature_dim=8, compile_modes=["eager"], device="cpu",
                         seconds=0.05, trunk_kwargs={"unet": {"levels": 2, "max_width": 64}}, num_halves=2)
    assert [r["model"] for r in rows] == ["unet", "calf"]
    for r in rows:
        assert r["train_chunks_per_s"] > 0 and r["infer_chunks_per_s"] > 0
        assert 0 < r["data_fraction_of_step"] < 1


def test_predict_evaluate_refuses_a_data_root_without_labels_before_predicting(tmp_path, capsys):
    """``predict --evaluate`` fails up front on a data root it cannot score (neither a generic
    dataset.json nor game folders), not after predicting. (Generic data is scored:
    tests/test_predict_postprocess.py.)"""
    root = tmp_path / "empty"
    root.mkdir()
    run = tmp_path / "run"  # no checkpoint: the check must come before any prediction
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"method": "calf"}))
    assert main(["-q", "predict", "--run", str(run), "--data", str(root), "--evaluate", "loose", "--device", "cpu",
                 "--no-progress"]) == 2
    assert re.search(r"score_predictions: .*holds neither a dataset\.json nor game folders", capsys.readouterr().err)


def test_cli_value_errors_are_one_line_with_status_2(capsys):
    from spotkern.cli import main

    assert main(["bench", "--device", "nonsense-device"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spotkern bench: error: device must be") and "Traceback" not in err


def test_train_flags_list_their_choices():
    import argparse

    from spotkern.cli import add_config_arguments

    p = argparse.ArgumentParser()
    add_config_arguments(p)
    with pytest.raises(SystemExit):
        p.parse_args(["--method", "yolo"])
    assert p.parse_args(["--calf-variant", "v1"]).calf_variant == "v1"
