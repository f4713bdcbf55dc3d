"""Writing a game's results file (``spotkern.inference.results_files.write_results``): two halves of dense
scores (5400 frames x 17 classes each, every frame a prediction: 183,600 events, the largest file the
library writes per game), against the previous way (``json.dump`` streamed into the temporary file, which
encodes the document in pure-Python chunks; now ``json.dumps`` in one C call, then one write,
``spotkern._files.write_text_atomic``). With ``--benchmark-disable`` (CI's smoke run) the halves are 50
frames long."""
import json
import os

import numpy as np
import pytest

from spotkern.inference.results_files import results_document, write_results

CLASSES = [f"class {i}" for i in range(17)]


@pytest.fixture(scope="module")
def halves(request):
    frames = 50 if request.config.getoption("benchmark_disable", False) else 5400
    rng = np.random.default_rng(0)
    return [rng.random((frames, 17)).astype(np.float32) for _ in range(2)]


def _previous(out_dir, game, halves):
    """The write as it was: the document streamed by ``json.dump`` into ``<file>.tmp``, then ``os.replace``."""
    doc = results_document(game + "/", halves, CLASSES, 2.0, "spotkern")
    os.makedirs(os.path.join(out_dir, game), exist_ok=True)
    path = os.path.join(out_dir, game, "results_spotting.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(path + ".tmp", path)
    return path


@pytest.mark.parametrize("row", ["previous (json.dump streamed)", "spotkern write_results"])
def test_write_results(benchmark, halves, tmp_path, row):
    benchmark.group = f"results file, 2 dense halves of {len(halves[0])}x17"
    if row.startswith("previous"):
        path = benchmark.pedantic(_previous, args=(str(tmp_path), "g", halves), rounds=3, iterations=1,
                                  warmup_rounds=1)
    else:
        path = benchmark.pedantic(write_results, args=(str(tmp_path), "g", halves, CLASSES), rounds=3,
                                  iterations=1, warmup_rounds=1)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    assert len(doc["predictions"]) == 2 * 17 * len(halves[0])
    assert os.listdir(os.path.dirname(path)) == ["results_spotting.json"]
