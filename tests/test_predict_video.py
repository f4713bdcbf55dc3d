"""Prediction from match videos with a trained run (spotkern.runs.video): one video is one half, two videos or a
folder of 1_/2_ videos a match; features extracted with the encoder of the run's training features; no label
file needed; the sidecar for the report; features extracted earlier give the same events; bad input named."""
import json
import os
import shutil

import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")

from spotkern.inference.video_prediction import read_video_prediction_manifest  # noqa: E402
from spotkern.methods.config import TrainConfig  # noqa: E402
from spotkern.runs.trained import TrainedRun  # noqa: E402
from spotkern.runs.video import match_halves, predict_video, training_extraction  # noqa: E402
from spotkern.train.trainer import train  # noqa: E402
from spotkern.video.encoders import build_encoder  # noqa: E402
from spotkern.video.extract import extract_videos  # noqa: E402
from spotkern.video.synth import write_match_video, write_synthetic_match_videos  # noqa: E402

VIDEO_FPS = 10


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A dense-joint run trained briefly on the tiny features of synthetic match videos."""
    work = str(tmp_path_factory.mktemp("videos"))
    info = write_synthetic_match_videos(work, splits={"train": 2, "valid": 1, "test": 1}, half_minutes=1.0,
                                        video_fps=VIDEO_FPS, progress=False)
    extract_videos([info["videos"]], info["data"], encoder=build_encoder("tiny"), layout="soccernet",
                   progress=False)
    cfg = TrainConfig.from_dict(dict(data=info["data"], out=os.path.join(work, "run"), method="dense-joint",
                                     features="tiny", trunk_kwargs={"levels": 2, "width": 32, "max_width": 32},
                                     chunk_seconds=28.0, batch_size=8, chunks_per_epoch=16, epochs=1,
                                     validate_every=0, progress=False, num_threads=1, test_border=5.0))
    train(cfg)
    # the test match's videos, copied where no label file is
    clips = os.path.join(work, "clips")
    os.makedirs(clips)
    game = info["splits"]["test"][0]
    for h in (1, 2):
        shutil.copy(os.path.join(info["videos"], game, f"{h}_video.mp4"), os.path.join(clips, f"{h}_match.mp4"))
    return {"run": cfg.out, "clips": clips, "data": info["data"], "work": work}


def _results(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def test_two_videos_make_a_match_without_labels(run, tmp_path):
    videos = [os.path.join(run["clips"], f"{h}_match.mp4") for h in (1, 2)]
    path = predict_video(run["run"], videos, str(tmp_path / "P"), progress=False)
    assert path == str(tmp_path / "P" / "results_spotting.json")
    doc = _results(path)
    halves = {p["half"] for p in doc["predictions"]}
    assert halves == {"1", "2"}
    assert all(p["gameTime"].startswith(p["half"] + " - ") for p in doc["predictions"])
    classes = TrainedRun(run["run"]).classes
    assert {p["label"] for p in doc["predictions"]} <= set(classes)
    manifest = read_video_prediction_manifest(str(tmp_path / "P"))
    assert manifest["videos"] == {1: os.path.abspath(videos[0]), 2: os.path.abspath(videos[1])}
    # FrameCV keeps the frame that ends each half-second: a row's video time is 1/2 - 1/10 s after row / 2
    assert manifest["offset_s"] == pytest.approx(0.5 - 1 / VIDEO_FPS, abs=1e-6)


def test_one_video_is_half_one_and_a_folder_orders_its_halves(run, tmp_path):
    one = predict_video(run["run"], [os.path.join(run["clips"], "2_match.mp4")], str(tmp_path / "one"),
                        progress=False)
    assert {p["half"] for p in _results(one)["predictions"]} == {"1"}
    assert match_halves([run["clips"]]) == [(1, os.path.join(run["clips"], "1_match.mp4")),
                                            (2, os.path.join(run["clips"], "2_match.mp4"))]
    swapped = match_halves([os.path.join(run["clips"], "2_match.mp4"), os.path.join(run["clips"], "1_match.mp4")])
    assert [h for h, _ in swapped] == [1, 2] and swapped[0][1].endswith("1_match.mp4")


def test_features_extracted_earlier_give_the_same_events(run, tmp_path):
    a = predict_video(run["run"], [run["clips"]], str(tmp_path / "a"), progress=False)
    b = predict_video(run["run"], (), str(tmp_path / "b"), features_dir=str(tmp_path / "a" / "features"),
                      progress=False)
    assert _results(a)["predictions"] == _results(b)["predictions"]


def test_the_run_records_the_encoder_of_its_features(run):
    record = training_extraction(TrainedRun(run["run"]).cfg)
    assert record is not None and record["encoder"] == "tiny" and record["features"] == "tiny"


def test_bad_input_is_named(run, tmp_path):
    clip = os.path.join(run["clips"], "1_match.mp4")
    with pytest.raises(ValueError, match="one match: one or two videos"):
        predict_video(run["run"], [clip, clip, clip], str(tmp_path / "x"), progress=False)
    with pytest.raises(ValueError, match="nope.mp4 does not exist"):
        predict_video(run["run"], [str(tmp_path / "nope.mp4")], str(tmp_path / "x"), progress=False)
    with pytest.raises(ValueError, match="there is no run at"):
        predict_video(str(tmp_path / "norun"), [clip], str(tmp_path / "x"), progress=False)
    with pytest.raises(ValueError, match="went through no PCA"):
        predict_video(run["run"], [clip], str(tmp_path / "x"), pca="p.pkl", pca_mean="m.pkl", progress=False)
    bad = tmp_path / "bad"
    bad.mkdir()
    np.save(bad / "1_tiny.npy", np.zeros((10, 7), np.float32))
    with pytest.raises(ValueError, match="7-d features, but the run .* was trained on 128-d features"):
        predict_video(run["run"], (), str(tmp_path / "x"), features_dir=str(bad), progress=False)
    with pytest.raises(ValueError, match="no video named 1_"):
        predict_video(run["run"], [str(bad)], str(tmp_path / "x"), progress=False)


def test_a_run_whose_features_have_no_extraction_record_asks_for_features(run, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(run["data"], data)
    for dirpath, _, files in os.walk(data):
        for f in files:
            if f.endswith(".npy.json"):
                os.remove(os.path.join(dirpath, f))
    run_dir = tmp_path / "run"
    shutil.copytree(run["run"], run_dir)
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["data"] = str(data)
    (run_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="carry no extraction record .* pass --features"):
        predict_video(str(run_dir), [os.path.join(run["clips"], "1_match.mp4")], str(tmp_path / "x"),
                      progress=False)


def test_synthetic_cues_peak_on_the_frame_framecv_keeps_for_the_event_row(tmp_path):
    """The cue of an event at row r is brightest in the decoded frame that feature row r shows."""
    av = pytest.importorskip("av")
    path = write_match_video(str(tmp_path / "v.mp4"), [(6, 0)], seconds=6.0, video_fps=VIDEO_FPS, seed=1)
    with av.open(path) as c:
        frames = [f.to_ndarray(format="rgb24").astype(np.float64) for f in c.decode(video=0)]
    red = [f[..., 0].mean() - f[..., 2].mean() for f in frames]  # class 0's colour is red
    assert int(np.argmax(red)) == (VIDEO_FPS // 2) * (6 + 1) - 1


def test_cli_predict_video_writes_results_and_refuses_dataset_options(run, tmp_path, capsys):
    from spotkern.cli import main

    clip = os.path.join(run["clips"], "1_match.mp4")
    out = str(tmp_path / "P")
    assert main(["-q", "predict", "--run", run["run"], "--video", clip, "--out", out, "--no-progress"]) == 0
    assert os.path.isfile(os.path.join(out, "results_spotting.json"))
    assert "spotkern report " + out in capsys.readouterr().out
    assert main(["-q", "predict", "--run", run["run"], "--video", clip, "--data", run["data"]]) == 2
    assert "--data does not go with --video" in capsys.readouterr().err
    assert main(["-q", "predict", "--run", run["run"], "--data", run["data"], "--weights", "w.h5"]) == 2
    assert "--weights goes with --video" in capsys.readouterr().err
    assert main(["-q", "predict", "--run", run["run"]]) == 2
    assert "--data is required" in capsys.readouterr().err


def test_demo_video_quick_predicts_from_videos_and_prints_the_average_map(tmp_path, capsys):
    from spotkern.cli import main

    work = str(tmp_path / "demo")
    assert main(["-q", "demo", "--video", "--quick", "--workdir", work, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "predicted from their videos" in out and "average-mAP (loose) = " in out
    with open(os.path.join(work, "demo_video_result.json"), encoding="utf-8") as f:
        res = json.load(f)
    assert 0.0 <= res["a_mAP_tight"] <= 1.0 and 0.0 < res["a_mAP_loose"] <= 1.0 and res["num_games"] == 2
    assert os.path.isfile(os.path.join(res["predictions"], json.load(open(os.path.join(work, "data", "splits.json")))
                                       ["test"][0], "results_spotting.json"))


@pytest.mark.parametrize("fmt", ["onnx", "pt2", "safetensors"])
def test_an_exported_model_predicts_from_video_as_its_run_does(run, tmp_path, fmt):
    pytest.importorskip("onnxruntime")
    from spotkern.export.exporter import export_run

    model = str(tmp_path / fmt)
    export_run(run["run"], fmt, model)
    a = _results(predict_video(run["run"], [run["clips"]], str(tmp_path / "run_out"), progress=False))
    b = _results(predict_video(None, [run["clips"]], str(tmp_path / "model_out"), model_dir=model, progress=False))
    key = [(p["half"], p["label"], p["position"]) for p in a["predictions"]]
    assert key == [(p["half"], p["label"], p["position"]) for p in b["predictions"]]
    assert np.allclose([float(p["confidence"]) for p in a["predictions"]],
                       [float(p["confidence"]) for p in b["predictions"]], atol=1e-5)
    assert read_manifest_extraction(model)["encoder"] == "tiny"


def read_manifest_extraction(model):
    from spotkern.export.manifest import read_manifest

    return read_manifest(model, "test", verify=False)["extraction"]
