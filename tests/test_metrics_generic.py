"""Scoring results on the generic ``dataset.json`` format: the SoccerNet-style a-mAP at the dataset's
fps and the E2E-Spot mAP, from spotkern's results folders or one E2E-Spot JSON file, on the CLI."""
import json
import os

import numpy as np
import pytest

from spotkern.cli import main
from spotkern.inference.results_files import write_results
from spotkern.metrics import average_map_from_arrays, e2e_spot_map
from spotkern.metrics.generic import evaluate_generic, read_generic_events

CLASSES = ["serve", "hit", "net"]


def make_generic(root, fps, videos=3, T=400, seed=0):
    """A dataset.json root with `videos` test videos (features present) and random events."""
    g = np.random.default_rng(seed)
    doc = {"fps": fps, "classes": CLASSES, "videos": []}
    for v in range(videos):
        name = f"match{v}"
        np.save(os.path.join(root, f"{name}.npy"), np.zeros((T, 4), np.float32))
        n = int(g.integers(2, 10))
        frames = g.choice(T, n, replace=False)
        events = [{"label": CLASSES[int(g.integers(0, 3))], "frame": int(f)} for f in frames]
        doc["videos"].append({"name": name, "features": f"{name}.npy", "split": "test", "events": events})
    doc["videos"].append({"name": "other", "features": "match0.npy", "split": "train", "events": []})
    with open(os.path.join(root, "dataset.json"), "w") as f:
        json.dump(doc, f)
    return doc


def write_predictions(out, doc, fps, seed=1, T=400):
    """Per test video: the true events shifted by up to 2 frames with random scores, plus false alarms
    (at most one per cell). Returns {video: (T, C) post-NMS array}."""
    g = np.random.default_rng(seed)
    arrays = {}
    for v in doc["videos"]:
        if v["split"] != "test":
            continue
        a = np.full((T, 3), -1.0, np.float32)
        for e in v["events"]:
            a[min(max(e["frame"] + int(g.integers(-2, 3)), 0), T - 1), CLASSES.index(e["label"])] = g.random()
        a[g.integers(0, T, 10), g.integers(0, 3, 10)] = g.random(10).astype(np.float32)
        write_results(out, v["name"], [a], CLASSES, fps)
        arrays[v["name"]] = a
    return arrays


@pytest.mark.parametrize("fps", [25, 2])
def test_generic_scores_equal_the_metrics_on_the_arrays(tmp_path, fps):
    doc = make_generic(str(tmp_path), fps)
    arrays = write_predictions(str(tmp_path / "pred"), doc, fps)
    res = evaluate_generic(str(tmp_path), str(tmp_path / "pred"), split="test", metric="tight")
    names = list(arrays)
    gh, gf, gc, ph, pf, pc, ps = [], [], [], [], [], [], []
    for k, v in enumerate(doc["videos"][:3]):
        for e in sorted(v["events"], key=lambda e: (e["frame"], CLASSES.index(e["label"]))):
            gh.append(k), gf.append(e["frame"]), gc.append(CLASSES.index(e["label"]))
        t, c = np.nonzero(arrays[names[k]] >= 0)
        ph += [k] * len(t)
        pf += list(t)
        pc += list(c)
        ps += list(arrays[names[k]][t, c].astype(np.float64))
    i64 = lambda x: np.asarray(x, dtype=np.int64)  # noqa: E731
    want = average_map_from_arrays(i64(gh), i64(gf), i64(gc), i64(ph), i64(pf), i64(pc), np.asarray(ps),
                                   num_halves=3, num_classes=3, metric="tight", framerate=fps)
    # the scores went through the results file's text (float32 printed shortest): equal to 1e-12
    assert res["a_mAP"] == pytest.approx(want["a_mAP"], abs=1e-12)
    np.testing.assert_allclose(res["a_mAP_per_class"], want["a_mAP_per_class"], atol=1e-12)
    assert res["a_mAP_visible"] is None and res["classes"] == CLASSES
    truth = [{"video": names[k], "events": [{"frame": f, "label": CLASSES[c]} for h, f, c in zip(gh, gf, gc) if h == k]}
             for k in range(3)]
    preds = [{"video": names[k], "events": [{"frame": int(f), "label": CLASSES[c], "score": float(s)}
                                            for h, f, c, s in zip(ph, pf, pc, ps) if h == k]} for k in range(3)]
    e2e = e2e_spot_map(truth, preds)
    assert res["e2e"]["mAP"] == pytest.approx(e2e["mAP"], abs=1e-12)


def test_non_integer_fps_positions_round_trip_to_their_frames(tmp_path):
    """At 29.97 fps a frame's position in ms is not an integer; round(ms * fps / 1000) recovers it."""
    fps = 29.97
    doc = make_generic(str(tmp_path), fps, T=2000, seed=3)
    T = 2000
    for v in doc["videos"][:3]:
        a = np.full((T, 3), -1.0, np.float32)
        for e in v["events"]:
            a[e["frame"], CLASSES.index(e["label"])] = 0.9
        write_results(str(tmp_path / "pred"), v["name"], [a], CLASSES, fps)
    res = evaluate_generic(str(tmp_path), str(tmp_path / "pred"), metric=[0.01], e2e_tolerances=[0])
    present = [c for c in CLASSES if res["e2e"]["AP_per_class"].get(c) is not None]
    assert res["e2e"]["mAP"] == [1.0] and present
    per = np.asarray(res["a_mAP_per_class"]).ravel()
    assert all(per[CLASSES.index(c)] == 1.0 for c in present)


def test_e2e_file_and_results_folder_agree(tmp_path):
    doc = make_generic(str(tmp_path), 25)
    write_predictions(str(tmp_path / "pred"), doc, 25)
    read = read_generic_events(str(tmp_path), str(tmp_path / "pred"))
    from spotkern.metrics.generic import e2e_from_events

    _, preds = e2e_from_events(read["classes"], read["videos"], read["events"])
    (tmp_path / "e2e.json").write_text(json.dumps(preds))
    a = evaluate_generic(str(tmp_path), str(tmp_path / "pred"))
    b = evaluate_generic(str(tmp_path), str(tmp_path / "e2e.json"))
    assert a["a_mAP"] == b["a_mAP"] and a["e2e"] == b["e2e"]


def test_bad_predictions_are_named(tmp_path):
    doc = make_generic(str(tmp_path), 25)
    write_predictions(str(tmp_path / "pred"), doc, 25)
    path = tmp_path / "pred" / "match1" / "results_spotting.json"
    d = json.loads(path.read_text())
    d["predictions"][0]["label"] = "smash"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"evaluate_generic: .*match1/results_spotting.json: predictions\[0\]"
                                         r"\.label: unknown label 'smash'"):
        evaluate_generic(str(tmp_path), str(tmp_path / "pred"))
    d["predictions"][0].update(label="hit", half="2")
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="a generic video has one half"):
        evaluate_generic(str(tmp_path), str(tmp_path / "pred"))
    os.remove(path)
    with pytest.raises(ValueError, match="match1/results_spotting.json: file: missing"):
        evaluate_generic(str(tmp_path), str(tmp_path / "pred"))
    with pytest.raises(ValueError, match=r"videos \['nope'\] are not in split 'test'"):
        evaluate_generic(str(tmp_path), str(tmp_path / "pred"), videos=["nope"])
    (tmp_path / "e2e.json").write_text(json.dumps({"video": 1}))
    with pytest.raises(ValueError, match="expected E2E-Spot's list"):
        evaluate_generic(str(tmp_path), str(tmp_path / "e2e.json"))


def test_evaluate_command_on_a_generic_root(tmp_path, capsys):
    doc = make_generic(str(tmp_path), 25)
    write_predictions(str(tmp_path / "pred"), doc, 25)
    assert main(["evaluate", str(tmp_path), str(tmp_path / "pred"), "--e2e-tolerances", "0,2"]) == 0
    out = capsys.readouterr().out
    assert "generic dataset (3 classes, 25 fps)" in out and "e2e@2" in out and "serve" in out
    assert main(["evaluate", str(tmp_path), str(tmp_path / "pred"), "--json", "--metric", "tight"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["e2e"]["tolerances"] == [0, 1, 2, 4] and 0 <= res["a_mAP"] <= 1
    assert main(["evaluate", str(tmp_path), str(tmp_path / "nowhere")]) == 2
    assert "predictions does not exist" in capsys.readouterr().err
