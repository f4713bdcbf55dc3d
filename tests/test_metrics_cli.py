"""``spotkern.metrics.cli``: add_evaluate_arguments / run_evaluate (the ``spotkern evaluate`` command)."""
import argparse
import json
import os

import pytest

from spotkern.metrics import evaluate
from spotkern.metrics.cli import add_evaluate_arguments, main, run_evaluate

GAME = "league/2016-2017/game"


@pytest.fixture
def dataset(tmp_path):
    anns = [{"gameTime": "1 - 00:10", "label": "Goal", "position": "10000", "visibility": "visible"},
            {"gameTime": "2 - 00:20", "label": "Corner", "position": "20000", "visibility": "not shown"}]
    preds = [{"position": 10500, "half": 1, "label": "Goal", "confidence": 0.8},
             {"position": 23000, "half": 2, "label": "Corner", "confidence": 0.6}]
    for sub, name, data in (("labels", "Labels-v2.json", {"annotations": anns}),
                            ("preds", "results_spotting.json", {"predictions": preds})):
        (tmp_path / sub / GAME).mkdir(parents=True)
        (tmp_path / sub / GAME / name).write_text(json.dumps(data))
    return str(tmp_path / "labels"), str(tmp_path / "preds")


def parse(argv):
    return add_evaluate_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_table_lists_every_class_and_the_averages(dataset, capsys):
    assert run_evaluate(parse([*dataset, "--metric", "tight"])) == 0
    out = capsys.readouterr().out
    r = evaluate(*dataset, metric="tight")
    assert "Yellow->red card" in out and "Penalty" in out
    goal = next(line for line in out.splitlines() if line.startswith("Goal "))
    assert f"{100 * r['a_mAP_per_class'][2]:6.2f}" in goal
    avg = next(line for line in out.splitlines() if line.startswith("average"))
    assert avg.split()[1:] == [f"{100 * r[k]:.2f}" for k in ("a_mAP", "a_mAP_visible", "a_mAP_unshown")]


def test_json_output_and_explicit_tolerances(dataset, capsys):
    assert main([*dataset, "--metric", "1,3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    r = evaluate(*dataset, metric=[1, 3])
    assert data["a_mAP"] == r["a_mAP"] and data["a_mAP_per_class"] == r["a_mAP_per_class"]


def test_version_1_table_has_no_visibility(tmp_path, capsys):
    (tmp_path / "l" / GAME).mkdir(parents=True)
    (tmp_path / "p" / GAME).mkdir(parents=True)
    (tmp_path / "l" / GAME / "Labels.json").write_text(json.dumps(
        {"annotations": [{"gameTime": "1 - 00:10", "label": "soccer-ball"}]}))
    (tmp_path / "p" / GAME / "results_spotting.json").write_text(json.dumps(
        {"predictions": [{"position": 10000, "half": 1, "label": "soccer", "confidence": 0.9}]}))
    assert main([str(tmp_path / "l"), str(tmp_path / "p"), "--version", "1", "--metric", "at1"]) == 0
    out = capsys.readouterr().out
    assert "soccer" in out and out.splitlines()[-1].split()[1:] == ["33.33", "-", "-"]


def test_errors_go_to_stderr_with_status_2(dataset, capsys):
    labels, preds = dataset
    with open(os.path.join(preds, GAME, "results_spotting.json"), "w") as f:
        f.write("{broken")
    assert run_evaluate(parse([labels, preds])) == 2
    err = capsys.readouterr().err
    assert "results_spotting.json: file: invalid JSON" in err


def test_bad_metric_is_an_argparse_error(dataset):
    with pytest.raises(SystemExit):
        parse([*dataset, "--metric", "medium"])


def test_real_data_table(shared_dir, capsys):
    labels = os.path.join(shared_dir, "data", "soccernet-v2-labels", "test")
    preds = os.path.join(shared_dir, "data", "sn-spotting-pooling-predictions", "NETVLAD_v2",
                         "results_spotting_test.zip")
    if not os.path.isfile(preds):
        pytest.skip("real predictions not found")
    assert main([labels, preds, "--metric", "loose"]) == 0
    avg = capsys.readouterr().out.splitlines()[-1]
    assert avg.split()[1:] == ["31.38", "34.27", "23.23"]
