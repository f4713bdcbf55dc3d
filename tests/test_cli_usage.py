"""What a new user meets first on the command line: abbreviated flags refused, errors named by their
subcommand, ``--version``, ``-v``/``-q`` before or after the subcommand, "no run at" for a missing run,
``tune`` not replacing a file silently, every option described in ``--help``, scores in percent."""
import argparse
import json
import logging
import re

import pytest

import spotkern
from spotkern import cli
from spotkern.cli import build_parser, main


def _subparsers(parser):
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


def _usage_error(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_every_parser_refuses_abbreviated_flags(capsys):
    parser = build_parser()
    assert parser.allow_abbrev is False
    assert all(p.allow_abbrev is False for p in _subparsers(parser).values())
    err = _usage_error(capsys, ["train", "--data", "d", "--epoch", "3"])  # not --epochs
    assert err.startswith("spotkern train: error: unrecognized arguments: --epoch 3")
    err = _usage_error(capsys, ["predict", "--run", "r", "--data", "d", "--thresh", "0.5"])  # not --threshold
    assert err.startswith("spotkern predict: error: unrecognized arguments: --thresh 0.5")


@pytest.mark.parametrize("command", ["synth out", "train", "predict --run r --data d", "evaluate a b", "tune r",
                                     "report r", "demo", "bench"])
def test_an_unknown_flag_is_named_with_its_subcommand(capsys, command):
    err = _usage_error(capsys, [*command.split(), "--no-such-flag"])
    name = command.split()[0]
    assert err.startswith(f"spotkern {name}: error: unrecognized arguments: --no-such-flag"), err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"spotkern {spotkern.__version__}"


@pytest.mark.parametrize("argv,verbosity", [
    (["bench", "--device", "no-device"], 0),
    (["-q", "bench", "--device", "no-device"], -1),
    (["bench", "--device", "no-device", "-q"], -1),
    (["bench", "-v", "--device", "no-device"], 1),
    (["-v", "bench", "--device", "no-device", "-v"], 2),
])
def test_verbosity_flags_work_before_and_after_the_subcommand(monkeypatch, capsys, argv, verbosity):
    seen = []
    monkeypatch.setattr(cli, "_setup_logging", seen.append)
    if verbosity > 0:  # -v: the error with its traceback
        with pytest.raises(ValueError, match="device must be"):
            main(argv)
    else:
        assert main(argv) == 2
        assert capsys.readouterr().err.startswith("spotkern bench: error: device must be")
    assert seen == [verbosity]


def test_evaluate_shows_the_traceback_with_v(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope"), str(tmp_path)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    for argv in (["evaluate", str(tmp_path / "nope"), str(tmp_path), "-v"],
                 ["-v", "evaluate", str(tmp_path / "nope"), str(tmp_path)]):
        with pytest.raises(ValueError, match="labels_dir does not exist"):
            main(argv)


@pytest.mark.parametrize("command", ["tune", "report"])
def test_a_missing_run_is_no_run_at(tmp_path, capsys, command):
    nope = str(tmp_path / "runs" / "nope")
    assert main([command, nope]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"spotkern {command}: error: {command}: no run at {nope} (no such directory)"
    (tmp_path / "empty").mkdir()  # a folder that no 'spotkern train' wrote
    assert main([command, str(tmp_path / "empty")]) == 2
    assert re.search(rf"^spotkern {command}: error: {command}: no run at .*empty \(no config\.json",
                     capsys.readouterr().err)


def test_predict_names_a_missing_run(tmp_path, capsys):
    assert main(["predict", "--run", str(tmp_path / "nope"), "--data", str(tmp_path)]) == 2
    assert re.search(r"^spotkern predict: error: --run: no run at .*nope \(no such directory\)",
                     capsys.readouterr().err)


def test_tune_refuses_to_replace_a_file_without_force(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"method": "dense", "data": str(tmp_path)}))
    (run / "postprocess.json").write_text("{}")
    assert main(["tune", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"tune: {run / 'postprocess.json'} exists: pass --force to replace it" in err
    assert (run / "postprocess.json").read_text() == "{}"
    assert main(["tune", str(run), "--force"]) == 2  # past the check: now the missing raw scores
    assert "predictions/valid is not a directory" in capsys.readouterr().err


def test_help_describes_every_option_and_no_empty_default():
    subs = _subparsers(build_parser())
    for action in subs["synth"]._actions:
        assert action.help, f"synth {action.option_strings or action.dest} has no help"
    text = subs["train"].format_help()
    assert "(default )" not in text and "(default None)" not in text
    assert re.search(r"--data DATA\s+dataset root", text)
    assert "-v, --verbose" in text and "-q, --quiet" in text


def test_train_summary_is_percent_and_an_unvalidated_stage_says_so():
    assert cli._best_text(0.3856367604348227) == "best validation average-mAP 38.56 %"
    assert cli._best_text(float("-inf")) == "not validated yet"


def test_third_party_notices_show_only_with_v():
    mpl = logging.getLogger("matplotlib")
    before = mpl.level
    try:
        cli._setup_logging(0)
        assert not mpl.isEnabledFor(logging.WARNING)  # "Matplotlib is building the font cache"
        cli._setup_logging(1)
        assert mpl.isEnabledFor(logging.INFO)
    finally:
        mpl.setLevel(before)
