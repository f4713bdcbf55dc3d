"""Inputs a hostile tester still found (issue 21.7): a request that cannot fit in memory is a named
``NotEnoughMemoryError`` (a MemoryError: function, argument, bytes) raised before anything is allocated,
never the allocator's raw error; a predictions file that is a symlink to itself is an error naming it;
a CALF K table in seconds given to the segmentation loss warns (``KUnitsWarning``)."""
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

import spotkern
from spotkern import _validation
from spotkern._validation import NotEnoughMemoryError
from spotkern.data.soccernet_classes import K_V1_SECONDS, K_V2_FRAMES, K_V2_SECONDS
from spotkern.losses import (
    CALFSegmentationLoss,
    calf_segmentation_loss,
    calf_spotting_loss,
    dense_confidence_loss,
    dense_displacement_loss,
)
from spotkern.ops.calf_k import KUnitsWarning

T = 2**31  # frames of the expanded views: nothing is stored, every step on them allocates T x C


def _expanded(C=3, value=0.0, dtype=torch.float32):
    return torch.full((1, 1, C), value, dtype=dtype).expand(1, T, C)


MEMORY_CASES = {
    "nms numpy": (lambda: spotkern.nms(np.broadcast_to(np.zeros(1, np.float32), (T, 3)), 4, method="hard"),
                  r"^nms: scores need 51539607552 bytes \(48\.0 GiB\) for a contiguous copy and the dense output"),
    "nms tensor": (lambda: spotkern.nms(torch.zeros(1, 1).expand(T, 3), 4, method="hard"),
                   r"^nms: scores need 51539607552 bytes"),
    "dense_confidence_loss": (lambda: dense_confidence_loss(_expanded(), _expanded(), _expanded(value=1.0)),
                              r"^dense_confidence_loss: logits need 25769803776 bytes \(24\.0 GiB\) for the "
                              r"per-anchor losses"),
    "dense_displacement_loss": (lambda: dense_displacement_loss(_expanded(), _expanded(), _expanded(value=1.0)),
                                r"^dense_displacement_loss: predictions need 25769803776 bytes"),
    "calf_segmentation_loss": (lambda: calf_segmentation_loss(_expanded(value=-1, dtype=torch.int64), _expanded(),
                                                              K_V2_FRAMES[:, :3]),
                               r"^calf_segmentation_loss: scores need 25769803776 bytes .* per-cell losses"),
    "calf_spotting_loss": (lambda: calf_spotting_loss(_expanded(5), _expanded(5)),
                           r"^calf_spotting_loss: predictions need 42949672960 bytes"),
    "dense_anchor_targets": (lambda: spotkern.dense_anchor_targets(np.zeros(1, np.int64), np.zeros(1, np.int64), T,
                                                                   17, radius_confidence=1.0,
                                                                   radius_displacement=1.0),
                             r"^dense_anchor_targets: num_frames, num_classes and the chunk count need "
                             r"328564998144 bytes"),
}


@pytest.mark.parametrize("case", sorted(MEMORY_CASES))
def test_a_request_too_large_for_memory_is_named_before_allocating(monkeypatch, case):
    fn, message = MEMORY_CASES[case]
    monkeypatch.setattr(_validation, "memory_limit", lambda device=None: 1 << 30)  # a 1 GiB machine
    with pytest.raises(NotEnoughMemoryError, match=message + r".*more than the 1073741824 bytes"):
        fn()
    assert issubclass(NotEnoughMemoryError, MemoryError)


def test_the_real_limit_is_checked_before_the_allocator_under_an_address_space_limit(tmp_path):
    """A subprocess whose address space is capped at 4 GiB: every case raises the named error (the
    allocator's own error would name no function), whatever the machine's RAM."""
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        from test_adversarial_leftovers import MEMORY_CASES
        from spotkern._validation import NotEnoughMemoryError, memory_limit
        assert memory_limit() <= 4 << 30, memory_limit()
        for name, (fn, message) in MEMORY_CASES.items():
            try:
                fn()
            except NotEnoughMemoryError as e:
                print(name, "named:", e)
            else:
                sys.exit(name + ": no error")
    """))
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count(" named: ") == len(MEMORY_CASES), res.stdout
    assert "4294967296 bytes" in res.stdout


def test_memory_limit_is_a_positive_byte_count():
    limit = _validation.memory_limit()
    assert limit is None or limit > 1 << 20
    assert _validation.memory_limit(torch.device("meta")) is None


def test_the_command_line_reports_the_allocators_error_as_one_line(monkeypatch, capsys):
    from spotkern.cli import main

    def fail(**kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
                           "memory: you tried to allocate 25769803776 bytes. Error code 12")

    monkeypatch.setattr("spotkern.cli.run_bench", fail)
    assert main(["bench", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("spotkern bench: error: out of memory: ") and "25769803776 bytes" in err
    assert len(err.strip().splitlines()) == 1


def test_a_predictions_file_that_links_to_itself_is_an_error_naming_it(tmp_path, capsys):
    from spotkern.cli import main
    from spotkern.metrics import evaluate

    labels, preds = tmp_path / "labels", tmp_path / "preds"
    for game in ("g1", "g2"):
        (labels / game).mkdir(parents=True)
        (labels / game / "Labels-v2.json").write_text('{"annotations": []}')
        (preds / game).mkdir(parents=True)
    (preds / "g2" / "results_spotting.json").write_text('{"predictions": []}')
    loop = preds / "g1" / "results_spotting.json"
    os.symlink("results_spotting.json", loop)  # g1/results_spotting.json -> itself
    with pytest.raises(ValueError, match=rf"^evaluate: {loop}: file: unreadable \(Too many levels of symbolic"):
        evaluate(str(labels), str(preds), games=["g1", "g2"])
    assert main(["evaluate", str(labels), str(preds)]) == 2
    err = capsys.readouterr().err
    assert str(loop) in err and "unreadable" in err and "warning" not in err


@pytest.mark.parametrize("K", [K_V2_SECONDS.tolist(), K_V1_SECONDS.tolist(),
                               [[float(v) for v in row] for row in K_V2_SECONDS.tolist()]])
def test_a_K_table_in_seconds_warns_in_the_segmentation_loss(K):
    """OSL's CALF config gives SoccerNet's K table in seconds as a nested list."""
    C = len(K[0])
    tse, scores = torch.full((1, 8, C), -1, dtype=torch.int64), torch.rand(1, 8, C)
    with pytest.warns(KUnitsWarning, match="^CALFSegmentationLoss: K equals the SoccerNet-v. .*table in seconds"):
        loss = CALFSegmentationLoss(K=K)
    with pytest.warns(KUnitsWarning, match="^calf_segmentation_loss: K equals"):
        calf_segmentation_loss(tse, scores, K)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss(tse, scores)  # warned once, at construction: not at every step
        explicit = CALFSegmentationLoss(K=K, units="seconds", fps=2)
        np.testing.assert_array_equal(explicit.K.numpy(), 2 * np.asarray(K, dtype=np.int64))
        CALFSegmentationLoss(K=K, units="frames")  # 1 fps: said explicitly
        calf_segmentation_loss(tse, scores, K, units="seconds", fps=2)
