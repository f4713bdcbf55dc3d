"""``spotkern predict`` with post-processing as its own step: the default writes what the stage's own
detect writes; --save-scores, --from-scores (no network), --postprocess, --threshold and --top-k;
generic data scored by --evaluate. Runs are trained for a few steps on short synthetic halves (their
outputs are arbitrary but deterministic, which is all these checks need)."""
import json
import os

import numpy as np
import pytest

from spotkern.cli import main
from spotkern.data.dataset import read_dataset
from spotkern.data.synth import write_synthetic_soccernet
from spotkern.inference.results_files import write_results
from spotkern.inference.scores import list_raw_scores, load_raw_scores
from spotkern.methods.config import TrainConfig
from spotkern.postprocess import PostProcess
from spotkern.runs.predict import predict_dataset
from spotkern.train.trainer import train

TINY_UNET = {"levels": 2, "width": 16, "max_width": 16}


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("pred")
    data = str(root / "data")
    write_synthetic_soccernet(data, splits={"train": 1, "test": 2}, feature_dim=8, half_minutes=(2.0, 2.5),
                              progress=False)
    return root, data


def make_run(run, data, **kw):
    """A run trained for a few steps (one epoch of 16 chunks, no validation)."""
    d = dict(data=data, out=run, method="dense", trunk_kwargs=TINY_UNET, chunk_seconds=32.0, batch_size=8,
             chunks_per_epoch=16, epochs=1, validate_every=0, progress=False, num_threads=1, inference_batch=64,
             test_border=20.0)
    d.update(kw)
    train(TrainConfig.from_dict(d))
    return run


def results_of(out):
    docs = {}
    for root, _, files in os.walk(out):
        if "results_spotting.json" in files:
            docs[os.path.relpath(root, out)] = json.load(open(os.path.join(root, "results_spotting.json")))
    return docs


def test_default_results_are_the_stages_and_scores_redo_them(synth, nms_method="linear"):
    from spotkern.methods.registry import method_entry
    from spotkern.runs.stages import detecting_stage
    from spotkern.train.checkpoint import load_stage
    from spotkern.train.runtime import cpu_threads

    root, data = synth
    run = make_run(str(root / f"dense_{nms_method}"), data, nms_method=nms_method)
    out = os.path.join(run, "predictions", "test")
    paths = predict_dataset(run, data, "test", out, progress=False, save_scores=True)
    assert len(paths) == 2 and len(list_raw_scores(out)) == 2
    # the results are what the stage's own detect (raw outputs, then its postprocess) writes
    cfg = TrainConfig.from_dict(json.load(open(os.path.join(run, "config.json"))))
    ds = read_dataset(data, "test")
    stage_cls = detecting_stage(run, method_entry(cfg.method).stages_for(cfg))
    assert stage_cls.name == "displacement"
    models = {n: load_stage(os.path.join(run, n))[0] for n in (stage_cls.name,) + tuple(stage_cls.uses_stages)}
    stage = stage_cls(cfg, feature_dim=ds.feature_dim, num_classes=ds.num_classes, fps=ds.fps, classes=ds.classes)
    ref = str(root / f"ref_{nms_method}")
    by_game = {}
    with cpu_threads(cfg.num_threads):  # as predict runs the networks (the thread count changes float sums)
        for half in ds.halves:
            by_game.setdefault(half.game, []).append(stage.detect(models, half.features, border_s=cfg.test_border))
    for game, halves in by_game.items():
        write_results(ref, game, halves, ds.classes, ds.fps)
    assert results_of(out) == results_of(ref)
    recorded = PostProcess.load(os.path.join(out, "postprocess.json"))
    assert recorded.methods[0] == nms_method and recorded.info["source"] == "default"
    # the same results again from the saved scores alone, with no network (CLI, in place)
    redo = str(root / f"redo_{nms_method}")
    assert main(["-q", "predict", "--run", run, "--data", data, "--out", redo, "--from-scores", out]) == 0
    assert results_of(redo) == results_of(out)


def test_postprocess_threshold_and_top_k(synth, tmp_path):
    from spotkern.data.soccernet_classes import CLASSES_V2

    root, data = synth
    run = make_run(str(root / "dense_pp"), data, nms_method="hard")
    scores = str(tmp_path / "scores")
    assert main(["-q", "predict", "--run", run, "--data", data, "--out", scores, "--save-scores", "--device", "cpu",
                 "--no-progress"]) == 0
    assert len(list_raw_scores(scores)) == 2
    pp = PostProcess(["gaussian"] * 17, [2.0] * 17, [0.3] * 17, classes=list(CLASSES_V2))
    pp_file = pp.save(str(tmp_path / "pp.json"))
    out = str(tmp_path / "out")
    assert main(["-q", "predict", "--run", run, "--data", data, "--out", out, "--from-scores", scores,
                 "--postprocess", pp_file, "--threshold", "0.4", "--top-k", "25"]) == 0
    used = PostProcess.load(os.path.join(out, "postprocess.json"))
    assert used.methods == pp.methods and used.thresholds == [0.4] * 17 and used.top_k == 25
    assert used.info["overrides"] == {"threshold": 0.4, "top_k": 25}
    for game, doc in results_of(out).items():
        raw = load_raw_scores(os.path.join(scores, game, "raw_scores.npz"))
        want = [used.apply(r, 2.0) for r in raw["halves"]]
        for h, w in enumerate(want, start=1):
            mine = [p for p in doc["predictions"] if p["half"] == str(h)]
            assert len(mine) == int((w >= 0).sum()) <= 25
            t, c = np.nonzero(w >= 0)  # the entries are the post-processed cells, frame-major
            assert [float(p["confidence"]) for p in mine] == [float(str(v)) for v in w[t, c]]
            assert all(p["confidence"] >= 0.4 for p in mine)
    bad = PostProcess(["hard"] * 3, [2.0] * 3, [None] * 3).save(str(tmp_path / "bad.json"))
    assert main(["-q", "predict", "--run", run, "--data", data, "--out", out, "--from-scores", scores,
                 "--postprocess", bad]) == 2


@pytest.mark.filterwarnings("ignore:CALFChunkSampler")
def test_calf_scores_round_trip(synth):
    root, data = synth
    run = make_run(str(root / "calf"), data, method="calf", batch_size=4, chunks_per_epoch=8)
    out = os.path.join(run, "predictions", "test")
    predict_dataset(run, data, "test", out, progress=False, save_scores=True)
    game = list_raw_scores(out)[0]
    doc = load_raw_scores(os.path.join(out, game, "raw_scores.npz"))
    assert doc["kind"] == "calf" and "displacement" not in doc["halves"][0]
    assert PostProcess.load(os.path.join(out, "postprocess.json")).methods == ["calf"] * 17
    redo = str(root / "calf_redo")
    predict_dataset(run, data, "test", redo, from_scores=out)
    assert results_of(redo) == results_of(out)


def test_predict_evaluate_scores_generic_data(tmp_path, capsys):
    """predict --evaluate on a generic dataset.json root: the SoccerNet-style a-mAP and the E2E-Spot
    mAP of the written files (here from saved scores, no network)."""
    from spotkern.inference.scores import save_raw_scores

    root = tmp_path / "generic"
    root.mkdir()
    np.save(root / "v.npy", np.zeros((300, 2), np.float32))
    (root / "dataset.json").write_text(json.dumps({"fps": 25, "classes": ["a", "b"], "videos": [
        {"name": "v", "features": "v.npy", "split": "test", "events": [{"label": "a", "frame": 100}]}]}))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"method": "dense", "data": str(root)}))
    conf = np.zeros((300, 2), np.float32)
    conf[100, 0] = 0.9
    save_raw_scores(str(tmp_path / "scores"), "v", [{"confidence": conf}], classes=["a", "b"], fps=25.0, kind="dense")
    assert main(["-q", "predict", "--run", str(run), "--data", str(root), "--from-scores", str(tmp_path / "scores"),
                 "--out", str(tmp_path / "out"), "--evaluate", "tight"]) == 0
    out = capsys.readouterr().out
    assert "average-mAP (tight) = 50.00 % on 1 games" in out  # class a found exactly, class b has no label (AP 0)
    assert "E2E-Spot mAP (tolerances [0, 1, 2, 4] frames) = 100.00 %" in out  # E2E averages present classes only
