"""Hypothesis strategies shared by the op tests (every backend draws from the same ones; sizes are
arguments, because the Triton interpreter is slow). Each includes the edges the project's rules name:
T = 1, empty inputs, ties and duplicates, events at frames 0 and T - 1."""
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

LABEL_DTYPES = ("bool", "uint8", "int32", "int64", "float32", "float64")  # what time_shift_encoding takes


def draw_K(draw, C, reach):
    """A random valid (4, C) int32 K (K1 < K2 < 0 < K3 < K4) with |K| <= reach, inside a composite."""
    K = np.zeros((4, C), dtype=np.int32)
    for c in range(C):
        k1 = draw(st.integers(-reach, -2))
        k2 = draw(st.integers(k1 + 1, -1))
        k3 = draw(st.integers(1, reach - 1))
        K[:, c] = (k1, k2, k3, draw(st.integers(k3 + 1, reach)))
    return K


def _events(draw, T, C, max_events, outside=False):
    """(frames, classes) int64 of up to ``max_events`` events, often at frames 0 and T - 1 (and just
    outside [0, T) when ``outside``), duplicates possible."""
    n = draw(st.integers(0, min(max_events, 3 * T)))
    edge = st.sampled_from([0, T - 1, -3, T + 2] if outside else [0, T - 1])
    frames = draw(st.lists(st.one_of(st.integers(0, T - 1), edge), min_size=n, max_size=n))
    classes = draw(st.lists(st.integers(0, C - 1), min_size=n, max_size=n))
    return np.array(frames, dtype=np.int64), np.array(classes, dtype=np.int64)


# --- time-shift encoding ------------------------------------------------------------------------------

@st.composite
def halves(draw, max_T=400, max_C=20, reach=60, max_events=40):
    """One half: (T, C, K, frames, classes), K a random valid table with |K| <= reach."""
    T = draw(st.integers(1, max_T))
    C = draw(st.integers(1, max_C))
    K = draw_K(draw, C, reach)
    return (T, C, K, *_events(draw, T, C, max_events))


def label_matrix(T, C, frames, classes, dtype="float32"):
    """(T, C) label matrix of ``dtype`` with a 1 at every (frame, class) event."""
    lab = np.zeros((T, C), dtype=np.float32)
    lab[frames, classes] = 1
    return lab.astype(dtype)


@st.composite
def half_batches(draw, max_halves=5, max_T=200, max_C=6, reach=60, max_events=40):
    """(K, [(T, C) label matrices]): halves of different lengths sharing C and K, one label dtype."""
    C = draw(st.integers(1, max_C))
    K = draw_K(draw, C, reach)
    dtype = draw(st.sampled_from(LABEL_DTYPES))
    labs = []
    for _ in range(draw(st.integers(1, max_halves))):
        T = draw(st.integers(1, max_T))
        labs.append(label_matrix(T, C, *_events(draw, T, C, max_events), dtype))
    return K, labs


# --- spotting targets ---------------------------------------------------------------------------------

@st.composite
def chunk_tses(draw, max_B=8, max_L=300, max_C=20):
    """(chunk_tse (B, L, C) int32, num_slots, border): values in -3..3 and 7, with actions (zeros) at a
    drawn density from none to every cell, including rows 0 and L - 1; border up to L // 2."""
    B = draw(st.integers(1, max_B))
    L = draw(st.integers(1, max_L))
    C = draw(st.integers(1, max_C))
    tse = draw(hnp.arrays(np.int32, (B, L, C), elements=st.integers(-3, 3)))
    density = draw(st.sampled_from([0.0, 0.01, 0.05, 0.2, 0.3, 1.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    actions = rng.random(tse.shape) < density
    if draw(st.booleans()):  # only the drawn cells that were 0 stay actions
        tse = np.where((tse == 0) & ~actions, np.int32(7), tse)
    else:  # every drawn cell is an action
        tse = np.where(actions, 0, np.where(tse == 0, 1, tse))
    return tse.astype(np.int32), draw(st.integers(1, 20)), draw(st.integers(0, L // 2))


# --- reciprocal matching ------------------------------------------------------------------------------

@st.composite
def matching_batches(draw, max_B=64, max_N=20, padded_at_zero=None):
    """(gt_positions (B, N) float32, presence (B, N) bool, pred_positions (B, N) float32). Positions from
    a few shared values (coinciding positions: similarity ties), a coarse grid, 0 and 1 (the edges of
    the sigmoid and t / L range), any float32 in [0, 1] or t / 240; real rows anywhere (CALF's targets
    put them first; the op does not rely on it), or none or all real; padded rows at 0 as CALF's
    targets have them (``padded_at_zero``, drawn when None)."""
    B = draw(st.integers(1, max_B))
    N = draw(st.integers(1, max_N))
    pool = draw(st.lists(st.floats(0, 1, width=32), min_size=1, max_size=4))
    grid = draw(st.sampled_from([4, 16, 1000]))
    value = st.one_of(st.sampled_from([0.0, 1.0] + pool), st.floats(0, 1, width=32),
                      st.integers(0, 239).map(lambda t: float(np.float32(t / 240))),
                      st.integers(0, grid).map(lambda k: k / grid))
    x = np.array(draw(st.lists(value, min_size=B * N, max_size=B * N)), np.float32).reshape(B, N)
    p = np.array(draw(st.lists(value, min_size=B * N, max_size=B * N)), np.float32).reshape(B, N)
    real = np.array(draw(st.lists(st.booleans(), min_size=B * N, max_size=B * N)), bool).reshape(B, N)
    rows = draw(st.sampled_from(["any", "first chunk all or none", "none", "all"]))
    if rows == "first chunk all or none":
        real[0] = draw(st.booleans())
    elif rows != "any":
        real[:] = rows == "all"
    if padded_at_zero if padded_at_zero is not None else draw(st.booleans()):
        x[~real] = 0
    return x, real, p


# --- dense-anchor targets -----------------------------------------------------------------------------

RADII_CONFIDENCE = [0, 0.4, 1, 2, 2.5, 3, 6]  # fractional radii round inward (dense_anchors.md 2.1)
RADII_DISPLACEMENT = [0.3, 0.5, 1, 2, 2.5, 3, 4, 6, 6.5, 12]


@st.composite
def event_batches(draw, batched, max_B=4, max_T=300, max_C=5, max_events=25):
    """(frames, classes, offsets, T, C, rc, rd): ``batched`` gives B chunks of T frames as a CSR event
    list (offsets (B + 1,) int64), else one half (offsets None). Events anywhere in [0, T), at 0 and
    T - 1, just outside the chunk, duplicated; frames and classes int32 or int64."""
    B = draw(st.integers(1, max_B)) if batched else 1
    T = draw(st.integers(1, max_T))
    C = draw(st.integers(1, max_C))
    edge = st.sampled_from([0, T - 1, -3, T + 2])
    frames, classes, counts = [], [], []
    for _ in range(B):
        n = draw(st.integers(0, max_events))
        f = draw(st.lists(st.one_of(st.integers(0, T - 1), st.integers(-5, T + 5), edge), min_size=n, max_size=n))
        c = draw(st.lists(st.integers(0, C - 1), min_size=n, max_size=n))
        f, c = f + f[:2], c + c[:2]  # duplicates collapse
        frames += f
        classes += c
        counts.append(len(f))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64) if batched else None
    dtype = draw(st.sampled_from([np.int32, np.int64]))
    rc = draw(st.sampled_from(RADII_CONFIDENCE))
    rd = draw(st.sampled_from(RADII_DISPLACEMENT))
    return np.array(frames, dtype), np.array(classes, dtype), offsets, T, C, rc, rd


# --- displacement scattering --------------------------------------------------------------------------

@st.composite
def displacement_maps(draw, max_B=3, max_T=150, max_C=40):
    """(confidence, displacement, rd): (T, C) or (B, T, C) float32, T may be 0. Confidences uniform (or on
    a few levels: ties where cells collide) or from a few special values (-0.0, negatives, 1e-30) plus
    noise; displacements uniform in rd units, exact half frames (the rounding rule decides), multiples
    of 1/8 up to 100, or far past both ends (clamped to the first/last frame)."""
    B = draw(st.integers(1, max_B)) if draw(st.booleans()) else None
    T = draw(st.integers(0, max_T))
    C = draw(st.integers(1, max_C))
    shape = ((B,) if B else ()) + (T, C)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    rd = draw(st.sampled_from([0.3, 1.0, 2.0, 2.5, 6.0, 12.0]))
    if draw(st.booleans()):
        conf = rng.random(shape).astype(np.float32)
        if draw(st.booleans()):
            conf = np.round(conf * 3) / 3
    else:
        conf = rng.choice(np.float32([0.0, -0.0, 0.25, 0.5, 0.75, 1.0, -0.5, 1e-30]), shape)
        conf = conf + (rng.random(shape) < 0.3) * rng.random(shape).astype(np.float32)
    kind = draw(st.sampled_from(["uniform", "halves", "eighths", "huge"]))
    if kind == "uniform":
        disp = rng.uniform(-1, 1, shape)
    elif kind == "halves":
        disp = rng.integers(-2 * T - 4, 2 * T + 4, shape) / 2 / rd
    elif kind == "eighths":
        disp = rng.integers(-16, 17, shape) / 8 * draw(st.sampled_from([1, 4, 100]))
    else:
        disp = rng.uniform(-1e6, 1e6, shape)
    return conf.astype(np.float32), disp.astype(np.float32), rd


# --- NMS ----------------------------------------------------------------------------------------------

NMS_METHODS = ("hard", "calf", "linear", "gaussian")
SCORE_LEVELS = [-0.5, 0.0, 0.1, 0.25, 0.3, 0.5, 0.75, 0.9, 1.0]  # few levels: ties and plateaus


@st.composite
def nms_problems(draw, methods=NMS_METHODS, max_B=3, max_T=120, max_C=3):
    """(method, scores, window): (T, C) or (B, T, C) float32 scores on a few levels (ties, plateaus, zeros
    that hard NMS emits, negatives), the same with noise below 1e-3, uniform, all negative, or ramps;
    T may be 0 for hard/calf; window one for all classes or one per class (int64 array), up to T + 5."""
    method = draw(st.sampled_from(methods))
    B = draw(st.integers(1, max_B)) if draw(st.booleans()) else None
    T = draw(st.integers(0 if method in ("hard", "calf") else 1, max_T))
    C = draw(st.integers(1, max_C))
    shape = ((B,) if B else ()) + (T, C)
    n = int(np.prod(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["levels", "noisy levels", "uniform", "negative", "ramp"]))
    if kind == "levels":
        s = np.array(draw(st.lists(st.sampled_from(SCORE_LEVELS), min_size=n, max_size=n)), dtype=np.float32)
    elif kind == "noisy levels":
        s = rng.choice(np.float32(SCORE_LEVELS), n) + rng.random(n) * 1e-3
    elif kind == "uniform":
        s = rng.random(n)
    elif kind == "negative":
        s = -rng.random(n) - 1e-3
    else:  # ramps and plateaus
        s = np.arange(n) % draw(st.integers(1, 40)) / 40.0
    lo = 2 if method == "calf" else 0
    if draw(st.booleans()):
        window = draw(st.integers(lo, T + 5))
    else:
        window = np.array(draw(st.lists(st.integers(lo, T + 5), min_size=C, max_size=C)), dtype=np.int64)
    return method, s.astype(np.float32).reshape(shape), window


# --- CALF segmentation loss ---------------------------------------------------------------------------

@st.composite
def loss_chunks(draw, max_B=3, max_L=50, max_C=6, p_min=1e-3):
    """(tse (B, L, C) int32 or int64, scores (B, L, C) float64 in [p_min, 1 - p_min], K (4, C) int32):
    K random (|K| <= 200) or the v2 table's columns; 30% of the cells on a zone boundary (K, K - 1, 0,
    -1), sometimes -1 border rows; with ``p_min = 0``, sometimes 30% of the scores saturated at 0 or 1."""
    from spotkern.data.soccernet_classes import K_V2_FRAMES

    B = draw(st.integers(1, max_B))
    L = draw(st.integers(1, max_L))
    C = draw(st.integers(1, max_C))
    if draw(st.booleans()):
        K = draw_K(draw, C, 200)
    else:
        K = np.ascontiguousarray(np.tile(K_V2_FRAMES, (1, -(-C // 17)))[:, :C])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tse = rng.integers(-260, 260, (B, L, C))
    edges = np.concatenate([K, K - 1, np.zeros((1, C), np.int32), -np.ones((1, C), np.int32)])
    on_edge = rng.random((B, L, C)) < 0.3
    tse = np.where(on_edge, edges[rng.integers(0, len(edges), (B, L, C)), np.arange(C)], tse)
    if draw(st.booleans()):
        tse[:, : min(L, 3)] = -1  # border rows (calf.md 5.4)
    p = p_min + (1 - 2 * p_min) * rng.random((B, L, C))
    if p_min == 0 and draw(st.booleans()):
        p = np.where(rng.random((B, L, C)) < 0.3, np.round(p), p)
    dtype = draw(st.sampled_from([np.int32, np.int64]))
    return tse.astype(dtype), p, K.astype(np.int32)
