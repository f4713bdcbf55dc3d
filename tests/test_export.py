"""``spotkern export`` (issue 20): ONNX networks against PyTorch, the events of every exported path
against ``spotkern predict --run``, the pt2 program against its eager module, safetensors runs loaded
without unpickling, and the named errors of bad input. Runs are trained for a few steps on short
synthetic halves (their outputs are arbitrary but deterministic, which is all parity needs)."""
import json
import os
import pickle

import numpy as np
import pytest
import torch

from spotkern.cli import main
from spotkern.data.synth import write_synthetic_soccernet
from spotkern.export import OnnxSpotter, read_manifest
from spotkern.export.exporter import export_run, half_module, load_run
from spotkern.export.manifest import MANIFEST_FILE, file_entries, write_manifest
from spotkern.export.predict import load_program, predict_model
from spotkern.methods.config import TrainConfig
from spotkern.metrics import evaluate
from spotkern.runs.predict import predict_dataset
from spotkern.runs.stages import load_run_stage
from spotkern.train.checkpoint import load_stage
from spotkern.train.trainer import train

ort = pytest.importorskip("onnxruntime")  # in the dev extra: CI runs these tests

TINY_UNET = {"levels": 2, "width": 16, "max_width": 16}
RUNS = ("dense", "joint", "calf")
pytestmark = pytest.mark.filterwarnings("ignore:CALFChunkSampler", "ignore::DeprecationWarning",
                                        "ignore::UserWarning")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Synthetic data (2 test games, 8-d features, halves of 240-300 frames), three tiny trained runs
    (the two-step dense method, dense-joint with the Transformer, CALF), their predictions with
    ``predict --run`` and an ONNX export of each."""
    root = tmp_path_factory.mktemp("export")
    data = str(root / "data")
    write_synthetic_soccernet(data, splits={"train": 1, "test": 2}, feature_dim=8, half_minutes=(2.0, 2.5),
                              progress=False)
    base = dict(data=data, trunk_kwargs=TINY_UNET, chunk_seconds=32.0, batch_size=8, chunks_per_epoch=16, epochs=1,
                validate_every=0, progress=False, num_threads=1, inference_batch=64, test_border=20.0)
    kws = {"dense": dict(method="dense", nms_method="linear"),
           "joint": dict(method="dense-joint", trunk="transformer", trunk_kwargs={"layers": 1, "hidden": 16,
                                                                                 "num_heads": 2, "intermediate": 32}),
           "calf": dict(method="calf", batch_size=4, chunks_per_epoch=8)}
    runs, preds, onnx = {}, {}, {}
    for name, kw in kws.items():
        runs[name] = str(root / name)
        train(TrainConfig.from_dict({**base, "out": runs[name], **kw}))
        preds[name] = str(root / f"pred_{name}")
        predict_dataset(runs[name], data, "test", preds[name], progress=False)
        onnx[name] = str(root / f"onnx_{name}")
        export_run(runs[name], "onnx", onnx[name])
    return {"root": root, "data": data, "runs": runs, "preds": preds, "onnx": onnx}


def results_of(out):
    docs = {}
    for root, _, files in os.walk(out):
        if "results_spotting.json" in files:
            with open(os.path.join(root, "results_spotting.json")) as f:
                docs[os.path.relpath(root, out)] = json.load(f)
    return docs


def a_map(data, out):
    return evaluate(data, out, games=sorted(results_of(out)), metric="loose")["a_mAP"]


# ---------------------------------------------------------------------------------------------- onnx
@pytest.mark.parametrize("name", RUNS)
def test_onnx_networks_match_pytorch_on_three_batch_sizes(world, name):
    folder = world["onnx"][name]
    m = read_manifest(folder)
    assert set(m["networks"]) == set(m["run"]["stages"]) and m["networks"]
    rng = np.random.default_rng(0)
    for stage, net in m["networks"].items():
        model, _ = load_stage(os.path.join(world["runs"][name], stage))
        session = ort.InferenceSession(os.path.join(folder, net["file"]), providers=["CPUExecutionProvider"])
        L, F = net["inputs"][0]["shape"][1:]
        names = [o["name"] for o in net["outputs"]]
        for B in (1, 3, 8):
            x = rng.standard_normal((B, L, F)).astype(np.float32)
            got = session.run(names, {"features": x})
            with torch.no_grad():
                ref = model(torch.from_numpy(x))
            ref = list(ref) if isinstance(ref, tuple) else [ref[n] for n in names]
            for n, g, r in zip(names, got, ref):
                assert g.shape == tuple(r.shape) and g.shape[0] == B, n
                assert float(np.abs(g - r.numpy()).max()) <= 1e-4, (stage, n, B)


def test_manifest_holds_what_turns_outputs_into_events(world):
    m = read_manifest(world["onnx"]["dense"])
    run = load_run(world["runs"]["dense"])
    assert m["classes"] == run.classes and m["fps"] == 2.0 and m["feature_dim"] == 8
    assert m["run"]["method"] == "dense" and m["run"]["stage"] == "displacement"
    assert m["run"]["stages"] == ["confidence", "displacement"]
    net = m["networks"]["confidence"]
    assert net["opset"] >= 17 and net["inputs"] == [{"name": "features", "shape": ["batch", 64, 8], "dtype": "float32"}]
    assert net["outputs"][0]["shape"] == ["batch", 64, 17]
    conf = m["pipeline"]["outputs"]["confidence"]
    assert conf["chunk_len"] == 64 and conf["stride"] == 64 - 2 * conf["border"] and conf["stitching"]
    assert m["pipeline"]["outputs"]["displacement"]["network"] == "displacement"
    assert m["pipeline"]["radius_displacement"] == pytest.approx(run.stage.rd)
    assert m["postprocess"]["methods"] == ["linear"] * 17
    assert m["files"] == file_entries(world["onnx"]["dense"], ["confidence.onnx", "displacement.onnx"])
    calf = read_manifest(world["onnx"]["calf"])
    assert calf["pipeline"]["outputs"]["confidence"]["stride"] == 160
    assert [o["name"] for o in calf["networks"]["calf"]["outputs"]] == ["segmentation", "spotting"]


@pytest.mark.parametrize("name", RUNS)
def test_onnx_events_match_predict_run(world, name, tmp_path):
    out = str(tmp_path / "pred")
    paths = predict_model(world["onnx"][name], world["data"], "test", out, progress=False)
    assert len(paths) == 2
    ref, got = results_of(world["preds"][name]), results_of(out)
    assert sorted(got) == sorted(ref)
    for game in ref:  # the same events; scores equal up to float re-association in onnxruntime's kernels
        r, g = ref[game]["predictions"], got[game]["predictions"]
        def events(preds):
            return [(p["half"], p["position"], p["label"]) for p in preds]

        assert events(g) == events(r)
        assert np.allclose([p["confidence"] for p in g], [p["confidence"] for p in r], atol=1e-5, rtol=0)
    assert round(a_map(world["data"], out), 4) == round(a_map(world["data"], world["preds"][name]), 4)
    assert json.load(open(os.path.join(out, "postprocess.json"))) == read_manifest(world["onnx"][name])["postprocess"]


def test_onnx_spotter_raw_outputs_and_feature_check(world):
    spotter = OnnxSpotter(world["onnx"]["calf"], num_threads=1)
    x = np.random.default_rng(1).standard_normal((300, 8)).astype(np.float32)
    raw = spotter.raw_outputs(x)
    assert raw["confidence"].shape == (300, 17)
    assert spotter.predict_half(x).shape == (300, 17)
    with pytest.raises(ValueError, match=r"OnnxSpotter: features must be \(T, 8\)"):
        spotter.raw_outputs(x[:, :5])


# ---------------------------------------------------------------------------------------------- pt2
@pytest.mark.parametrize("name", ["dense", "calf"])
def test_pt2_events_are_predict_runs_and_program_equals_eager(world, name, tmp_path):
    folder = str(tmp_path / "pt2")
    export_run(world["runs"][name], "pt2", folder)
    out = str(tmp_path / "pred")
    predict_model(folder, world["data"], "test", out, progress=False)
    assert results_of(out) == results_of(world["preds"][name])  # same threads as predict --run: identical
    program, m = load_program(folder)
    eager = half_module(load_run(world["runs"][name]), m)
    need = m["program"]["inputs"][0]["min_frames"]
    for T in (need, 517):
        x = torch.from_numpy(np.random.default_rng(T).standard_normal((T, 8)).astype(np.float32))
        with torch.no_grad():
            assert torch.equal(program(x), eager(x))
    with pytest.raises(ValueError, match="predict_model: .* pt2 program with its post-processing built in"):
        predict_model(folder, world["data"], "test", out, threshold=0.5)


# ---------------------------------------------------------------------------------------------- safetensors
def test_safetensors_folder_is_a_run_loaded_without_unpickling(world, tmp_path, monkeypatch):
    folder = str(tmp_path / "st")
    paths = export_run(world["runs"]["dense"], "safetensors", folder)
    assert {os.path.relpath(p, folder) for p in paths} == {"config.json", "confidence/model.safetensors",
                                                         "displacement/model.safetensors", MANIFEST_FILE}

    def no_unpickling(*a, **k):
        raise AssertionError("unpickled")

    monkeypatch.setattr(pickle, "Unpickler", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(torch, "load", no_unpickling)
    out = str(tmp_path / "pred")
    assert main(["-q", "predict", "--run", folder, "--data", world["data"], "--out", out, "--no-progress"]) == 0
    assert results_of(out) == results_of(world["preds"]["dense"])
    out2 = str(tmp_path / "pred2")
    predict_model(folder, world["data"], "test", out2, progress=False)
    assert results_of(out2) == results_of(out)
    # a damaged weights file is named, not loaded
    path = os.path.join(folder, "displacement", "model.safetensors")
    raw = bytearray(open(path, "rb").read())
    raw[-1] ^= 1
    open(path, "wb").write(bytes(raw))
    with pytest.raises(ValueError, match="model.safetensors does not match the digest"):
        load_run_stage(os.path.join(folder, "displacement"))


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_export_and_predict_model(world, tmp_path, capsys):
    folder = str(tmp_path / "cli_onnx")
    assert main(["-q", "export", "--run", world["runs"]["calf"], "--format", "onnx", "--out", folder]) == 0
    assert os.path.join(folder, "calf.onnx") in capsys.readouterr().out
    out = str(tmp_path / "pred")
    assert main(["-q", "predict", "--model", folder, "--data", world["data"], "--out", out, "--no-progress",
                 "--evaluate", "loose"]) == 0
    assert "average-mAP (loose)" in capsys.readouterr().out
    assert sorted(results_of(out)) == sorted(results_of(world["preds"]["calf"]))
    with pytest.raises(SystemExit):  # --model and --run exclude each other
        main(["-q", "predict", "--model", folder, "--run", world["runs"]["calf"], "--data", world["data"]])


# ---------------------------------------------------------------------------------------------- bad input
def test_run_with_no_trained_stage_is_named(world, tmp_path, capsys):
    run = tmp_path / "untrained"
    run.mkdir()
    (run / "config.json").write_text(open(os.path.join(world["runs"]["dense"], "config.json")).read())
    with pytest.raises(ValueError, match="export_run: .*untrained holds no trained stage"):
        export_run(str(run), "onnx", str(tmp_path / "out"))
    assert main(["-q", "export", "--run", str(run), "--format", "onnx", "--out", str(tmp_path / "out")]) == 2
    assert "spotkern export: error: export_run:" in capsys.readouterr().err


def test_unknown_format_is_named(world, tmp_path, capsys):
    with pytest.raises(ValueError, match=r"export_run: format must be one of onnx, pt2, safetensors, got 'tflite'"):
        export_run(world["runs"]["dense"], "tflite", str(tmp_path / "out"))
    assert main(["-q", "export", "--run", world["runs"]["dense"], "--format", "tflite", "--out",
                 str(tmp_path / "out")]) == 2
    assert "format must be one of" in capsys.readouterr().err


def test_existing_output_is_refused_without_force(world, tmp_path):
    out = tmp_path / "out"
    export_run(world["runs"]["calf"], "safetensors", str(out))
    with pytest.raises(FileExistsError, match="export_run: output .* exists; pass force=True"):
        export_run(world["runs"]["calf"], "safetensors", str(out))
    paths = export_run(world["runs"]["calf"], "safetensors", str(out), force=True)
    assert all(os.path.isfile(p) for p in paths)
    other = tmp_path / "not_an_export"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="is not an earlier export"):
        export_run(world["runs"]["calf"], "safetensors", str(other), force=True)
    assert (other / "keep.txt").read_text() == "mine"


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return str(dst)


def test_model_folder_without_manifest_is_named(world, tmp_path):
    folder = _copy(world["onnx"]["dense"], tmp_path / "m")
    os.remove(os.path.join(folder, MANIFEST_FILE))
    with pytest.raises(ValueError, match="predict_model: .* holds no manifest.json"):
        predict_model(folder, world["data"], "test", str(tmp_path / "p"))
    with pytest.raises(ValueError, match="OnnxSpotter: .* holds no manifest.json"):
        OnnxSpotter(folder)


def test_model_file_that_does_not_match_its_manifest_is_named(world, tmp_path):
    folder = _copy(world["onnx"]["dense"], tmp_path / "digest")
    path = os.path.join(folder, "confidence.onnx")
    with open(path, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="confidence.onnx has .* bytes, the manifest records"):
        OnnxSpotter(folder)
    folder = _copy(world["onnx"]["dense"], tmp_path / "swap")
    raw = bytearray(open(os.path.join(folder, "confidence.onnx"), "rb").read())
    raw[len(raw) // 2] ^= 0xFF
    open(os.path.join(folder, "confidence.onnx"), "wb").write(bytes(raw))
    with pytest.raises(ValueError, match="SHA-256 digest differs from the manifest"):
        OnnxSpotter(folder)
    folder = _copy(world["onnx"]["dense"], tmp_path / "shape")
    m = read_manifest(folder)
    m["networks"]["confidence"]["outputs"][0]["shape"] = ["batch", 64, 3]
    write_manifest(folder, m)
    with pytest.raises(ValueError, match=r"output 'confidence' has shape \['batch', 64, 17\], the manifest records"):
        OnnxSpotter(folder)


def test_onnx_of_another_runs_classes_is_refused(world, tmp_path):
    import onnx

    folder = _copy(world["onnx"]["calf"], tmp_path / "other")
    m = read_manifest(folder)
    classes = ["Not a SoccerNet class"] + m["classes"][1:]
    path = os.path.join(folder, "calf.onnx")
    proto = onnx.load(path)
    for p in proto.metadata_props:
        if p.key == "spotkern.classes":
            p.value = json.dumps(classes)
    onnx.save(proto, path)
    # first the manifest still lists the run's classes: the ONNX file is of another run
    m["files"] = file_entries(folder, ["calf.onnx"])
    write_manifest(folder, m)
    with pytest.raises(ValueError, match="OnnxSpotter: .*calf.onnx was exported for the classes"):
        OnnxSpotter(folder)
    # a consistent folder of another run's classes: refused against the data's classes
    m["classes"] = classes
    m["postprocess"]["classes"] = classes
    write_manifest(folder, m)
    with pytest.raises(ValueError, match="OnnxSpotter: the dataset's classes .* differ from the exported model's"):
        predict_model(folder, world["data"], "test", str(tmp_path / "p"), progress=False)


# ---------------------------------------------------------------------------------------------- stitching
@pytest.mark.parametrize("kind", ["dense", "calf"])
def test_traceable_stitching_equals_the_inference_layouts(kind):
    from spotkern.export.pipeline import _starts, _stitch
    from spotkern.inference.layout import calf_clip_starts, calf_stitch, dense_chunk_layout, dense_merge

    L, b = (24, 5) if kind == "dense" else (30, 7)  # CALF: receptive field 14, border 7, stride 16
    stride = L - 2 * b
    g = torch.Generator().manual_seed(0)
    for T in range(L + 1, 6 * L):
        starts = _starts(kind, T, L, stride, "cpu")
        if kind == "dense":
            layout = dense_chunk_layout(T, L, b)
            assert starts.tolist() == layout[:, 0].tolist(), T
            chunks = torch.rand(len(layout), L, 3, generator=g)
            want = dense_merge(chunks, layout, T)
        else:
            assert starts.tolist() == calf_clip_starts(T, L, stride).tolist(), T
            chunks = torch.rand(len(starts), L, 3, generator=g)
            want = calf_stitch(chunks, starts, T, border=b)
        assert torch.equal(_stitch(chunks, starts, T, b, -1.0 if kind == "calf" else 0.0), want), T


def test_dynamo_exporter_is_the_fallback_of_a_torch_without_the_torchscript_one(world, tmp_path, monkeypatch):
    from spotkern.export.exporter import export_onnx_network

    real = torch.onnx.export

    def without_torchscript(*args, **kwargs):
        if kwargs.get("dynamo") is False:
            raise RuntimeError("the TorchScript exporter is gone")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.onnx, "export", without_torchscript)
    model, meta = load_stage(os.path.join(world["runs"]["calf"], "calf"))
    path = str(tmp_path / "calf.onnx")
    entry = export_onnx_network(model, meta["model_spec"], path, classes=meta["classes"], stage="calf")
    assert entry["opset"] >= 17
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for B in (1, 5):
        x = np.random.default_rng(B).standard_normal((B, 240, 8)).astype(np.float32)
        seg, spot = session.run(["segmentation", "spotting"], {"features": x})
        with torch.no_grad():
            ref = model(torch.from_numpy(x))
        assert float(np.abs(spot - ref[1].numpy()).max()) <= 1e-4 and float(np.abs(seg - ref[0].numpy()).max()) <= 1e-4


def test_shipped_postprocess_is_the_exports_and_overrides_apply(world, tmp_path):
    from spotkern.postprocess import PostProcess

    pp = PostProcess(["hard"] * 17, [6.0] * 17, [0.2] * 17, classes=load_run(world["runs"]["calf"]).classes)
    for fmt in ("onnx", "safetensors"):
        folder = str(tmp_path / fmt)
        export_run(world["runs"]["calf"], fmt, folder, postprocess=pp)
        assert read_manifest(folder)["postprocess"] == pp.to_dict()
        out = str(tmp_path / f"pred_{fmt}")
        predict_model(folder, world["data"], "test", out, progress=False)
        assert PostProcess.load(os.path.join(out, "postprocess.json")).to_dict() == pp.to_dict()
        docs = results_of(out)
        assert any(d["predictions"] for d in docs.values())
        assert all(p["confidence"] >= 0.2 for d in docs.values() for p in d["predictions"])
        out = str(tmp_path / f"top_{fmt}")
        predict_model(folder, world["data"], "test", out, progress=False, top_k=3)
        assert all(sum(p["half"] == h for p in d["predictions"]) <= 3 for d in results_of(out).values()
                   for h in ("1", "2"))
