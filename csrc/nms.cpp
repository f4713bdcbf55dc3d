// Per-class 1-D NMS.
//
// Hard and CALF NMS (dense_anchors.md 7.3, calf.md 10.4) are the greedy "take the best frame
// (lowest frame on ties), suppress its window" loop, where a kept frame k suppresses
// [k - before, k + after]. Frame p can only be suppressed by a better frame whose window covers p,
// i.e. one in [p - after, p + before] (p's dominators). If p is the best live frame of that range it
// can be kept at once: live frames only disappear, so nothing can suppress it later, and two such
// frames never lie in each other's windows, so keeping them in either order suppresses the same
// frames. Every order of such local choices thus gives the same result, the spec's global order
// included (its frame is the best everywhere). A depth-first walk finds them: from a live frame, go
// to the best live frame of its dominator range until a frame is its own best, keep it, kill its
// window, come back. Suppressed frames are never scanned again, so a column costs about
// O(T + kept * W) with branch-free scans, and no sort.
//
// Soft NMS (7.4, 7.5): the spec loop takes the global argmax each time (O(T^2)). A selection only
// decays frames within `reach`, so two selections interact only when they are at most 2 * reach
// apart. Any frame that is the best (first-argmax rule) of the live frames within 2 * reach can
// therefore be selected at once: live values only shrink, so it stays the best there until chosen,
// and two such frames are more than 2 * reach apart, so choosing them in either order decays
// disjoint frames with identical float64 products. All orders of such local choices thus reach the
// same result (the spec's global order is one of them), and every frame receives its decays in the
// spec's order: the output is bit-identical. A depth-first walk (from a frame, go to the best frame
// of its 2 * reach window until it is its own best, select it, come back) finds local choices in
// O(T * reach) per column.
//
// Both walks start from every live frame in increasing order, and a walk ends only when its start is
// dead (kept, suppressed or emitted), and dead frames stay dead: every frame before the current start
// is dead, so the scans and the suppressions begin there, not at the window's left end.
#include "nms.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace spotkern {

namespace {

// First index of the maximum of v[lo..hi] (the spec's argmax tie rule); four running maxima break
// the compare chain, then a short search finds the first frame holding the maximum.
template <typename F>
inline int64_t first_argmax(const F* v, int64_t lo, int64_t hi) {
  const F dead = -std::numeric_limits<F>::infinity();
  F m0 = dead, m1 = dead, m2 = dead, m3 = dead;
  int64_t j = lo;
  for (; j + 3 <= hi; j += 4) {
    m0 = std::max(m0, v[j]);
    m1 = std::max(m1, v[j + 1]);
    m2 = std::max(m2, v[j + 2]);
    m3 = std::max(m3, v[j + 3]);
  }
  for (; j <= hi; ++j) m0 = std::max(m0, v[j]);
  const F m = std::max(std::max(m0, m1), std::max(m2, m3));
  for (j = lo; v[j] != m; ++j) {
  }
  return j;
}

// The live-score buffer of a column, in the scores' own type (float64 scores compare in float64).
template <typename F>
std::vector<F>& live_buffer(NmsWork& w);
template <>
std::vector<float>& live_buffer<float>(NmsWork& w) {
  return w.x;
}
template <>
std::vector<double>& live_buffer<double>(NmsWork& w) {
  return w.val;
}

template <typename F>
void greedy_window_column(const F* s, int64_t T, int64_t before, int64_t after, double thr, F* out, int64_t out_stride,
                          NmsWork& w) {
  const F dead = -std::numeric_limits<F>::infinity();
  std::vector<F>& live = live_buffer<F>(w);
  live.resize(T);
  F* v = live.data();  // live scores; kept, suppressed and below-threshold frames are dead
  for (int64_t t = 0; t < T; ++t) v[t] = static_cast<double>(s[t]) >= thr ? s[t] : dead;
  std::vector<int32_t>& stack = w.stack;
  stack.clear();
  for (int64_t start = 0; start < T; ++start) {
    if (v[start] == dead) continue;
    stack.push_back(static_cast<int32_t>(start));
    while (!stack.empty()) {
      const int64_t p = stack.back();
      if (v[p] == dead) {  // suppressed since it was pushed
        stack.pop_back();
        continue;
      }
      // p's dominators: the frames whose window covers p.
      const int64_t b = first_argmax(v, std::max<int64_t>(p - after, start), std::min<int64_t>(p + before, T - 1));
      if (b != p) {
        stack.push_back(static_cast<int32_t>(b));
        continue;
      }
      out[p * out_stride] = s[p];
      const int64_t lo = std::max<int64_t>(p - before, start), hi = std::min<int64_t>(p + after, T - 1);
      std::fill(v + lo, v + hi + 1, dead);
      stack.pop_back();
    }
  }
}

// weight has 2 * reach + 1 entries, weight[reach + d] = w(|d|).
template <typename F>
void soft_column(const F* s, int64_t T, int64_t reach, const double* weight, double thr, F* out, int64_t out_stride,
                 NmsWork& w) {
  const double dead = -std::numeric_limits<double>::infinity();
  w.val.resize(T);
  double* val = w.val.data();
  // A value below the threshold never comes back (decays only shrink it), so it is dead at once;
  // emitted frames (-1 in the spec) are dead too.
  for (int64_t t = 0; t < T; ++t) {
    const double v = static_cast<double>(s[t]);
    val[t] = v >= thr ? v : dead;
  }
  const int64_t span = 2 * reach;  // selections closer than this share a decayed frame
  std::vector<int32_t>& stack = w.stack;
  stack.clear();
  for (int64_t start = 0; start < T; ++start) {
    if (val[start] == dead) continue;
    stack.push_back(static_cast<int32_t>(start));
    while (!stack.empty()) {
      const int64_t p = stack.back();
      if (val[p] == dead) {  // emitted, or decayed below the threshold, since it was pushed
        stack.pop_back();
        continue;
      }
      const int64_t lo = std::max<int64_t>(p - span, start), hi = std::min<int64_t>(p + span, T - 1);
      const int64_t b = first_argmax(val, lo, hi);
      if (b != p) {  // a better frame nearby goes first
        stack.push_back(static_cast<int32_t>(b));
        continue;
      }
      out[p * out_stride] = static_cast<F>(val[p]);  // the current, already decayed value (7.4 step 1)
      const int64_t dlo = std::max<int64_t>(p - reach, start), dhi = std::min<int64_t>(p + reach, T - 1);
      const double* wp = weight + reach - p;
      for (int64_t j = dlo; j <= dhi; ++j) {
        const double v = val[j] * wp[j];  // dead (-inf) stays dead; a zero weight kills
        val[j] = v >= thr ? v : dead;
      }
      val[p] = dead;  // the spec's -1 (step 3)
      stack.pop_back();
    }
  }
}

// w[d] = weight at distance d (d = 0 .. reach), from soft_weights.
template <typename F>
void soft_with_weights(const F* s, int64_t T, const std::vector<double>& w, double thr, F* out, int64_t out_stride,
                       NmsWork& work) {
  const int64_t reach = static_cast<int64_t>(w.size()) - 1;
  work.weight.assign(2 * reach + 1, 1.0);
  for (int64_t d = 0; d <= reach; ++d) work.weight[reach + d] = work.weight[reach - d] = w[d];
  soft_column(s, T, reach, work.weight.data(), thr, out, out_stride, work);
}

}  // namespace

GreedyExtent greedy_extent(NmsMethod method, int64_t window, int64_t T) {
  if (method == NmsMethod::Hard) {  // symmetric, inclusive +-floor(W / 2) (7.3)
    // Any W >= 2T covers the column, so W is capped there: no overflow in i +- r.
    const int64_t r = std::min(window, 2 * T + 2) / 2;
    return {r, r};
  }
  // CALF: [i - ceil(W/2), i + floor(W/2)) (calf.md 10.4); W >= 2 checked by the caller. Any W >= 2T + 2
  // covers the whole column either way; clamping keeps (W + 1) / 2 from overflowing.
  const int64_t W = std::min(window, 2 * T + 2);
  return {(W + 1) / 2, W / 2 - 1};
}

std::vector<double> soft_weights(int64_t window, double sigma, const NmsParams& p, int64_t T) {
  std::vector<double> w;
  if (p.method == NmsMethod::Linear) {  // R = expansion * W / 2, w(d) = clip(m + (1 - m) d / R, 0, 1) (7.4)
    const double R = p.expansion * static_cast<double>(window) / 2;
    const int64_t reach = R > 0 ? static_cast<int64_t>(std::min(std::ceil(R), static_cast<double>(T))) : 0;
    w.assign(reach + 1, 1.0);
    for (int64_t d = 0; d <= reach && R > 0; ++d)
      w[d] = std::min(std::max(p.min_weight + (1.0 - p.min_weight) * static_cast<double>(d) / R, 0.0), 1.0);
  } else {  // w(d) = 1 - (1 - m) exp(-d^2 / (2 sigma^2)), |d| <= ceil(3 sigma) (7.5)
    const int64_t reach = sigma > 0 ? static_cast<int64_t>(std::min(std::ceil(3 * sigma), static_cast<double>(T))) : 0;
    w.assign(reach + 1, 1.0);
    // sigma = 0, or sigma^2 underflowing to 0: no neighbour decays.
    for (int64_t d = 0; d <= reach && 2.0 * sigma * sigma > 0; ++d)
      w[d] = 1.0 - (1.0 - p.min_weight) * std::exp(-static_cast<double>(d * d) / (2.0 * sigma * sigma));
  }
  // Distances whose weight is exactly 1 change nothing (x * 1 == x): the reach used is the last
  // distance with a weight below 1.
  while (w.size() > 1 && w.back() == 1.0) w.pop_back();
  return w;
}

template <typename F>
void nms_column(const F* scores, int64_t T, int64_t window, double sigma, const NmsParams& p, F* out,
                int64_t out_stride, NmsWork& work) {
  switch (p.method) {
    case NmsMethod::Hard:
    case NmsMethod::Calf: {
      const GreedyExtent e = greedy_extent(p.method, window, T);
      greedy_window_column(scores, T, e.before, e.after, p.threshold, out, out_stride, work);
      return;
    }
    case NmsMethod::Linear:
    case NmsMethod::Gaussian:
      soft_with_weights(scores, T, soft_weights(window, sigma, p, T), p.threshold, out, out_stride, work);
      return;
  }
}

template <typename F>
void nms_dense(const F* scores, int64_t B, int64_t T, int64_t C, const int64_t* windows, const double* sigmas,
               const NmsParams& p, F* out) {
  const int64_t n = B * T * C;
  std::fill(out, out + n, F(-1));
  // Columns are read from a contiguous copy: walking a class column of a time-major array touches
  // one cache line per frame, slower than the transpose. Results are written in place (few cells
  // for hard NMS).
  std::vector<F> cols(C == 1 ? 0 : n);
  const F* src = C == 1 ? scores : cols.data();
  if (C != 1)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < C; ++c) cols[(b * C + c) * T + t] = scores[(b * T + t) * C + c];
  // One half runs serially: below ~2^18 cells a parallel region costs more than it saves, and far
  // more on a busy machine.
  ParallelErrors errors;  // e.g. std::bad_alloc of a column's scratch: rethrown below, never std::terminate
#pragma omp parallel if (B * C > 1 && n >= (int64_t(1) << 18))
  {
    NmsWork work;
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < B * C; ++k) {
      const int64_t b = k / C, c = k % C;
      errors.run([&] { nms_column(src + k * T, T, windows[c], sigmas[c], p, out + b * T * C + c, C, work); });
    }
  }
  errors.rethrow();
}

namespace {

// Sparse columns are walked on one int64 axis, x = segment * stride + frame with stride > 3 T: frames of
// different segments lie more than 2 T + 2 apart, beyond every range the NMS looks at (at most
// 2 * reach <= 2 T, or a capped hard/CALF window <= T + 1), so no range crosses a segment. Ranges are
// found by walking outwards from a frame, fused with the work on them: every frame is the centre of
// at least one look, so a precomputed table of ranges would cost a pass per window and more memory
// traffic than the walks.

// First index of the maximum of v over the listed frames with x in [x[q] - below, x[q] + above] (the
// spec's argmax tie rule: the lowest frame), from index `first` on (the frames before it are dead).
template <typename V>
inline int64_t sparse_argmax(const V* v, const int64_t* x, int64_t n, int64_t first, int64_t q, int64_t below,
                             int64_t above) {
  int64_t b = q;
  V m = v[q];
  const int64_t lo = x[q] - below, hi = x[q] + above;
  for (int64_t j = q - 1; j >= first && x[j] >= lo; --j)
    if (v[j] >= m) {  // >=: among equal values the lower frame wins
      m = v[j];
      b = j;
    }
  for (int64_t j = q + 1; j < n && x[j] <= hi; ++j)
    if (v[j] > m) {
      m = v[j];
      b = j;
    }
  return b;
}

// greedy_window_column on the listed frames: a frame's dominators lie within [x - after, x + before];
// a kept frame suppresses [x - before, x + after].
template <typename F>
void greedy_sparse(const F* s, const int64_t* x, int64_t n, int64_t before, int64_t after, double thr, F* out,
                   NmsWork& w) {
  const F dead = -std::numeric_limits<F>::infinity();
  std::vector<F>& live = live_buffer<F>(w);
  live.resize(n);
  F* v = live.data();
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(s[i]) >= thr ? s[i] : dead;
  std::vector<int32_t>& stack = w.stack;
  stack.clear();
  for (int64_t start = 0; start < n; ++start) {
    if (v[start] == dead) continue;
    stack.push_back(static_cast<int32_t>(start));
    while (!stack.empty()) {
      const int64_t q = stack.back();
      if (v[q] == dead) {
        stack.pop_back();
        continue;
      }
      const int64_t b = sparse_argmax(v, x, n, start, q, after, before);
      if (b != q) {
        stack.push_back(static_cast<int32_t>(b));
        continue;
      }
      out[q] = s[q];
      const int64_t lo = x[q] - before, hi = x[q] + after;
      for (int64_t j = q; j >= start && x[j] >= lo; --j) v[j] = dead;
      for (int64_t j = q + 1; j < n && x[j] <= hi; ++j) v[j] = dead;
      stack.pop_back();
    }
  }
}

// soft_column on the listed frames: a selection looks at the frames within 2 * reach and decays
// those within reach by w[|distance|].
template <typename F>
void soft_sparse(const F* s, const int64_t* x, int64_t n, int64_t reach, const double* weight, double thr, F* out,
                 NmsWork& w) {
  const double dead = -std::numeric_limits<double>::infinity();
  w.val.resize(n);
  double* val = w.val.data();
  for (int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(s[i]);
    val[i] = v >= thr ? v : dead;
  }
  std::vector<int32_t>& stack = w.stack;
  stack.clear();
  for (int64_t start = 0; start < n; ++start) {
    if (val[start] == dead) continue;
    stack.push_back(static_cast<int32_t>(start));
    while (!stack.empty()) {
      const int64_t q = stack.back();
      if (val[q] == dead) {
        stack.pop_back();
        continue;
      }
      const int64_t b = sparse_argmax(val, x, n, start, q, 2 * reach, 2 * reach);
      if (b != q) {
        stack.push_back(static_cast<int32_t>(b));
        continue;
      }
      out[q] = static_cast<F>(val[q]);
      const int64_t xq = x[q];
      for (int64_t j = q - 1; j >= start && x[j] >= xq - reach; --j) {
        const double v = val[j] * weight[xq - x[j]];
        val[j] = v >= thr ? v : dead;
      }
      for (int64_t j = q + 1; j < n && x[j] <= xq + reach; ++j) {
        const double v = val[j] * weight[x[j] - xq];
        val[j] = v >= thr ? v : dead;
      }
      val[q] = dead;  // the spec's -1 (step 3); its own decay (soft_column's) is moot
      stack.pop_back();
    }
  }
}

}  // namespace

template <typename F>
void nms_sparse(const F* values, const int64_t* segments, const int64_t* frames, int64_t n, int64_t T,
                const int64_t* windows, const double* sigmas, int64_t nw, const NmsParams& p, F* out) {
  std::fill(out, out + nw * n, F(-1));
  const int64_t stride = 3 * T + 3;
  std::vector<int64_t> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = segments[i] * stride + frames[i];  // the caller bounds segments
  NmsWork work;
  for (int64_t k = 0; k < nw; ++k) {
    F* o = out + k * n;
    if (p.method == NmsMethod::Hard || p.method == NmsMethod::Calf) {
      const GreedyExtent e = greedy_extent(p.method, windows[k], T);
      greedy_sparse(values, x.data(), n, e.before, e.after, p.threshold, o, work);
    } else {
      const std::vector<double> weight = soft_weights(windows[k], sigmas[k], p, T);
      soft_sparse(values, x.data(), n, static_cast<int64_t>(weight.size()) - 1, weight.data(), p.threshold, o, work);
    }
  }
}

namespace {

// Sort key whose ascending unsigned order is the scores' descending order (-0.0 counts as +0.0).
inline uint32_t descending_key(float x) {
  const float v = x + 0.0f;
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // ascending float order
  return ~u;
}
inline uint64_t descending_key(double x) {
  const double v = x + 0.0;
  uint64_t u;
  std::memcpy(&u, &v, sizeof u);
  u = (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
  return ~u;
}

}  // namespace

template <typename F>
void detections_from_dense(const F* dense, int64_t n, std::vector<int64_t>& cells) {
  // Stable LSD radix sort of the kept cells (row-major order) on a key whose ascending order is the
  // scores' descending order; 11-bit digits (three for float32 keys, six for float64).
  using Key = decltype(descending_key(F(0)));
  constexpr int kBits = 8 * sizeof(Key);
  std::vector<Key> key;
  cells.clear();
  for (int64_t i = 0; i < n; ++i) {
    if (dense[i] > F(-1)) {
      key.push_back(descending_key(dense[i]));
      cells.push_back(i);
    }
  }
  const size_t m = cells.size();
  std::vector<Key> key2(m);
  std::vector<int64_t> cells2(m);
  for (int shift = 0; shift < kBits; shift += 11) {
    size_t count[2049] = {0};
    for (size_t i = 0; i < m; ++i) count[((key[i] >> shift) & 2047u) + 1]++;
    for (int b = 0; b < 2048; ++b) count[b + 1] += count[b];
    for (size_t i = 0; i < m; ++i) {
      const size_t dst = count[(key[i] >> shift) & 2047u]++;
      key2[dst] = key[i];
      cells2[dst] = cells[i];
    }
    key.swap(key2);
    cells.swap(cells2);
  }
}

#define SPOTKERN_NMS_INSTANTIATE(F)                                                                                \
  template void nms_column<F>(const F*, int64_t, int64_t, double, const NmsParams&, F*, int64_t, NmsWork&);        \
  template void nms_dense<F>(const F*, int64_t, int64_t, int64_t, const int64_t*, const double*, const NmsParams&, \
                             F*);                                                                                  \
  template void detections_from_dense<F>(const F*, int64_t, std::vector<int64_t>&);                                \
  template void nms_sparse<F>(const F*, const int64_t*, const int64_t*, int64_t, int64_t, const int64_t*,          \
                              const double*, int64_t, const NmsParams&, F*);
SPOTKERN_NMS_INSTANTIATE(float)
SPOTKERN_NMS_INSTANTIATE(double)
#undef SPOTKERN_NMS_INSTANTIATE

}  // namespace spotkern
