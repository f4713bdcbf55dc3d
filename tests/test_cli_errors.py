"""The command line answers bad input with one line naming the flag or the file and status 2, Ctrl-C
with one line and status 130, never a traceback or a 39-line usage dump (issues 12.6, 13.5); boolean
flags are --name / --no-name everywhere; scores are printed in percent by every command."""
import json
import re

import pytest

from spotkern.cli import build_parser, main


def _one_line_error(capsys, argv, pattern, status=2):
    with pytest.raises(SystemExit) as info:  # argparse errors exit; command errors return the status
        raise SystemExit(main(argv))
    assert info.value.code == status
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.search(pattern, err), err
    return err


@pytest.mark.parametrize("argv,pattern", [
    (["train", "--method", "yolo"], r"^spotkern train: error: argument --method: invalid choice: 'yolo' \(choose from"),
    (["train", "--epochs", "1e3"], r"argument --epochs: invalid int value: '1e3'"),
    (["train", "--progress", "maybe"], r"argument --progress/--no-progress: expected a boolean"),
    (["train", "--no-amp", "true"], r"argument --no-amp: takes no value"),
    (["train", "--trunk-kwargs", "[1, 2]"], r"argument --trunk-kwargs: expected a JSON object"),
    (["train", "--trunk-kwargs", "{bad"], r"argument --trunk-kwargs: invalid JSON"),
    (["evaluate", "a", "b", "--version", "3"], r"^spotkern evaluate: error: argument --version: invalid choice: 3"),
    (["synth"], r"^spotkern synth: error: the following arguments are required: out"),
])
def test_usage_errors_are_one_line(capsys, argv, pattern):
    _one_line_error(capsys, argv, pattern)


def test_train_errors_name_the_flag_or_file(tmp_path, capsys):
    out = tmp_path / "run"
    cases = [
        (["--config", str(tmp_path / "missing.json")], r"TrainConfig: --config .*missing\.json: missing"),
        (["--chunk-seconds", "1e9"], r"TrainConfig: chunk_seconds must be a finite number in \(0, 3600\]"),
        (["--chunk-seconds", "-50"], r"TrainConfig: chunk_seconds must be"),
        (["--test-border", "-10"], r"TrainConfig: test_border must be"),
        (["--valid-border", "nan"], r"TrainConfig: valid_border must be"),
        (["--trunk-kwargs", '{"foo": 1}'], r"TrainConfig: trunk_kwargs has unknown key\(s\) \['foo'\]"),
        ([], r"--data is required"),
    ]
    for extra, pattern in cases:
        data = [] if not extra else ["--data", str(tmp_path)]
        _one_line_error(capsys, ["train", "--out", str(out), *data, *extra], "^spotkern train: error: " + pattern)
        assert not out.exists()  # config.json is not written before the checks
    for doc, pattern in [({"lr": "0.01"}, r"lr must be a finite number > 0, got '0\.01'"),
                         ([1, 2], r"--config .*c\.json: must hold a JSON object"),
                         ({"learning_rate": 1}, r"unknown keys \['learning_rate'\]")]:
        (tmp_path / "c.json").write_text(json.dumps(doc))
        _one_line_error(capsys, ["train", "--config", str(tmp_path / "c.json")], pattern)
    (tmp_path / "c.json").write_text("[" * 100_000 + "]" * 100_000)  # RecursionError inside json
    _one_line_error(capsys, ["train", "--config", str(tmp_path / "c.json")],
                    r"c\.json: invalid JSON \(nested too deeply\)")


def test_predict_errors_name_the_run(tmp_path, capsys):
    _one_line_error(capsys, ["predict", "--run", "/nonexistent", "--data", str(tmp_path)],
                    r"^spotkern predict: error: --run: no run at /nonexistent \(no such directory\)")
    _one_line_error(capsys, ["predict", "--run", str(tmp_path), "--data", str(tmp_path)],
                    r"--run: no run at .* \(no config\.json: not a folder written by 'spotkern train'\)")


def test_synth_errors_name_the_argument_or_path(tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    for argv, pattern in [([str(tmp_path / "a_file")], r"out_dir '.*a_file' exists and is not a directory"),
                          (["/proc/spotkern-synth"], r"cannot create out_dir '/proc/spotkern-synth'"),
                          ([str(tmp_path / "s"), "--amplitude", "nan"], r"amplitude must be finite, got nan")]:
        _one_line_error(capsys, ["synth", *argv, "--no-progress"], "^spotkern synth: error: write_synthetic_soccernet: "
                        + pattern)
    for argv, pattern in [(["--train", "-1"], r"argument --train: must be in \[0, 100000\], got -1"),
                          (["--feature-dim", str(2**70)], r"argument --feature-dim: must be in \[1, 65536\]"),
                          (["--seed", "x"], r"argument --seed: expected an integer, got 'x'")]:
        _one_line_error(capsys, ["synth", str(tmp_path / "s"), *argv], "^spotkern synth: error: " + pattern)
    assert not (tmp_path / "s" / "splits.json").exists()
    for argv, pattern in [(["bench", "--threads", str(10**20)], r"argument --threads: must be in \[0, 4096\]"),
                          (["bench", "--seconds", "nan"], r"argument --seconds: must be a number in \(0, 3600\]"),
                          (["demo", "--threads", "-5"], r"argument --threads: must be in \[0, 4096\], got -5")]:
        _one_line_error(capsys, argv, pattern)


def test_ctrl_c_is_one_line_with_status_130(capsys, monkeypatch):
    import spotkern.cli as cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_synth", interrupted)
    try:
        status = main(["synth", "x"])
    except KeyboardInterrupt:  # must not escape (it would also stop this test session)
        pytest.fail("KeyboardInterrupt escaped spotkern.cli.main")
    err = capsys.readouterr().err
    assert status == 130 and err == "spotkern synth: interrupted; resume with the same command\n"


def test_os_errors_are_one_line(capsys, monkeypatch):
    import spotkern.cli as cli

    def full(args):
        raise OSError(28, "No space left on device", "/x/last.pt")

    monkeypatch.setattr(cli, "cmd_synth", full)
    _one_line_error(capsys, ["synth", "x"],
                    r"^spotkern synth: error: OSError: .*No space left on device: '/x/last\.pt'")


def test_every_boolean_flag_has_both_spellings():
    p = build_parser()
    assert p.parse_args(["synth", "o", "--no-progress"]).progress is False
    assert p.parse_args(["synth", "o"]).progress is True
    assert p.parse_args(["predict", "--run", "r", "--data", "d", "--no-progress"]).progress is False
    assert p.parse_args(["demo", "--quick", "--no-progress"]).quick is True
    assert p.parse_args(["evaluate", "a", "b", "--strict", "--json"]).strict is True
    assert p.parse_args(["evaluate", "--strict", "a", "b"]).labels_dir == "a"  # no value swallowed
    train = p.parse_args(["train", "--no-progress", "--amp", "--resume", "0"])
    assert (train.progress, train.amp, train.resume) == (False, True, False)
    # compile is a choice now (none | model | step); the old boolean spellings keep their meaning
    assert p.parse_args(["train", "--compile", "step"]).compile == "step"
    from spotkern.methods.config import TrainConfig

    assert TrainConfig.from_dict({"compile": "false"}).compile == "none"
    assert TrainConfig.from_dict({"compile": True}).compile == "model"
    usage = p._subparsers._group_actions[0].choices["train"].format_help()
    assert "--progress [BOOL], --no-progress" in usage and "--amp [BOOL], --no-amp" in usage


def test_scores_are_percent_in_every_command(tmp_path, capsys):
    from spotkern.metrics.cli import format_score

    assert format_score(0.73604) == "73.60 %"
    game = "league/2016-2017/game"
    (tmp_path / "labels" / game).mkdir(parents=True)
    (tmp_path / "labels" / game / "Labels-v2.json").write_text(json.dumps(
        {"annotations": [{"gameTime": "1 - 00:10", "label": "Goal", "position": "10000", "visibility": "visible"}]}))
    (tmp_path / "preds" / game).mkdir(parents=True)
    (tmp_path / "preds" / game / "results_spotting.json").write_text(json.dumps(
        {"predictions": [{"position": 10000, "half": 1, "label": "Goal", "confidence": 0.5}]}))
    assert main(["evaluate", str(tmp_path / "labels"), str(tmp_path / "preds"), "--metric", "at1"]) == 0
    out = capsys.readouterr().out
    assert "average-mAP in % (at1, position placement) on 1 games" in out
    assert re.search(r"^average +5\.88 ", out, re.M)  # 1/17 in percent
