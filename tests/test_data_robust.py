"""The dataset reader names the file for every unusable input, never hangs on one, and refuses NaN
features (issue 12.4, 12.6)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from spotkern.data.dataset import open_features, read_dataset
from spotkern.data.labels import DataFormatError, load_json
from spotkern.data.synth import write_synthetic_soccernet


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "data"
    info = write_synthetic_soccernet(str(root), splits={"train": 2}, feature_dim=8, seed=0, progress=False,
                                     half_minutes=(2.0, 3.0))
    return root, info["splits"]["train"][1], info["features"]


def test_nan_features_name_the_file_and_row(tree, capsys):
    root, game, features = tree
    path = root / game / f"2_{features}.npy"
    x = np.load(path)
    x[17, 3] = np.nan
    np.save(path, x)
    with pytest.raises(DataFormatError, match=rf"{path}: features contain NaN or infinite values \(first at row 17\)"):
        read_dataset(str(root), "train")
    from spotkern.cli import main

    assert main(["train", "--data", str(root), "--out", str(root.parent / "run"), "--method", "calf"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "NaN" in err and str(path) in err


@pytest.mark.parametrize("content,message", [
    (b"", r"not a readable \.npy array \(No data left in file\)"),
    (b"\x93NUMPY\x01\x00", "not a readable .npy array"),
])
def test_empty_or_truncated_npy_names_the_file(tmp_path, content, message):
    path = tmp_path / "1_x.npy"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match=rf"^{path}: " + message):
        open_features(str(path))


def test_deeply_nested_labels_name_the_file(tree):
    root, game, _ = tree
    path = root / game / "Labels-v2.json"
    path.write_text('{"annotations": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DataFormatError, match=rf"^{path}: invalid JSON \(nested too deeply\)"):
        read_dataset(str(root), "train")


def test_fifo_labels_file_is_named_not_read(tree):
    root, game, _ = tree
    path = root / game / "Labels-v2.json"
    path.unlink()
    os.mkfifo(path)
    code = ("import sys\nfrom spotkern.data.labels import load_json\n"
            "try:\n    load_json(sys.argv[1])\nexcept ValueError as e:\n    print(e)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == f"{path}: a FIFO, not a regular file", proc.stderr
    with pytest.raises(DataFormatError, match=r"file not found"):
        load_json(str(root / "missing.json"))


@pytest.mark.parametrize("doc,message", [
    ({"fps": float("nan"), "classes": ["a"], "videos": []}, "'fps' must be a positive number"),
    ({"fps": 2, "classes": ["a"], "videos": [{"name": "v", "features": 5}]}, "video 0 needs 'name' and 'features'"),
    ({"fps": 2, "classes": ["a"], "videos": [{"name": "v", "features": "v.npy", "events": {"a": 1}}]},
     "video 0: 'events' must be a list"),
    ({"fps": 2, "classes": ["a"],
      "videos": [{"name": "v", "features": "v.npy", "events": [{"label": "a", "time": "nan"}]}]},
     r"video 'v' event 0: 'frame' must be an integer or 'time' a finite number of seconds, got 'nan'"),
])
def test_generic_dataset_errors_name_the_file(tmp_path, doc, message):
    np.save(tmp_path / "v.npy", np.zeros((10, 2), np.float32))
    (tmp_path / "dataset.json").write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=r"dataset\.json: " + message):
        read_dataset(str(tmp_path), "train")


def test_synth_refuses_bad_arguments_before_writing(tmp_path):
    for kw, error, message in [(dict(amplitude=float("nan")), ValueError, "amplitude must be finite"),
                               (dict(splits={"train": -1}), ValueError, r"splits\['train'\] must be >= 0"),
                               (dict(splits={"train": 1.5}), TypeError, r"splits\['train'\] must be an integer"),
                               (dict(seed=-1), ValueError, "seed must be >= 0"),
                               (dict(half_minutes=(5.0, 1.0)), ValueError, r"half_minutes\[1\] must be >= 5")]:
        with pytest.raises(error, match="^write_synthetic_soccernet: " + message):
            write_synthetic_soccernet(str(tmp_path / "s"), progress=False, **kw)
    assert not (tmp_path / "s").exists()
