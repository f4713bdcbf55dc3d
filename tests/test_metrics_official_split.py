"""Game list of a SoccerNet download root: the official split list (dataset="SoccerNet", soccernet_metric.md
section 1) when every game of it is present, so a full root holding the other splits too evaluates only
the split's games."""
import json
import os

import pytest

from spotkern.metrics import evaluate
from spotkern.metrics import io as metric_io

SoccerNet = pytest.importorskip("SoccerNet")
from SoccerNet.utils import getListGames  # noqa: E402

TEST = getListGames("test", task="spotting")
TRAIN = getListGames("train", task="spotting")[:3]


def _write(root, game, name, doc):
    os.makedirs(os.path.join(root, game), exist_ok=True)
    with open(os.path.join(root, game, name), "w") as f:
        json.dump(doc, f)


def _root(tmp_path, games, *, with_predictions=None):
    """Labels for ``games`` (one Goal per game at 00:10 of half 1); predictions for ``with_predictions``:
    a hit for even-numbered test games, a miss (2 min away) for the others."""
    labels, preds = str(tmp_path / "labels"), str(tmp_path / "preds")
    for g in games:
        _write(labels, g, "Labels-v2.json", {"annotations": [
            {"gameTime": "1 - 00:10", "label": "Goal", "position": "10000", "visibility": "visible"}]})
    for i, g in enumerate(with_predictions or []):
        pos = "10000" if i % 2 == 0 else "130000"
        _write(preds, g, "results_spotting.json", {"predictions": [
            {"gameTime": "1 - 00:10", "label": "Goal", "position": pos, "half": "1", "confidence": "0.5"}]})
    return labels, preds


def test_full_root_evaluates_the_official_split_only(tmp_path):
    # a root with the test games and some training games, predictions only for the test games: the
    # official list picks the 100 test games (discovery would also find the training games, which have
    # no predictions)
    labels, preds = _root(tmp_path, TEST + TRAIN, with_predictions=TEST)
    got = evaluate(labels, preds, split="test", metric="at1")
    want = evaluate(labels, preds, games=TEST, metric="at1")
    assert got["a_mAP"] == want["a_mAP"]
    assert 0.0 < got["a_mAP"] < 1.0
    with pytest.raises(ValueError, match="results_spotting.json: file: missing"):  # discovery: the training games'
        evaluate(labels, preds, split=None, metric="at1", strict=True)
    with pytest.warns(UserWarning, match=f"{len(TRAIN)} of {len(TEST + TRAIN)} game.* no results_spotting.json"):
        assert evaluate(labels, preds, split=None, metric="at1")["num_games"] == len(TEST + TRAIN)


def test_partial_root_falls_back_to_discovery(tmp_path):
    # one test game missing: not a SoccerNet root for this split, so the games present are discovered
    labels, preds = _root(tmp_path, TEST[1:], with_predictions=TEST[1:])
    got = evaluate(labels, preds, split="test", metric="at1")
    assert got["a_mAP"] == evaluate(labels, preds, games=sorted(TEST[1:]), metric="at1")["a_mAP"]


def test_without_the_soccernet_package_games_are_discovered(tmp_path, monkeypatch):
    labels, preds = _root(tmp_path, TEST + TRAIN, with_predictions=TEST)
    import importlib

    monkeypatch.setattr(importlib.import_module("spotkern.metrics.evaluate"), "official_split_games",
                        lambda split: None)
    with pytest.raises(ValueError, match="results_spotting.json"):
        evaluate(labels, preds, split="test", metric="at1", strict=True)
    with pytest.warns(UserWarning, match="no results_spotting.json"):
        evaluate(labels, preds, split="test", metric="at1")


def test_official_split_games_reads_the_bundled_lists():
    assert metric_io.official_split_games("test") == TEST
    assert metric_io.official_split_games("no-such-split") is None


def test_discovery_follows_symlinked_games_and_survives_link_cycles(tmp_path):
    # a labels root assembled from links: the game folders are symlinks, and one link points back up
    store, root = tmp_path / "store", tmp_path / "root"
    labels, preds = _root(store, TEST[:2], with_predictions=TEST[:2])
    for g in TEST[:2]:
        os.makedirs(os.path.dirname(root / g), exist_ok=True)
        os.symlink(os.path.join(labels, g), root / g)
    os.symlink(root, root / "loop")  # a cycle: must not hang nor list the games twice
    got = evaluate(str(root), preds, split=None, metric="at1")
    assert got["a_mAP"] == evaluate(labels, preds, games=TEST[:2], metric="at1")["a_mAP"]
    from spotkern.metrics.io import Source

    with Source("t", "labels_dir", str(root)) as src:
        assert sorted(src.games("Labels-v2.json")) == sorted(TEST[:2])
