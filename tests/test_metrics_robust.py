"""The metrics never hang, overflow or answer silently for incomplete input (issue 12.3, 12.4, 12.5, 12.6):
frames bounded below 2**62, only regular files read, games with predictions but no labels (or the
reverse) reported, and odd arrays/tensors refused with errors naming the function and argument."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from spotkern.metrics import MetricFileError, average_map_from_arrays, average_map_from_dense, e2e_spot_map, evaluate

GAMES = ["league/2016-2017/a", "league/2016-2017/b", "league/2016-2017/c"]
ANN = {"gameTime": "1 - 00:10", "label": "Goal", "position": "10000", "visibility": "visible"}
PRED = {"position": 10000, "half": 1, "label": "Goal", "confidence": 0.5}


def _tree(tmp_path, games=GAMES):
    for sub, name, doc in (("labels", "Labels-v2.json", {"annotations": [ANN]}),
                           ("preds", "results_spotting.json", {"predictions": [PRED]})):
        for g in games:
            (tmp_path / sub / g).mkdir(parents=True, exist_ok=True)
            (tmp_path / sub / g / name).write_text(json.dumps(doc))
    return str(tmp_path / "labels"), str(tmp_path / "preds")


# ----------------------------------------------------------------------------- 12.3 frames and int64
def _events(offset):
    # visible and "not shown" GT close together: the visibility split depends on the GT midpoints
    gt = np.array([100, 140, 400], dtype=np.int64) + offset
    pred = np.array([101, 135, 139, 398, 250], dtype=np.int64) + offset
    return dict(gt_halves=np.zeros(3, np.int64), gt_frames=gt, gt_classes=np.zeros(3, np.int64),
                pred_halves=np.zeros(5, np.int64), pred_frames=pred, pred_classes=np.zeros(5, np.int64),
                pred_scores=np.array([0.9, 0.8, 0.4, 0.7, 0.6]), gt_visible=np.array([True, False, True]),
                num_halves=1, num_classes=1, metric="tight")


def test_frames_up_to_2_62_are_exact_and_beyond_refused():
    want = average_map_from_arrays(**_events(0))
    got = average_map_from_arrays(**_events(2**62 - 1000))  # midpoint sums stay inside int64
    for k in ("a_mAP", "a_mAP_visible", "a_mAP_unshown"):
        assert got[k] == want[k] and 0 < want[k] < 1
    for name in ("gt_frames", "pred_frames"):
        ev = _events(0)
        ev[name] = ev[name] + 2**62
        with pytest.raises(ValueError, match=rf"^average_map_from_arrays: {name} must be < 2\*\*62"):
            average_map_from_arrays(**ev)


# ----------------------------------------------------------------------------- 12.6 odd arrays and numbers
def _call(**changes):
    ev = _events(0)
    ev.update(changes)
    return average_map_from_arrays(**ev)


@pytest.mark.parametrize("changes,error,message", [
    ({"gt_frames": torch.tensor([100, 140, 400], device="meta")}, ValueError, "gt_frames is a meta tensor"),
    ({"pred_frames": torch.tensor([1, 2, 3, 4, 5]).to_sparse()}, TypeError, "pred_frames must be a dense"),
    ({"pred_scores": torch.rand(5, dtype=torch.bfloat16)}, TypeError,
     "pred_scores must have dtype float32 or float64, got bfloat16"),
    ({"gt_visible": np.ma.array([True, False, True], mask=[0, 1, 0])}, TypeError,
     "gt_visible must be a plain numpy array"),
    ({"num_halves": 2**64}, ValueError, "num_halves must be <= "),
    ({"num_classes": 10**30}, ValueError, "num_classes must be <= "),
    ({"num_classes": 5000, "num_halves": 5000}, ValueError, r"num_classes \* num_halves must be <= "),
    ({"framerate": 10**400}, ValueError, "framerate must be <= 1000"),  # beyond float range
    ({"metric": [10**400]}, ValueError, "metric tolerances must be finite"),
])
def test_odd_arguments_are_named_errors(changes, error, message):
    with pytest.raises(error, match="^average_map_from_arrays: " + message):
        _call(**changes)


def test_byte_swapped_and_negative_bit_inputs_give_the_right_answer():
    want = _call()["a_mAP"]
    ev = _events(0)
    swapped = {k: ev[k].astype(ev[k].dtype.newbyteorder(">")) for k in ("gt_frames", "pred_frames", "pred_scores")}
    assert _call(**swapped)["a_mAP"] == want
    neg = torch._neg_view(torch.from_numpy(-ev["pred_scores"]))  # a lazily negated view: numpy() refuses it
    assert neg.is_neg() and _call(pred_scores=neg)["a_mAP"] == want


def test_dense_entry_refuses_odd_tensors():
    good = torch.zeros(5, 2)
    for bad, message in [(torch.zeros(5, 2).to_sparse(), r"targets\[0\] must be a dense"),
                         (torch.zeros(5, 2, device="meta"), r"targets\[0\] is a meta tensor"),
                         (torch.zeros(5, 2, dtype=torch.bfloat16), r"targets\[0\] must have dtype")]:
        with pytest.raises((TypeError, ValueError), match="^average_map_from_dense: " + message):
            average_map_from_dense([bad], [good])


def test_e2e_spot_frames_must_fit_int64():
    truth = [{"video": "v", "events": [{"frame": 3, "label": "x"}]}]
    preds = [{"video": "v", "events": [{"frame": 2**63, "label": "x", "score": 0.5}]}]
    with pytest.raises(ValueError, match=r"^e2e_spot_map: predictions\[0\]\.events\[0\]\.frame must lie in"):
        e2e_spot_map(truth, preds)
    with pytest.raises(TypeError, match=r"^e2e_spot_map: truth\[0\]\.video must be a string or an integer"):
        e2e_spot_map([{"video": ["v"], "events": []}], preds)


# ----------------------------------------------------------------------------- 12.4 files that hang
READ_IN_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # reading /dev/zero ends in MemoryError, not OOM
from spotkern.metrics import evaluate
for labels, preds in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        evaluate(labels, preds, metric="at1")
    except Exception as e:
        print(type(e).__name__, e, flush=True)
"""


def test_fifo_or_device_in_place_of_a_file_is_named_not_read(tmp_path):
    """A FIFO would block a plain read forever, /dev/zero would fill the memory: both are named errors
    (one child process with a timeout and a memory cap runs the four cases)."""
    argv, expected = [], []
    for which, name in (("labels", "Labels-v2.json"), ("preds", "results_spotting.json")):
        for kind, text in (("fifo", "a FIFO"), ("dev-zero", "a character device")):
            labels, preds = _tree(tmp_path / f"{which}-{kind}", GAMES[:1])
            path = tmp_path / f"{which}-{kind}" / which / GAMES[0] / name
            path.unlink()
            if kind == "fifo":
                os.mkfifo(path)
            else:
                os.symlink("/dev/zero", path)
            argv += [labels, preds]
            expected.append(f"MetricFileError evaluate: {path}: file: {text}, not a regular file")
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(READ_IN_CHILD))
    proc = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines() == expected, proc.stderr[-2000:]


def test_deeply_nested_json_is_a_named_error(tmp_path):
    labels, preds = _tree(tmp_path, GAMES[:1])
    (tmp_path / "preds" / GAMES[0] / "results_spotting.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(MetricFileError, match=r"results_spotting\.json: file: invalid JSON \(nested too deeply\)"):
        evaluate(labels, preds)


@pytest.mark.parametrize("doc,message", [
    ({"league": ["a"]}, r"games\.json: league: must map seasons to lists of games"),
    ({"league": {"2016-2017": "abc"}}, r"games\.json: league\.2016-2017: must be a list of game names"),
    ([1, 2], r"games\.json: file: must hold a list of 'league/season/game' strings"),
])
def test_games_file_of_the_wrong_shape(tmp_path, doc, message):
    labels, preds = _tree(tmp_path)
    (tmp_path / "games.json").write_text(json.dumps(doc))
    with pytest.raises(MetricFileError, match="^evaluate: .*" + message):
        evaluate(labels, preds, games=str(tmp_path / "games.json"))


# ----------------------------------------------------------------------------- 12.5 incomplete folders
def test_incomplete_labels_folder_is_reported(tmp_path, capsys):
    labels, preds = _tree(tmp_path)
    os.remove(os.path.join(labels, GAMES[1], "Labels-v2.json"))
    with pytest.warns(UserWarning,
                      match=r"^evaluate: 1 game\(s\) have predictions but no Labels-v2\.json .*2016-2017/b"):
        r = evaluate(labels, preds, metric="at1")
    assert r["num_games"] == 2
    with pytest.raises(MetricFileError,
                       match=r"2016-2017/b/Labels-v2\.json: file: missing, but .*results_spotting\.json "
                             r"exists \(strict\)"):
        evaluate(labels, preds, metric="at1", strict=True)
    from spotkern.cli import main

    assert main(["evaluate", labels, preds, "--metric", "at1"]) == 0
    captured = capsys.readouterr()
    assert "on 2 games" in captured.out
    assert captured.err.startswith("spotkern evaluate: warning: evaluate: 1 game(s) have predictions but no") and \
        len(captured.err.strip().splitlines()) == 1
    assert main(["evaluate", labels, preds, "--metric", "at1", "--strict"]) == 2


def test_games_without_predictions_count_as_misses_with_a_warning(tmp_path):
    labels, preds = _tree(tmp_path)
    os.remove(os.path.join(preds, GAMES[2], "results_spotting.json"))
    with pytest.warns(UserWarning,
                      match=r"1 of 3 game\(s\) have no results_spotting\.json .*scored with no detections"):
        r = evaluate(labels, preds, metric="at1")
    # 3 goals, 2 found: the recall is 2/3 where the other detections are, against 1 for 2 games
    assert r["num_games"] == 3 and r["a_mAP"] < evaluate(labels, preds, games=GAMES[:2], metric="at1")["a_mAP"]
    with pytest.raises(MetricFileError, match=r"c/results_spotting\.json: file: missing"):
        evaluate(labels, preds, metric="at1", strict=True)
    with pytest.raises(MetricFileError, match=r"file: missing \(no game of the 3 has a 'other\.json'\)"):
        evaluate(labels, preds, metric="at1", prediction_file="other.json")


# ------------------------------------------------------------------ thread safety (docs/guarantees.md)
def test_metrics_give_the_same_answers_from_many_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    inputs = []
    for _ in range(6):
        G, P = int(rng.integers(1, 40)), int(rng.integers(0, 80))
        inputs.append(dict(gt_halves=rng.integers(0, 4, G), gt_frames=rng.integers(0, 5000, G),
                           gt_classes=rng.integers(0, 3, G), pred_halves=rng.integers(0, 4, P),
                           pred_frames=rng.integers(0, 5000, P), pred_classes=rng.integers(0, 3, P),
                           pred_scores=rng.random(P), gt_visible=rng.random(G) < 0.8, num_halves=4, num_classes=3))
    labels, preds = _tree(tmp_path)
    jobs = [lambda x=x: average_map_from_arrays(**x)["a_mAP_per_class_visible"] for x in inputs]
    jobs.append(lambda: evaluate(labels, preds, metric="tight")["a_mAP_per_class"])
    want = [job() for job in jobs]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda job: job(), jobs * 8))
    assert got == want * 8
