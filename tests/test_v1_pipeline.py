"""SoccerNet-v1 / CALF-paper setting through the pipeline (calf.md 2.2, 5.2, 5.3, 9.1, 9.4, 10.5):
Labels.json reading with CALF's v1 mapping, TrainConfig's calf_variant, training, results files with the
evaluator's v1 labels and scoring with evaluate(version=1)."""
import json
import os
import types

import numpy as np
import pytest
import torch

from spotkern.data import DataFormatError, events_from_annotations, read_dataset, read_soccernet
from spotkern.data.soccernet_classes import (
    CLASSES_V1_CALF,
    CLASSES_V2,
    V1_LABEL_STRINGS,
    V1_LABEL_TO_CALF,
    V1_RESULT_LABELS,
)
from spotkern.data.synth import write_synthetic_soccernet
from spotkern.inference.results_files import result_labels, results_document, write_results
from spotkern.methods.calf import check_v1_setting
from spotkern.methods.config import TrainConfig
from spotkern.metrics import evaluate
from spotkern.metrics.dictionaries import EVENT_DICTIONARY_V1, v1_ground_truth_class
from spotkern.runs.predict import predict_dataset, score_predictions
from spotkern.train.checkpoint import load_checkpoint
from spotkern.train.trainer import StageTrainer, make_stages, train

# ----------------------------------------------------------------------------- label mapping (calf.md 2.2)
MAPPING = [("soccer-ball", 0), ("soccer-ball-own", 0), ("r-card", 1), ("y-card", 1), ("yr-card", 1),
           ("substitution-in", 2), ("penalty-missed", None), ("substitution-out", None), ("goal", None),
           ("Goal", None), ("soccer", None), ("card", None), ("", None)]


@pytest.mark.parametrize("label,expected", MAPPING)
def test_v1_label_mapping(label, expected):
    ann = [{"gameTime": "1 - 01:00", "label": label}, {"gameTime": "2 - 00:10", "label": label}]
    (f1, c1), (f2, c2) = events_from_annotations(ann, CLASSES_V1_CALF, (500, 500), label_map=V1_LABEL_TO_CALF)
    if expected is None:
        assert len(f1) == len(f2) == 0
    else:
        assert (f1.tolist(), c1.tolist(), f2.tolist(), c2.tolist()) == ([120], [expected], [20], [expected])


@pytest.mark.parametrize("label", [s for s in V1_LABEL_STRINGS])
def test_v1_writer_labels_agree_with_the_evaluator_ground_truth(label):
    """The label a detection of CALF class c is written with is the class the official v1 evaluator gives
    the ground-truth strings mapped to c (its substring rule), for every v1 label string."""
    c = V1_LABEL_TO_CALF.get(label)
    gt = v1_ground_truth_class(label)
    if c is None:
        assert gt is None  # penalty-missed: ignored by both
    else:
        assert EVENT_DICTIONARY_V1[result_labels(CLASSES_V1_CALF)[c]] == gt


def test_result_labels_and_document():
    assert result_labels(CLASSES_V1_CALF) == V1_RESULT_LABELS == ("soccer", "card", "subs")
    assert result_labels(CLASSES_V2) == CLASSES_V2 and result_labels(("a", "b")) == ("a", "b")
    scores = np.full((4, 3), -1.0, np.float32)
    scores[1, 0], scores[2, 1], scores[3, 2] = 0.9, 0.8, 0.7
    doc = results_document("g/", [scores, scores], CLASSES_V1_CALF)
    assert [p["label"] for p in doc["predictions"]] == ["soccer", "card", "subs"] * 2


# ----------------------------------------------------------------------------- reading Labels.json
def _game(root, name, labels_file, annotations, T=(300, 260)):
    gdir = os.path.join(root, name)
    os.makedirs(gdir, exist_ok=True)
    for h, t in enumerate(T, start=1):
        np.save(os.path.join(gdir, f"{h}_feat.npy"), np.zeros((t, 4), np.float32))
    with open(os.path.join(gdir, labels_file), "w") as f:
        json.dump({"annotations": annotations}, f)
    return name


def test_read_soccernet_v1(tmp_path):
    ann = [{"gameTime": "1 - 00:00", "label": "soccer-ball", "team": "home"},
           {"gameTime": "1 - 00:30", "label": "y-card", "team": "away"},
           {"gameTime": "1 - 00:30", "label": "r-card", "team": "away"},  # same cell as y-card: collapses
           {"gameTime": "1 - 01:10", "label": "penalty-missed", "team": "home"},
           {"gameTime": "1 - 02:00", "label": "substitution-in", "team": "home"},
           {"gameTime": "2 - 00:05", "label": "soccer-ball-own", "team": "home"},
           {"gameTime": "2 - 09:59", "label": "yr-card", "team": "home"}]  # past the end: clamped to T - 1
    g = _game(str(tmp_path), "l/s/g1", "Labels.json", ann)
    ds = read_soccernet(str(tmp_path), [g], features="feat", soccernet_version=1)
    assert ds.classes == CLASSES_V1_CALF == ("goal", "card", "subs")
    h1, h2 = ds.halves
    assert list(zip(h1.frames.tolist(), h1.classes.tolist())) == [(0, 0), (60, 1), (240, 2)]
    assert list(zip(h2.frames.tolist(), h2.classes.tolist())) == [(10, 0), (259, 1)]
    # the same files through read_dataset, and version 2 (the default) refuses the v1-only game clearly
    assert read_dataset(str(tmp_path), [g], features="feat", soccernet_version=1).num_events() == 5
    hint = r"Labels-v2\.json: label file not found .*Labels\.json.*soccernet_version=1"
    with pytest.raises(DataFormatError, match=hint):
        read_soccernet(str(tmp_path), [g], features="feat")


def test_read_soccernet_v1_errors(tmp_path):
    g = _game(str(tmp_path), "l/s/g2", "Labels-v2.json", [{"gameTime": "1 - 00:10", "label": "Goal"}])
    with pytest.raises(DataFormatError, match=r"Labels\.json: label file not found .*soccernet_version=2"):
        read_soccernet(str(tmp_path), [g], features="feat", soccernet_version=1)
    for bad in (3, 0, True, "1"):
        with pytest.raises(ValueError, match="read_soccernet: soccernet_version must be 1 or 2"):
            read_soccernet(str(tmp_path), [g], features="feat", soccernet_version=bad)
    generic = tmp_path / "generic"
    generic.mkdir()
    np.save(generic / "v.npy", np.zeros((10, 2), np.float32))
    (generic / "dataset.json").write_text(json.dumps({"fps": 2, "classes": ["a"], "videos": [
        {"name": "v", "features": "v.npy", "events": []}]}))
    with pytest.raises(ValueError, match="read_dataset: soccernet_version=1 needs the SoccerNet layout"):
        read_dataset(str(generic), "train", soccernet_version=1)
    bad = _game(str(tmp_path), "l/s/g3", "Labels.json", [{"gameTime": "1 - 00:10", "label": ["y-card"]}])
    with pytest.raises(DataFormatError, match="non-string 'label'"):
        read_soccernet(str(tmp_path), [bad], features="feat", soccernet_version=1)


# ----------------------------------------------------------------------------- config
V1 = {"method": "calf", "calf_variant": "v1", "soccernet_version": 1}


def test_v1_config_defaults():
    cfg = TrainConfig.from_dict(dict(V1))
    assert (cfg.lambda_seg, cfg.calf_slots, cfg.validate_every, cfg.end_fraction) == (0.002, 5, 20, 0.001)
    assert cfg.batch_size is None and cfg.chunks_per_epoch is None  # not used by v1 (calf.md 9.4)
    assert TrainConfig(**V1).to_dict() == cfg.to_dict()
    assert TrainConfig.from_dict(cfg.to_dict()).to_dict() == cfg.to_dict()  # config.json round trip
    sn = TrainConfig.from_dict({"method": "calf"})
    assert (sn.lambda_seg, sn.calf_slots, sn.batch_size, sn.soccernet_version) == (0.000367, 15, 32, 2)
    own = TrainConfig.from_dict(dict(V1, lambda_seg=0.01, calf_slots=7, validate_every=5))
    assert (own.lambda_seg, own.calf_slots, own.validate_every) == (0.01, 7, 5)
    # CALF sn on SoccerNet-v1 data and dense on v1 data stay valid
    assert TrainConfig.from_dict({"method": "calf", "soccernet_version": 1}).calf_slots == 15
    assert TrainConfig.from_dict({"method": "dense", "soccernet_version": 1}).batch_size == 256


@pytest.mark.parametrize("given,none_fields", [
    ({"method": "dense"}, ("lambda_seg", "calf_slots")),
    ({"method": "dense-joint", "soccernet_version": 1}, ("lambda_seg", "calf_slots")),
    ({"method": "calf"}, ()),
    ({"method": "calf", "soccernet_version": 1, "calf_slots": 9}, ()),
    (V1, ("batch_size", "chunks_per_epoch")),
])
def test_config_json_round_trip(given, none_fields):
    """config.json and checkpoints store to_dict(): JSON and back gives the same config, with the fields a
    method does not use still None (so a v1 config never reloads with a batch size it would refuse)."""
    cfg = TrainConfig.from_dict(dict(given))
    back = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.to_dict() == cfg.to_dict()
    assert [getattr(back, f) for f in none_fields] == [None] * len(none_fields)


def test_v1_cli_flags():
    import argparse

    from spotkern.cli import add_config_arguments, config_from_args

    p = argparse.ArgumentParser()
    add_config_arguments(p)
    cfg = config_from_args(p.parse_args(["--method", "calf", "--calf-variant", "v1", "--soccernet-version", "1"]))
    got = (cfg.calf_variant, cfg.soccernet_version, cfg.lambda_seg, cfg.calf_slots, cfg.batch_size)
    assert got == ("v1", 1, 0.002, 5, None)


@pytest.mark.parametrize("extra,message", [
    ({"method": "dense"}, "calf_variant='v1' applies to method 'calf' only, got method 'dense'"),
    ({"method": "dense-joint"}, "calf_variant='v1' applies to method 'calf' only"),
    ({"soccernet_version": 2}, "calf_variant='v1' needs SoccerNet-v1 data .*set soccernet_version=1, got 2"),
    ({"batch_size": 8}, "batch_size does not apply to calf_variant='v1'"),
    ({"chunks_per_epoch": 100}, "chunks_per_epoch does not apply to calf_variant='v1'"),
    ({"calf_variant": "paper"}, "calf_variant must be one of"),
    ({"soccernet_version": 3}, "soccernet_version must be 1 or 2"),
    ({"calf_slots": 0}, "calf_slots must be an integer >= 1, got 0"),
    ({"calf_slots": 2.5}, "calf_slots must be an integer, got 2.5"),  # int(2.5) = 2 must not pass
    ({"calf_slots": True}, "calf_slots must be an integer, got True"),
    ({"lambda_seg": float("nan")}, "lambda_seg must be a finite number >= 0"),
    ({"lambda_seg": "0.002"}, "lambda_seg must be a finite number >= 0, got '0.002'"),
    ({"lambda_seg": -1.0}, "lambda_seg must be a finite number >= 0"),
    ({"method": "calf", "calf_variant": "sn", "soccernet_version": 2, "calf_slots": 7.5},
     "calf_slots must be an integer, got 7.5"),
])
def test_v1_config_errors(extra, message):
    with pytest.raises(ValueError, match="TrainConfig: " + message):
        TrainConfig.from_dict({**V1, **extra})


@pytest.mark.parametrize("classes,world,message", [
    (CLASSES_V2, 1, "calf_variant='v1' needs SoccerNet-v1 data"),
    (("goal", "card"), 1, "calf_variant='v1' needs SoccerNet-v1 data"),
    (CLASSES_V1_CALF, 2, "calf_variant='v1' does not support distributed training \\(world_size=2\\)"),
])
def test_v1_trainer_refuses(classes, world, message):
    with pytest.raises(ValueError, match="train: " + message):
        check_v1_setting(types.SimpleNamespace(classes=classes), world)


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def v1_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("v1data"))
    write_synthetic_soccernet(root, splits={"train": 2, "valid": 1, "test": 1}, feature_dim=8, seed=11,
                              progress=False, half_minutes=(8.0, 10.0), labels_per_game=16, version=1)
    return root


def _cfg(data, out, **kw):
    d = dict(V1, data=data, out=str(out), epochs=2, validate_every=1, progress=False, num_threads=1, seed=3)
    d.update(kw)
    return TrainConfig.from_dict(d)


@pytest.fixture(scope="module")
def v1_run(v1_data, tmp_path_factory):
    cfg = _cfg(v1_data, tmp_path_factory.mktemp("v1run") / "run")
    return cfg, train(cfg)


def test_synthetic_v1_files(v1_data):
    splits = json.load(open(os.path.join(v1_data, "splits.json")))
    labels = []
    for games in splits.values():
        for g in games:
            assert not os.path.exists(os.path.join(v1_data, g, "Labels-v2.json"))
            doc = json.load(open(os.path.join(v1_data, g, "Labels.json")))
            for a in doc["annotations"]:
                assert set(a) == {"gameTime", "label", "team"}  # v1: no position, no visibility
                labels.append(a["label"])
    assert set(labels) <= set(V1_LABEL_STRINGS) and "penalty-missed" in labels
    assert {"soccer-ball", "y-card", "substitution-in"} <= set(labels)
    ds = read_soccernet(v1_data, "train", soccernet_version=1)
    docs = [json.load(open(os.path.join(v1_data, g, "Labels.json"))) for g in splits["train"]]
    n_mapped = sum(1 for d in docs for a in d["annotations"] if a["label"] in V1_LABEL_TO_CALF)
    assert 0 < ds.num_events() <= n_mapped  # duplicates (same second, same class) collapse


def test_v1_training_steps_and_validation(v1_run, v1_data):
    cfg, out = v1_run
    (summary,) = out["stages"]
    assert summary["finished"] and 0.0 <= summary["best"] <= 1.0
    last = load_checkpoint(os.path.join(cfg.out, "calf", "last.pt"))
    ds = read_soccernet(v1_data, "train", soccernet_version=1)
    assert last["global_step"] == 2 * len(ds.halves)  # one step per training half and epoch
    hist = json.loads(last["history"])
    assert [h["epoch"] for h in hist] == [1, 2]
    # calf.md 9.1 (v1): the lr drops by (1e-3 - 1e-6) / epochs once per epoch (the history logs the lr the
    # epoch trained with), not per step
    assert [h["lr"] for h in hist] == pytest.approx([1e-3, 1e-3 - (1e-3 - 1e-6) / 2], rel=1e-12)
    assert all(isinstance(h["valid_a_mAP"], float) and 0.0 <= h["valid_a_mAP"] <= 1.0 for h in hist)
    best = load_checkpoint(os.path.join(cfg.out, "calf", "best.pt"))
    assert float(best["best"]) == pytest.approx(max(h["valid_a_mAP"] for h in hist))
    spec = json.loads(last["model_spec"])["kwargs"]
    assert (spec["num_classes"], spec["num_slots"]) == (3, 5)
    # validation wrote v1 results files and scored them with version 1
    (valid_game,) = json.load(open(os.path.join(v1_data, "splits.json")))["valid"]
    doc = json.load(open(os.path.join(cfg.out, "calf", "valid_results", valid_game, "results_spotting.json")))
    assert doc["predictions"] and {p["label"] for p in doc["predictions"]} <= {"soccer", "card", "subs"}


def test_v1_step_uses_v1_loss_batches_and_weights(v1_data, tmp_path):
    """A training step's batch is one whole half (every action + background) and its loss is
    0.002 * L_seg(variant v1) + L_spot with 5 slots."""
    from spotkern.losses import calf_segmentation_loss, calf_spotting_loss

    cfg = _cfg(v1_data, tmp_path / "r")
    ds = read_soccernet(v1_data, "train", soccernet_version=1)
    st = StageTrainer(cfg, make_stages(cfg, ds)[0], ds, None, torch.device("cpu"))
    assert st.sampler.background_per_half.sum() > 0 and st.sampler.positives_per_half.sum() > 0
    for step in range(st.sampler.steps_per_epoch):
        x, (tse, targets) = st.batch(0, step)
        h = st.sampler.halves[step]
        P = int((st.data.builder.tses[h] == 0).sum())
        assert P <= x.shape[0] <= P + P // 3 + 1 and x.shape[0] >= 1  # + background, if the half has runs
        assert x.shape[1:] == (240, 8) and targets.shape == (x.shape[0], 5, 5)
    x, (tse, targets) = st.batch(1, 0)
    with torch.no_grad():
        got = st.stage.loss(st.model(x), (tse, targets))
        seg, spot = st.model(x)
        seg_v1 = calf_segmentation_loss(tse, seg.float().contiguous(), st.stage.K_t, variant="v1")
        seg_sn = calf_segmentation_loss(tse, seg.float().contiguous(), st.stage.K_t, variant="sn")
        spot_l = calf_spotting_loss(targets, spot.float().contiguous())
    assert float(got) == pytest.approx(float(0.002 * seg_v1 + spot_l), rel=1e-6)
    assert float(seg_v1) != pytest.approx(float(seg_sn), rel=1e-6)  # the variant matters on these chunks


def test_v1_predict_writes_evaluator_labels_and_scores_with_version_1(v1_run, v1_data, tmp_path):
    cfg, _ = v1_run
    out = str(tmp_path / "pred")
    paths = predict_dataset(cfg.out, v1_data, "test", out, progress=False)
    (path,) = paths
    doc = json.load(open(path))
    labels = {p["label"] for p in doc["predictions"]}
    assert labels and labels <= {"soccer", "card", "subs"}
    res = score_predictions(cfg.out, v1_data, out, paths, "loose")
    direct = evaluate(v1_data, out, split="test", version=1)
    assert res["a_mAP"] == direct["a_mAP"] and 0.0 <= res["a_mAP"] <= 1.0
    assert res["a_mAP_visible"] is None and res["a_mAP_unshown"] is None and len(res["a_mAP_per_class"]) == 3


def test_v1_all_correct_predictions_score_one(v1_data, tmp_path):
    """Ground truth of the v1 test game written through the same writer scores an average-mAP of 1.0:
    the writer's labels and the evaluator's v1 mapping agree class by class."""
    ds = read_soccernet(v1_data, "test", soccernet_version=1)
    out = str(tmp_path / "oracle")
    by_game = {}
    for h in ds.halves:
        scores = np.full((h.num_frames, 3), -1.0, np.float32)
        scores[h.frames, h.classes] = 1.0
        by_game.setdefault(h.game, []).append(scores)
    for game, halves in by_game.items():
        write_results(out, game, halves, ds.classes, ds.fps)
    assert evaluate(v1_data, out, split="test", version=1)["a_mAP"] == pytest.approx(1.0)
    # a swapped mapping (goal written as card and vice versa) must not score 1
    swapped = str(tmp_path / "swapped")
    for game, halves in by_game.items():
        write_results(swapped, game, [s[:, [1, 0, 2]] for s in halves], ds.classes, ds.fps)
    assert evaluate(v1_data, swapped, split="test", version=1)["a_mAP"] < 0.9


def test_calf_sn_on_v1_data_validates_with_version_1(v1_data, tmp_path):
    """Any run on SoccerNet-v1 data (here CALF's sn variant) is validated through results files and
    evaluate(version=1)."""
    cfg = TrainConfig.from_dict(dict(data=v1_data, out=str(tmp_path / "sn"), method="calf", soccernet_version=1,
                                     batch_size=4, chunks_per_epoch=4, epochs=1, validate_every=1, progress=False,
                                     num_threads=1))
    train(cfg)
    hist = json.loads(load_checkpoint(os.path.join(cfg.out, "calf", "last.pt"))["history"])
    assert isinstance(hist[0]["valid_a_mAP"], float)
    (valid_game,) = json.load(open(os.path.join(v1_data, "splits.json")))["valid"]
    assert os.path.isfile(os.path.join(cfg.out, "calf", "valid_results", valid_game, "results_spotting.json"))


def test_v1_resume_is_exact(v1_data, tmp_path):
    kw = dict(validate_every=0, epochs=2)
    train(_cfg(v1_data, tmp_path / "a", **kw))
    out = train(_cfg(v1_data, tmp_path / "b", max_steps=3, **kw))
    assert out["stages"][0]["interrupted"]
    train(_cfg(v1_data, tmp_path / "b", **kw))
    a = load_checkpoint(str(tmp_path / "a" / "calf" / "last.pt"))
    b = load_checkpoint(str(tmp_path / "b" / "calf" / "last.pt"))
    assert a["global_step"] == b["global_step"] == 8 and a["finished"] and b["finished"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    # epoch 0's mean loss covers the 3 steps before the interruption too
    assert [h["loss"] for h in json.loads(a["history"])] == [h["loss"] for h in json.loads(b["history"])]


def test_v1_resume_at_an_epoch_boundary_keeps_history_and_best(v1_run, v1_data, tmp_path):
    """Interrupted right after the last half of epoch 1 (step == steps per epoch), the resumed run
    validates, picks the best checkpoint and logs epoch 1 exactly as the uninterrupted run: the epoch's
    mean loss covers its steps from before the interruption (not a 0.0 from an empty list), and no
    chunks/s figure is made up for a call that trained no chunk of that epoch."""
    cfg_a, _ = v1_run  # epochs=2, validate_every=1, seed=3: 4 halves -> 4 steps per epoch
    cfg_b = _cfg(v1_data, tmp_path / "b", max_steps=4)
    assert train(cfg_b)["stages"][0]["interrupted"]
    st = load_checkpoint(os.path.join(cfg_b.out, "calf", "last.pt"))
    assert (st["epoch"], st["step"], st["global_step"]) == (0, 4, 4)
    train(_cfg(v1_data, tmp_path / "b"))
    for name in ("last.pt", "best.pt"):
        a = load_checkpoint(os.path.join(cfg_a.out, "calf", name))
        b = load_checkpoint(os.path.join(cfg_b.out, "calf", name))
        assert a["global_step"] == b["global_step"] == 8 and float(a["best"]) == float(b["best"])
        for k in a["model"]:
            assert torch.equal(a["model"][k], b["model"][k]), k
        ha, hb = json.loads(a["history"]), json.loads(b["history"])
        for ea, eb in zip(ha, hb):
            assert (ea["epoch"], ea["loss"], ea["lr"], ea["valid_a_mAP"]) == (eb["epoch"], eb["loss"], eb["lr"],
                                                                              eb["valid_a_mAP"])
        assert ha[0]["loss"] > 0 and ha[0]["chunks_per_s"] > 0 and hb[0]["chunks_per_s"] is None


def test_v1_on_v2_data_names_the_label_file(tmp_path):
    root = str(tmp_path / "v2")
    write_synthetic_soccernet(root, splits={"train": 1}, feature_dim=4, seed=2, progress=False, half_minutes=(4.0, 4.5))
    with pytest.raises(DataFormatError, match=r"Labels\.json: label file not found .*soccernet_version=2"):
        train(_cfg(root, tmp_path / "run", validate_every=0))


def test_cli_synth_v1_and_predict_evaluate(v1_run, v1_data, tmp_path, capsys):
    from spotkern.cli import main

    cfg, _ = v1_run
    out = str(tmp_path / "synth")
    assert main(["-q", "synth", out, "--train", "1", "--valid", "0", "--test", "0", "--feature-dim", "2",
                 "--version", "1", "--no-progress"]) == 0
    ds = read_soccernet(out, "train", soccernet_version=1)
    assert ds.classes == CLASSES_V1_CALF and len(ds.halves) == 2
    assert main(["-q", "predict", "--run", cfg.out, "--data", v1_data, "--split", "test", "--out",
                 str(tmp_path / "p"), "--device", "cpu", "--evaluate", "loose", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "wrote 1 results files" in text and "average-mAP (loose) = " in text
    printed = float(text.split("average-mAP (loose) = ")[1].split()[0]) / 100  # printed in percent
    assert printed == pytest.approx(evaluate(v1_data, str(tmp_path / "p"), split="test", version=1)["a_mAP"], abs=1e-4)


@pytest.mark.parametrize("call,message", [
    (lambda tmp: write_synthetic_soccernet(tmp, splits={"train": 1}, version=3, progress=False),
     "write_synthetic_soccernet: version must be 1 or 2"),
    (lambda tmp: events_from_annotations([], CLASSES_V1_CALF, (10, 10), label_map={"y-card": 3}),
     r"events_from_annotations: label_map ids must be in \[0, 3\)"),
])
def test_v1_helpers_bad_input(tmp_path, call, message):
    with pytest.raises(ValueError, match=message):
        call(str(tmp_path))


@pytest.mark.parametrize("label", ["Goal", "Yellow card", "Kick-off"])
def test_read_soccernet_v1_refuses_v2_labels(tmp_path, label):
    """A v2 class name in Labels.json means a v2 file saved under the v1 name: an error naming the file, not
    a game silently read without events (the v1 evaluator's substring rule would still count "Yellow card"
    as a card, so training and scoring would disagree)."""
    ann = [{"gameTime": "1 - 00:10", "label": "y-card"}, {"gameTime": "1 - 00:20", "label": label}]
    g = _game(str(tmp_path), "l/s/g4", "Labels.json", ann)
    with pytest.raises(DataFormatError, match=r"g4[/\\]Labels\.json: annotation 1 has label .* a SoccerNet-v2 class"):
        read_soccernet(str(tmp_path), [g], features="feat", soccernet_version=1)


@pytest.mark.parametrize("label", ["penalty-missed", "substitution-out", "card", ""])
def test_read_soccernet_v1_ignores_other_unmapped_labels(tmp_path, label):
    # calf.md 2.2: anything outside the mapping table is ignored
    ok = _game(str(tmp_path), "l/s/g5", "Labels.json", [{"gameTime": "1 - 00:20", "label": label},
                                                         {"gameTime": "1 - 00:30", "label": "r-card"}])
    ds = read_soccernet(str(tmp_path), [ok], features="feat", soccernet_version=1)
    assert ds.num_events() == 1 and ds.halves[0].classes.tolist() == [1]
