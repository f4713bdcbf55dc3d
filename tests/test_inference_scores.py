"""Saved raw scores (``raw_scores.npz``): float32 round trip bit for bit, compressed, listed per game,
and malformed files refused with the file named."""
import os

import numpy as np
import pytest
import torch

from spotkern.data.synth_scores import synth_raw_scores
from spotkern.inference.scores import RAW_SCORES_FILE, list_raw_scores, load_raw_scores, save_raw_scores


def halves(seed=0, T=5400, C=17):
    g = np.random.default_rng(seed)
    return [synth_raw_scores(g, T, C, g.integers(0, T, 100), g.integers(0, C, 100)) for _ in range(2)]


def test_round_trip_is_bit_exact_and_compressed(tmp_path):
    hs = halves()
    hs[1] = {"confidence": torch.from_numpy(hs[1]["confidence"])}  # a tensor, and a half without displacement
    path = save_raw_scores(str(tmp_path), "league/season/game 1", hs, classes=[f"c{i}" for i in range(17)],
                           fps=2.0, kind="dense")
    assert path == os.path.join(str(tmp_path), "league/season/game 1", RAW_SCORES_FILE)
    doc = load_raw_scores(path)
    assert doc["kind"] == "dense" and doc["fps"] == 2.0 and doc["classes"][16] == "c16"
    np.testing.assert_array_equal(doc["halves"][0]["confidence"], hs[0]["confidence"])
    np.testing.assert_array_equal(doc["halves"][0]["displacement"], hs[0]["displacement"])
    assert doc["halves"][0]["radius_displacement"] == 12.0
    assert doc["halves"][1].keys() == {"confidence"}
    np.testing.assert_array_equal(doc["halves"][1]["confidence"], hs[1]["confidence"].numpy())
    assert os.path.getsize(path) < 3 * 5400 * 17 * 4  # noisy float32 mantissas compress little (~93 %)
    calf = np.full((5400, 17), -1.0, np.float32)  # CALF's stitched scores: mostly -1
    calf[::97, 3] = 0.5
    small = save_raw_scores(str(tmp_path), "calf", [{"confidence": calf}], classes=[f"c{i}" for i in range(17)],
                            fps=2.0, kind="calf")
    assert os.path.getsize(small) < 0.02 * calf.nbytes
    assert list_raw_scores(str(tmp_path)) == ["calf", "league/season/game 1"]
    assert not [f for f in os.listdir(os.path.dirname(path)) if f != RAW_SCORES_FILE]  # no temporary left


def test_bad_inputs_and_files(tmp_path):
    conf = np.zeros((5, 2), np.float32)
    with pytest.raises(TypeError, match=r"save_raw_scores: halves\[0\]\['confidence'\] must be a \(T, C\) float32"):
        save_raw_scores(str(tmp_path), "g", [{"confidence": conf.astype(np.float16)}], classes="ab", fps=2,
                        kind="dense")
    with pytest.raises(ValueError, match="save_raw_scores: halves\\[0\\]: radius_displacement is required"):
        save_raw_scores(str(tmp_path), "g", [{"confidence": conf, "displacement": conf}], classes="ab", fps=2,
                        kind="dense")
    with pytest.raises(ValueError, match="has 2 classes, classes lists 3"):
        save_raw_scores(str(tmp_path), "g", [{"confidence": conf}], classes="abc", fps=2, kind="dense")
    with pytest.raises(ValueError, match="save_raw_scores: kind"):
        save_raw_scores(str(tmp_path), "g", [{"confidence": conf}], classes="ab", fps=2, kind="yolo")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=f"load_raw_scores: {bad}: not a readable"):
        load_raw_scores(str(bad))
    np.savez(str(tmp_path / "other.npz"), x=np.zeros(2))
    with pytest.raises(ValueError, match="missing entry 'format'"):
        load_raw_scores(str(tmp_path / "other.npz"))
    path = save_raw_scores(str(tmp_path), "g", [{"confidence": conf}], classes="ab", fps=2, kind="dense")
    z = dict(np.load(path))
    z["half1_confidence"] = z["half1_confidence"].astype(np.float64)
    np.savez(path, **z)
    with pytest.raises(ValueError, match=r"half1_confidence must be \(T, 2\) float32"):
        load_raw_scores(path)
    os.mkfifo(tmp_path / "fifo.npz")  # an error, not a hang
    with pytest.raises(ValueError, match="fifo.npz: not a regular file"):
        load_raw_scores(str(tmp_path / "fifo.npz"))
    with pytest.raises(ValueError, match="list_raw_scores: .* is not a directory"):
        list_raw_scores(str(tmp_path / "nowhere"))
