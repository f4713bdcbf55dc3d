"""Inference layouts and stitching (CALF-T12, DA-T9, defect D2), decoding (CALF-T6) and results
files (CALF-T13)."""
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spotkern.inference import (
    calf_clip_starts,
    calf_decode_clips,
    calf_stitch,
    dense_border,
    dense_chunk_layout,
    dense_merge,
    detection_entry,
    results_document,
    write_results,
)


def test_clip_starts_step_by_the_stride_and_the_last_ends_the_half():
    """CALF-T12: clip starts."""
    for T, last in ((5400, 5160), (5300, 5060)):
        s = calf_clip_starts(T)
        assert len(s) == 34
        np.testing.assert_array_equal(s[:-1], np.arange(0, 33 * 160, 160))
        assert s[-1] == last
    assert calf_clip_starts(100).tolist() == [0]


def test_stitching_places_every_clip_at_its_true_start():
    """CALF-T12: stitching."""
    T = 5300
    starts = calf_clip_starts(T)
    clips = np.full((len(starts), 240, 1), -1.0, dtype=np.float32)
    k5120 = int(np.flatnonzero(starts == 5120)[0])
    clips[k5120, 100, 0] = 0.3       # lands at 5220, then overwritten by the final clip
    clips[k5120, 60, 0] = 0.4        # lands at 5180, also overwritten
    clips[-1, 160, 0] = 0.9          # final clip (start 5060) row 160 -> frame 5220
    out = calf_stitch(clips, starts, T)
    assert out[5220, 0] == pytest.approx(0.9)
    assert out[5180, 0] == -1 and out[5160, 0] == -1  # the defective reference puts 0.3 at 5160
    # Each frame is written by the clip that the spec says wins: mark clips by their index.
    marks = np.repeat(np.arange(len(starts), dtype=np.float32)[:, None, None], 240, axis=1)
    owner = calf_stitch(marks, starts, T)[:, 0]
    assert (owner[:200] == 0).all()
    assert (owner[5100:] == len(starts) - 1).all()
    assert (owner[200:360] == 1).all()


@settings(max_examples=40)
@given(st.integers(1, 3000))
def test_calf_stitch_rows_are_aligned(T):
    """Writing each clip's absolute frame index must give back arange(T): no gap, no shift (D2)."""
    starts = calf_clip_starts(T)
    frames = starts[:, None] + np.arange(240)[None, :]
    clips = frames.astype(np.float64)[..., None]
    out = calf_stitch(clips, starts, T)[:, 0]
    np.testing.assert_array_equal(out, np.arange(T))
    t = calf_stitch(torch.as_tensor(clips), starts, T)
    np.testing.assert_array_equal(t[:, 0].numpy(), np.arange(T))


@pytest.mark.parametrize("T,L,B,n,first,last", [
    (5400, 224, 100, 217, [(0, 224, 0, 124, 0, 124), (24, 224, 100, 124, 124, 148)],
     [(5160, 224, 100, 124, 5260, 5284), (5176, 224, 100, 224, 5276, 5400)]),
    (5400, 224, 40, 37, [(0, 224, 0, 184, 0, 184), (144, 224, 40, 184, 184, 328)],
     [(5040, 224, 40, 184, 5080, 5224), (5176, 224, 40, 224, 5216, 5400)]),
    (2700, 112, 50, 217, [(0, 112, 0, 62, 0, 62), (12, 112, 50, 62, 62, 74)],
     [(2580, 112, 50, 62, 2630, 2642), (2588, 112, 50, 112, 2638, 2700)]),
    (2700, 112, 20, 37, [(0, 112, 0, 92, 0, 92), (72, 112, 20, 92, 92, 164)],
     [(2520, 112, 20, 92, 2540, 2612), (2588, 112, 20, 112, 2608, 2700)]),
    (200, 224, 100, 1, [(0, 200, 0, 200, 0, 200)], [(0, 200, 0, 200, 0, 200)]),
])
def test_dense_chunk_layout_rows_tile_the_half_with_centre_crops(T, L, B, n, first, last):
    """DA-T9: the layout rows (start, valid, out_start, out_end, frame_start, frame_end)."""
    rows = dense_chunk_layout(T, L, B)
    assert len(rows) == n
    assert [tuple(r) for r in rows[:len(first)]] == first
    assert [tuple(r) for r in rows[-len(last):]] == last


def test_dense_border():
    assert dense_border(2, 224, 50) == 100 and dense_border(2, 224, 20) == 40
    assert dense_border(1, 112, 50) == 50 and dense_border(1, 112, 20) == 20


@settings(max_examples=40)
@given(st.integers(1, 2000), st.sampled_from([(224, 100), (224, 40), (112, 20), (64, 0)]))
def test_dense_merge_is_aligned(T, LB):
    L, B = LB
    rows = dense_chunk_layout(T, L, B)
    chunks = (rows[:, :1] + np.arange(L)[None, :]).astype(np.float64)[..., None]
    out = dense_merge(chunks, rows, T)[:, 0]
    np.testing.assert_array_equal(out, np.arange(T))


def test_decode_floors_positions_and_later_slots_overwrite_earlier_ones():
    """CALF-T6, and slot collisions (calf.md 10.2)."""
    t = torch.tensor([0, 1, 100, 239], dtype=torch.float64)
    sp = torch.zeros(1, 4, 2 + 2, dtype=torch.float64)
    sp[0, :, 0] = torch.tensor([0.1, 0.2, 0.3, 0.4])
    sp[0, :, 1] = t / 240
    sp[0, :, 2] = 1.0
    buf = calf_decode_clips(sp.float(), 240)
    assert torch.nonzero(buf[0, :, 0] >= 0).flatten().tolist() == [0, 99, 238]  # CALF-T6: 0, 0, 99, 238
    assert buf[0, 0, 0].item() == pytest.approx(0.2)  # slot 1 overwrites slot 0 on row 0 (calf.md 10.2)
    assert calf_decode_clips(sp.float(), 240, slot_collision="max")[0, 0, 0].item() == pytest.approx(0.2)
    cons = calf_decode_clips(sp.float(), 240, decode="consistent")
    assert torch.nonzero(cons[0, :, 0] >= 0).flatten().tolist() == [0, 1, 100, 239]
    sp[0, 1, 0] = 0.05  # lower confidence written later: "last" keeps it, "max" keeps 0.1
    assert calf_decode_clips(sp.float(), 240)[0, 0, 0].item() == pytest.approx(0.05)
    assert calf_decode_clips(sp.float(), 240, slot_collision="max")[0, 0, 0].item() == pytest.approx(0.1)
    sp[0, 2, 2:] = torch.tensor([0.5, 0.5])  # tie: first class
    assert calf_decode_clips(sp.float(), 240)[0, 99, 0].item() == pytest.approx(0.3)


def test_json_entries_in_the_sn_and_spotkern_styles():
    """CALF-T13."""
    sn = detection_entry(1, 1261, "Ball out of play", np.float32(0.734), style="sn")
    assert json.dumps(sn) == ('{"gameTime": "1 - 10:30", "label": "Ball out of play", "position": "630500", '
                              '"half": "1", "confidence": "0.734"}')
    d = detection_entry(1, 1261, "Ball out of play", np.float32(0.734))
    assert d == {"gameTime": "1 - 10:30", "label": "Ball out of play", "position": "630500", "half": "1",
                 "confidence": 0.734}
    assert detection_entry(2, 7, "Goal", 0.5, style="sn")["gameTime"] == "2 - 0:3"
    assert detection_entry(2, 7, "Goal", 0.5)["gameTime"] == "2 - 00:03"
    assert detection_entry(1, 3, "Goal", 0.5)["position"] == "1500"
    with pytest.raises(ValueError, match="style"):
        detection_entry(1, 3, "Goal", 0.5, style="osl")


def test_results_document_order_and_file(tmp_path):
    h1 = np.full((5, 2), -1.0, np.float32)
    h1[3, 1], h1[3, 0], h1[1, 1] = 0.5, 0.25, 0.75
    h2 = np.full((4, 2), -1.0, np.float32)
    h2[0, 0] = 0.0  # a zero score is a detection (>= 0)
    doc = results_document("g/", [h1, h2], ["a", "b"])
    got = [(p["half"], p["position"], p["label"], p["confidence"]) for p in doc["predictions"]]
    assert got == [("1", "500", "b", 0.75), ("1", "1500", "a", 0.25), ("1", "1500", "b", 0.5), ("2", "0", "a", 0.0)]
    path = write_results(str(tmp_path), "league/season/game", [h1, h2], ["a", "b"])
    assert path.endswith("league/season/game/results_spotting.json")
    expected = results_document("league/season/game/", [h1, h2], ["a", "b"])
    assert json.load(open(path)) == json.loads(json.dumps(expected))


@pytest.mark.parametrize("spotting,exc,word", [
    (np.zeros((1, 2, 4), np.float32), TypeError, "spotting must be a torch tensor"),
    (torch.zeros(1, 2, 4, dtype=torch.int64), TypeError, "spotting must be floating point"),
    (torch.zeros(2, 4), ValueError, "spotting must have shape"),
    (torch.zeros(1, 2, 2), ValueError, "spotting must have shape"),
    (torch.tensor([[[0.5, float("nan"), 1.0]]]), ValueError, "spotting positions"),
])
def test_calf_decode_bad_input(spotting, exc, word):
    """audit: a NaN position used to decode silently to an arbitrary row (floor(NaN) as an index)."""
    with pytest.raises(exc, match=f"^calf_decode_clips: {word}"):
        calf_decode_clips(spotting)


def test_results_style_is_checked_even_without_detections(tmp_path):
    """audit: with no detection at all an unknown style used to write results_spotting.json silently."""
    empty = [np.full((5, 2), -1.0, np.float32)]
    with pytest.raises(ValueError, match="^results_document: style"):
        results_document("g/", empty, ["a", "b"], style="osl")
    with pytest.raises(ValueError, match="^write_results: style"):
        write_results(str(tmp_path), "g", empty, ["a", "b"], style="osl")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("border", [-1, 120, 200])
def test_calf_stitch_rejects_borders_that_leave_gaps(border):
    """audit: border 200 with L = 240 used to write nothing for middle clips (every such frame -1)."""
    starts = calf_clip_starts(1000)
    with pytest.raises(ValueError, match="^calf_stitch: border"):
        calf_stitch(np.zeros((len(starts), 240, 1), np.float32), starts, 1000, border=border)


def test_calf_clip_starts_rejects_strides_that_skip_frames():
    """audit: stride 300 > L = 240 used to return clips 0, 300, ... leaving frames 240..299 in no clip."""
    with pytest.raises(ValueError, match="^calf_clip_starts: stride"):
        calf_clip_starts(1000, 240, 300)
    assert calf_clip_starts(1000, 240, 240).tolist() == [0, 240, 480, 720, 760]  # touching clips are fine
