"""Issue 12.1 and 14.1 at the op level: allocation failures inside the kernels' OpenMP regions raise
MemoryError (each case runs in a subprocess, so a regression shows as a crash, not a dead pytest),
the matching's N is capped, and every op's unchecked path (``spotkern.ops.unchecked``, the ops'
``_impl``) reads no data on the host."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import spotkern
from spotkern.data.soccernet_classes import K_V2_FRAMES
from spotkern.ops import unchecked

# Runs CALL under address-space limits stepping 1 MiB above the current size: at some step the
# output fits but a thread's scratch does not, so the allocation fails inside the parallel region.
# Prints the set of outcomes; an abort (std::terminate) would end the process with rc 134.
_SCAN = textwrap.dedent("""
    import resource, numpy as np, spotkern
    from spotkern._ext import ext
    ext().set_num_threads(2)
    SETUP
    def vmsize():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    CALL  # warm the OpenMP pool (thread stacks) and the allocator before any limit
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    outcomes = set()
    for extra in range(0, STEPS):
        resource.setrlimit(resource.RLIMIT_AS, (vmsize() + extra * 2**20, hard))
        try:
            CALL
            outcomes.add("ok")
        except MemoryError:
            outcomes.add("MemoryError")
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    print(sorted(outcomes))
""")

CASES = {
    "displace_scores": ("c = np.random.rand(4, 1024, 256).astype(np.float32)",
                        "spotkern.displace_scores(c, c, 6.0)", 24),
    "dense_anchor_targets": ("f = np.zeros(2**21, np.int64); cl = np.zeros(2**21, np.int64); "
                             "o = np.array([0, 2**20, 2**21])",
                             "spotkern.dense_anchor_targets(f, cl, 256, 8, radius_confidence=1, radius_displacement=2, "
                             "offsets=o)", 40),
    "time_shift_encoding_batch": ("h = [np.ones((2**16, 16), np.float32) for _ in range(4)]",
                                  "spotkern.time_shift_encoding_batch(h, np.tile([[-8], [-4], [4], [8]], 16))", 48),
    "soft nms": ("s = np.random.rand(2**19, 2).astype(np.float32)",
                 "spotkern.nms(s, 8, method='gaussian', sigma=1e9, threshold=0.999999)", 40),
    "reciprocal_matching": ("x = np.zeros((64, 1024), np.float32)",
                            "spotkern.reciprocal_matching(x, x, x)", 40),
}


@pytest.mark.slow  # each case scans ~40 memory limits in a subprocess (2-10 s)
@pytest.mark.parametrize("name", sorted(CASES))
def test_allocation_failure_in_a_parallel_region_is_a_memory_error(name):
    setup, call, steps = CASES[name]
    code = _SCAN.replace("SETUP", setup).replace("CALL", call).replace("STEPS", str(steps))
    # A fixed mmap threshold: large blocks are unmapped when freed, so the limit measures live memory
    # (glibc would otherwise keep them in the heap and serve the next call from there).
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, f"{name}: rc {run.returncode}\n{run.stderr[-2000:]}"
    assert "MemoryError" in run.stdout, run.stdout + run.stderr[-2000:]


def test_matching_beyond_the_slot_cap_is_a_named_error_not_an_abort():
    code = ("import numpy as np, spotkern\n"
            "x = np.zeros((1, 2**17), np.float32)\n"
            "try:\n    spotkern.reciprocal_matching(x, np.ones_like(x), x)\n"
            "except ValueError as e:\n    print(e)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("reciprocal_matching: N must be <= 1024 slots")


# --- the _impl contract: no host data reads --------------------------------------------------------

def _impl_calls():
    rng = np.random.default_rng(0)
    lab = np.zeros((300, 17), np.float32)
    lab[rng.integers(0, 300, 10), rng.integers(0, 17, 10)] = 1
    labels = torch.from_numpy(lab)
    K = torch.from_numpy(K_V2_FRAMES)
    tse = unchecked.time_shift_encoding(labels, torch.tensor([100, 200]), K)
    frames, classes = torch.tensor([3, 40, 90]), torch.tensor([0, 5, 16])
    pos, pred = torch.rand(8, 15), torch.rand(8, 15)
    scores = torch.rand(2, 100, 17)
    segments, cells = torch.tensor([0, 0, 0, 2]), torch.tensor([3, 4, 50, 7])
    values, seg = torch.rand(4), torch.rand(300, 17)
    return {
        "time_shift_encoding": lambda: unchecked.time_shift_encoding(labels, torch.tensor([300]), K),
        "time_shift_encoding_from_events": lambda: unchecked.time_shift_encoding_from_events(frames, classes, K, 100),
        "spotting_targets": lambda: unchecked.spotting_targets(tse[None, :240].contiguous(), 15, 40),
        "reciprocal_matching": lambda: unchecked.reciprocal_matching(pos, pos > 0.5, pred, "calf"),
        "dense_anchor_targets": lambda: unchecked.dense_anchor_targets(
            frames, classes, torch.tensor([0, 1, 3]), 100, 17, 6.0, 12.0),
        "displace_scores": lambda: unchecked.displace_scores(scores, scores - 0.5, 12.0),
        "nms": lambda: unchecked.nms(scores.double(), [6] * 17, [0.0] * 17, 0, 0.0, 0.0, 2.0, "dense"),
        "nms soft": lambda: unchecked.nms(scores, [8] * 17, [4.0] * 17, 3, 1e-5, 0.0, 2.0, "dense"),
        "calf_segmentation_loss": lambda: unchecked.calf_segmentation_loss(tse, seg, K, fused=False),
        "calf_segmentation_loss fused": lambda: unchecked.calf_segmentation_loss(tse, seg, K, fused=True),
        "nms_sparse": lambda: unchecked.nms_sparse(values, segments, cells, 100, [4, 8], [2.0, 4.0], 3, 1e-5, 0.0,
                                                   2.0),
    }


def _refuse(*args, **kwargs):
    raise AssertionError("an _impl path read tensor data on the host")


def test_every_op_has_an_unchecked_path_and_each_is_checked_here():
    # time_shift_encoding_batch takes numpy halves only: no tensor to read
    assert set(unchecked.__all__) - {"NMS_METHOD_CODES", "time_shift_encoding_batch"} <= set(_impl_calls())
    for name in unchecked.__all__:
        if name != "NMS_METHOD_CODES":
            assert getattr(unchecked, name).__name__ == f"_{name}_impl"


@pytest.mark.parametrize("name", sorted(_impl_calls()))
def test_impl_reads_no_data(name, monkeypatch):
    call = _impl_calls()[name]
    want = call()
    for attr in ("item", "tolist", "cpu", "__bool__", "numpy_"):
        if hasattr(torch.Tensor, attr):
            monkeypatch.setattr(torch.Tensor, attr, _refuse)
    got = call()
    monkeypatch.undo()
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        torch.testing.assert_close(g, w, rtol=0, atol=0)


def test_impl_traces_fullgraph():
    scores = torch.rand(100, 17)

    def f(s):
        d = unchecked.displace_scores(s, s - 0.5, 12.0)
        return unchecked.nms(d, [6] * 17, [0.0] * 17, 0, 0.0, 0.0, 2.0, "dense")

    torch.testing.assert_close(torch.compile(f, fullgraph=True, backend="eager")(scores), f(scores))


def test_public_ops_still_validate_what_impl_trusts():
    with pytest.raises(ValueError, match="^displace_scores: confidence contains NaN"):
        spotkern.displace_scores(np.full((3, 2), np.nan, np.float32), np.zeros((3, 2), np.float32), 1.0)
