"""SoccerNet-layout and generic readers, the synthetic writer, malformed trees (issue 6, item 1)."""
import json
import os

import numpy as np
import pytest

from spotkern.data import DataFormatError, events_from_annotations, parse_game_time, read_dataset, read_soccernet
from spotkern.data.soccernet_classes import CLASSES_V2
from spotkern.data.synth import V2_CLASS_COUNTS, class_signatures, write_synthetic_soccernet


@pytest.fixture(scope="module")
def synth_tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synth"))
    info = write_synthetic_soccernet(root, splits={"train": 4, "test": 2}, feature_dim=16, seed=3, progress=False)
    return root, info


def test_reader_on_synthetic_tree(synth_tree):
    root, info = synth_tree
    ds = read_soccernet(root, "train")
    assert ds.games == info["splits"]["train"] and len(ds.halves) == 8
    assert ds.feature_dim == 16 and ds.classes == CLASSES_V2
    for h in ds.halves:
        assert isinstance(h.features, np.memmap) and not h.features.flags.writeable
        assert 45 * 120 <= h.num_frames <= 50 * 120
        assert h.frames.dtype == np.int64 and (np.diff(h.frames) >= 0).all()
        assert h.frames.max() < h.num_frames and (h.frames % 2 == 0).all()  # gameTime at 2 fps: even frames
    # Events equal the label file parsed independently.
    doc = json.load(open(os.path.join(root, ds.games[0], "Labels-v2.json")))
    want = sorted({(int(a["gameTime"][4:6]) * 120 + int(a["gameTime"][7:9]) * 2, CLASSES_V2.index(a["label"]))
                   for a in doc["annotations"] if a["gameTime"].startswith("1")})
    got = sorted(zip(ds.halves[0].frames.tolist(), ds.halves[0].classes.tolist()))
    assert got == want


def test_position_placement_agrees_on_synthetic(synth_tree):
    root, _ = synth_tree
    a = read_soccernet(root, "test")
    b = read_soccernet(root, "test", label_placement="position")
    for x, y in zip(a.halves, b.halves):
        np.testing.assert_array_equal(x.frames, y.frames)


def test_synthetic_label_statistics(tmp_path):
    info = write_synthetic_soccernet(str(tmp_path), splits={"train": 12}, feature_dim=8, seed=1, progress=False)
    counts = np.zeros(17)
    for g in info["splits"]["train"]:
        for a in json.load(open(tmp_path / g / "Labels-v2.json"))["annotations"]:
            counts[CLASSES_V2.index(a["label"])] += 1
    assert 190 <= counts.sum() / 12 <= 260  # about 225 labels per game
    p, q = counts / counts.sum(), V2_CLASS_COUNTS / V2_CLASS_COUNTS.sum()
    assert np.abs(p - q).sum() < 0.12  # SoccerNet-v2 class frequencies
    assert p[CLASSES_V2.index("Ball out of play")] == p.max()


def test_synthetic_signatures_are_present(synth_tree):
    """Around an action the features correlate with its class signature; elsewhere they do not."""
    root, _ = synth_tree
    ds = read_soccernet(root, "train")
    sig = class_signatures(17, 16, seed=3)
    at, off = [], []
    for h in ds.halves:
        x = np.asarray(h.features)
        for f, c in zip(h.frames, h.classes):
            if 10 <= f < h.num_frames - 10:
                at.append(x[f - 3] @ sig[c, 0] / 16)
                off.append(x[(f + 1000) % h.num_frames] @ sig[c, 0] / 16)
    assert np.mean(at) > 0.3 and abs(np.mean(off)) < 0.1


def test_reader_accepts_512_features(tmp_path):
    info = write_synthetic_soccernet(str(tmp_path), splits={"valid": 1}, feature_dim=512, progress=False)
    assert info["features"] == "ResNET_TF2_PCA512"
    ds = read_soccernet(str(tmp_path), "valid", features="ResNET_TF2_PCA512")
    assert ds.feature_dim == 512


def test_label_rules():
    ann = [{"gameTime": "1 - 00:03", "label": "Goal", "position": "3400"},
           {"gameTime": "1 - 00:03", "label": "Goal", "position": "3900"},      # duplicate cell
           {"gameTime": "2 - 10:00", "label": "Corner", "position": "600000"},  # past the end: clamped
           {"gameTime": "1 - 00:05", "label": "Not a class", "position": "5000"}]
    (f1, c1), (f2, c2) = events_from_annotations(ann, CLASSES_V2, (100, 50))
    assert f1.tolist() == [6] and c1.tolist() == [2]
    assert f2.tolist() == [49] and c2.tolist() == [13]
    (f1, _), _ = events_from_annotations(ann, CLASSES_V2, (100, 50), label_placement="position")
    assert f1.tolist() == [6, 7]
    assert parse_game_time("2 - 45:07") == (2, 2707)


def _copy_game(tmp_path, synth_tree):
    import shutil

    root, info = synth_tree
    dst = tmp_path / "tree"
    shutil.copytree(root, dst)
    game = info["splits"]["test"][0]
    return str(dst), dst / game, info["features"]


def _break_missing_half(gdir, feat):
    os.remove(gdir / f"2_{feat}.npy")
    return f"2_{feat}.npy"


def _break_bad_json(gdir, feat):
    (gdir / "Labels-v2.json").write_text("{not json")
    return "Labels-v2.json"


def _break_no_annotations(gdir, feat):
    (gdir / "Labels-v2.json").write_text("{}")
    return "Labels-v2.json"


def _break_bad_gametime(gdir, feat):
    (gdir / "Labels-v2.json").write_text(json.dumps({"annotations": [{"gameTime": "first half", "label": "Goal"}]}))
    return "Labels-v2.json"


def _break_feature_dim(gdir, feat):
    np.save(gdir / f"2_{feat}.npy", np.zeros((10, 3), np.float32))
    return f"2_{feat}.npy"


def _break_not_npy(gdir, feat):
    (gdir / f"1_{feat}.npy").write_bytes(b"garbage")
    return f"1_{feat}.npy"


def _break_missing_labels(gdir, feat):
    os.remove(gdir / "Labels-v2.json")
    return "Labels-v2.json"


@pytest.mark.parametrize("breaker", [_break_missing_half, _break_bad_json, _break_no_annotations, _break_bad_gametime,
                                     _break_feature_dim, _break_not_npy, _break_missing_labels])
def test_malformed_tree_names_the_file(tmp_path, synth_tree, breaker):
    root, gdir, feat = _copy_game(tmp_path, synth_tree)
    name = breaker(gdir, feat)
    with pytest.raises(DataFormatError, match=name.replace(".", r"\.")):
        read_soccernet(root, "test", features=feat)


def test_missing_split_and_game(tmp_path, synth_tree):
    root, gdir, feat = _copy_game(tmp_path, synth_tree)
    with pytest.raises(DataFormatError, match="splits.json"):
        read_soccernet(root, "challenge")
    with pytest.raises(DataFormatError, match="no-such-game"):
        read_soccernet(root, ["no-such-game"])


def test_generic_format(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((30, 4), np.float32))
    np.save(tmp_path / "b.npy", np.ones((20, 4), np.float32))
    doc = {"fps": 1, "classes": ["jump", "fall"], "videos": [
        {"name": "a", "features": "a.npy", "split": "train", "events": [{"label": "fall", "frame": 3},
                                                                        {"label": "jump", "time": 40.0}]},
        {"name": "b", "features": "b.npy", "split": "test", "events": []}]}
    (tmp_path / "dataset.json").write_text(json.dumps(doc))
    ds = read_dataset(str(tmp_path), "train")
    assert ds.layout == "generic" and ds.classes == ("jump", "fall") and len(ds.halves) == 1
    assert ds.halves[0].frames.tolist() == [3, 29] and ds.halves[0].classes.tolist() == [1, 0]
    assert read_dataset(str(tmp_path), "test").halves[0].num_frames == 20
    doc["videos"][0]["events"].append({"label": "swim", "frame": 1})
    (tmp_path / "dataset.json").write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match="dataset.json"):
        read_dataset(str(tmp_path), "train")


def test_real_soccernet_v2_labels(shared_dir):
    """The 100 real test-split label files: 22,551 labels, 28 duplicates at (half, 2-fps frame, class)
    resolution with millisecond placement (SOURCE.md), and every frame even under gameTime placement."""
    import glob

    files = glob.glob(os.path.join(shared_dir, "data", "soccernet-v2-labels", "test", "*", "*", "*", "Labels-v2.json"))
    assert len(files) == 100
    total = by_position = by_gametime = 0
    for f in files:
        ann = json.load(open(f))["annotations"]
        total += len(ann)
        pos = events_from_annotations(ann, CLASSES_V2, (10**6, 10**6), label_placement="position", path=f)
        gt = events_from_annotations(ann, CLASSES_V2, (10**6, 10**6), path=f)
        by_position += sum(len(e[0]) for e in pos)
        by_gametime += sum(len(e[0]) for e in gt)
        assert all((e[0] % 2 == 0).all() for e in gt)
    assert total == 22551 and total - by_position == 28
    assert by_gametime < by_position  # whole seconds merge a few more neighbours
