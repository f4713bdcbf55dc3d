"""``spotkern predict`` on new games: games with features and no label file are predicted (labels are
read only by ``--evaluate``; training stays strict), and ``--from-scores DIR`` post-processes only the
games of ``--split``, under their own game paths, naming the games it found and those it missed."""
import json
import logging
import os
import re
import shutil

import pytest

from spotkern.cli import main
from spotkern.data.dataset import read_dataset, split_games
from spotkern.data.labels import DataFormatError
from spotkern.data.synth import write_synthetic_soccernet
from spotkern.methods.config import TrainConfig
from spotkern.train.trainer import train

TINY_UNET = {"levels": 2, "width": 8, "max_width": 8}


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory):
    """A run trained for one short epoch, and a dataset whose valid and test games lost their labels."""
    root = tmp_path_factory.mktemp("unlabelled")
    data = str(root / "data")
    write_synthetic_soccernet(data, splits={"train": 1, "valid": 2, "test": 2}, feature_dim=8,
                              half_minutes=(2.0, 2.5), progress=False)
    run = str(root / "run")
    lines, logger = _Lines(), logging.getLogger("spotkern")
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        train(TrainConfig.from_dict(dict(data=data, out=run, method="dense", trunk_kwargs=TINY_UNET,
                                         chunk_seconds=32.0, batch_size=4, chunks_per_epoch=8, epochs=1,
                                         displacement_epochs=1, validate_every=1, progress=False, num_threads=1,
                                         inference_batch=64, test_border=20.0)))
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    for split in ("valid", "test"):
        for game in split_games(data, split):
            os.remove(os.path.join(data, game, "Labels-v2.json"))
    return run, data, lines.messages


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_the_training_log_spells_out_the_validation_metric_in_percent(run_and_data):
    """Not 'valid_medium_a_mAP=0.3856': the metric's tolerances and a percentage."""
    validated = [m for m in run_and_data[2] if "validation average-mAP" in m]
    assert len(validated) == 2, run_and_data[2]  # one per stage (confidence, displacement)
    for m, metric in zip(validated, ("loose: tolerances 5-60 s", "medium: tolerances 1-10 s")):
        assert re.search(rf"validation average-mAP \({metric}\) \d+\.\d\d %$", m), m
        assert "valid_" not in m


def _results(out):
    return sorted(os.path.relpath(r, out).replace(os.sep, "/") for r, _, files in os.walk(out)
                  if "results_spotting.json" in files)


def test_predict_needs_no_labels_and_training_still_does(run_and_data, tmp_path, capsys, caplog):
    run, data, _ = run_and_data
    out = str(tmp_path / "pred")
    with caplog.at_level("INFO", logger="spotkern"):
        assert main(["predict", "--run", run, "--data", data, "--split", "test", "--out", out, "--device", "cpu",
                     "--no-progress"]) == 0
    assert _results(out) == sorted(split_games(data, "test"))
    printed = capsys.readouterr().out + caplog.text
    assert printed.count("results files") == 1 and f"wrote 2 results files under {out}" in printed, printed
    for game in _results(out):
        doc = json.load(open(os.path.join(out, game, "results_spotting.json")))
        assert doc["predictions"], game  # the network ran on the features: detections were written
    with pytest.raises(DataFormatError, match=r"Labels-v2\.json: label file not found"):
        read_dataset(data, "test")  # training and validation read labels strictly
    # --evaluate needs the labels: a one-line error naming the label file
    assert main(["-q", "predict", "--run", run, "--data", data, "--split", "test", "--out", out, "--device", "cpu",
                 "--no-progress", "--evaluate", "loose"]) == 2
    err = capsys.readouterr().err
    assert "Labels-v2.json" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def saved_scores(run_and_data, tmp_path_factory):
    """Raw scores of the valid and of the test games saved under one folder, and under <split>/ subfolders."""
    run, data, _ = run_and_data
    root = tmp_path_factory.mktemp("scores")
    flat, nested = str(root / "flat"), str(root / "nested")
    for split in ("valid", "test"):
        assert main(["-q", "predict", "--run", run, "--data", data, "--split", split, "--out", flat, "--device", "cpu",
                     "--no-progress", "--save-scores"]) == 0
        for game in split_games(data, split):
            os.makedirs(os.path.join(nested, split, game))
            shutil.copy(os.path.join(flat, game, "raw_scores.npz"), os.path.join(nested, split, game))
    return run, data, flat, nested


@pytest.mark.parametrize("layout", ["flat", "nested"])
def test_from_scores_takes_only_the_splits_games(saved_scores, tmp_path, capsys, caplog, layout):
    run, data, flat, nested = saved_scores
    scores = flat if layout == "flat" else nested
    out = str(tmp_path / "out")
    with caplog.at_level("INFO", logger="spotkern"):
        assert main(["predict", "--run", run, "--data", data, "--split", "valid", "--out", out,
                     "--from-scores", scores]) == 0
    valid = sorted(split_games(data, "valid"))
    assert _results(out) == valid  # the test games' scores are not used, outputs under the game paths
    assert "games of split 'valid'" in caplog.text and all(g in caplog.text for g in valid)
    # the same files as predicted from the network
    for game in valid:
        redone = json.load(open(os.path.join(out, game, "results_spotting.json")))
        direct = json.load(open(os.path.join(flat, game, "results_spotting.json")))
        assert redone == direct


def test_from_scores_warns_of_missing_games_and_refuses_none(saved_scores, tmp_path, capsys):
    run, data, flat, _ = saved_scores
    partial = str(tmp_path / "partial")
    kept, lost = split_games(data, "valid")
    shutil.copytree(os.path.join(flat, kept), os.path.join(partial, kept))
    out = str(tmp_path / "out")
    assert main(["-q", "predict", "--run", run, "--data", data, "--split", "valid", "--out", out,
                 "--from-scores", partial]) == 0
    err = capsys.readouterr().err
    assert "warning: predict: 1 of the 2 games of split 'valid' have no raw_scores.npz" in err and lost in err
    assert _results(out) == [kept]
    assert main(["-q", "predict", "--run", run, "--data", data, "--split", "train", "--out", out,
                 "--from-scores", partial]) == 2
    err = capsys.readouterr().err
    assert "none of the 1 games of split 'train' has a raw_scores.npz" in err and "Traceback" not in err
