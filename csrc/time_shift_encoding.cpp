// CALF time-shift encoding (spec calf.md section 3), O(T * C) with one store per cell.
//
// Between two consecutive events e < e' of a class (virtual events included), s1 = t - e grows and
// s2 = t - e' grows with t, and every clause of the combination table that picks s1 stops holding
// once it fails (s1 < K3 and s2 <= K1 become false, the fade ratio of s1 grows while that of s2
// shrinks). So each gap is a run of s1 values followed by a run of s2 values: find the switch frame,
// then write two ramps.
#include "time_shift_encoding.h"

#include <algorithm>
#include <stdexcept>

namespace spotkern {

template <typename L>
ClassEvents events_from_matrix(const L* labels, int64_t T, int64_t C) {
  ClassEvents ev;
  std::vector<int64_t> counts(C, 0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) counts[c] += (labels[t * C + c] == L(1));
  ev.offsets.assign(C + 1, 0);
  for (int64_t c = 0; c < C; ++c) ev.offsets[c + 1] = ev.offsets[c] + counts[c];
  ev.frames.resize(ev.offsets[C]);
  std::vector<int64_t> pos(ev.offsets.begin(), ev.offsets.end() - 1);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c)
      if (labels[t * C + c] == L(1)) ev.frames[pos[c]++] = t;  // rows ascend: sorted, unique
  return ev;
}

template <typename I>
ClassEvents events_from_list(const I* frames, const I* classes, int64_t n, int64_t C) {
  ClassEvents ev;
  ev.offsets.assign(C + 1, 0);
  for (int64_t i = 0; i < n; ++i) ev.offsets[static_cast<int64_t>(classes[i]) + 1]++;
  for (int64_t c = 0; c < C; ++c) ev.offsets[c + 1] += ev.offsets[c];
  std::vector<int64_t> buf(n);
  std::vector<int64_t> pos(ev.offsets.begin(), ev.offsets.end() - 1);
  for (int64_t i = 0; i < n; ++i) buf[pos[static_cast<int64_t>(classes[i])]++] = frames[i];
  // Sort and deduplicate each class, compacting in place.
  ev.frames.reserve(n);
  std::vector<int64_t> new_offsets(C + 1, 0);
  for (int64_t c = 0; c < C; ++c) {
    auto b = buf.begin() + ev.offsets[c], e = buf.begin() + ev.offsets[c + 1];
    std::sort(b, e);
    e = std::unique(b, e);
    ev.frames.insert(ev.frames.end(), b, e);
    new_offsets[c + 1] = static_cast<int64_t>(ev.frames.size());
  }
  ev.offsets.swap(new_offsets);
  return ev;
}

namespace {

// Fill out[t, c] = t - a for t in [lo, hi) (strided by C).
inline void ramp(int32_t* out, int64_t C, int64_t lo, int64_t hi, int64_t a) {
  int32_t* p = out + lo * C;
  for (int64_t t = lo; t < hi; ++t, p += C) *p = static_cast<int32_t>(t - a);
}

}  // namespace

void time_shift_encoding(const ClassEvents& ev, const int32_t* K, int64_t T, int64_t C, int32_t* out) {
  for (int64_t c = 0; c < C; ++c) {
    const int64_t K1 = K[c], K2 = K[C + c], K3 = K[2 * C + c], K4 = K[3 * C + c];
    const int64_t* a = ev.frames.data() + ev.offsets[c];
    const int64_t n = ev.offsets[c + 1] - ev.offsets[c];
    int32_t* col = out + c;
    if (n == 0) {  // rule 1: no action in the half
      for (int64_t t = 0; t < T; ++t) col[t * C] = static_cast<int32_t>(K1);
      continue;
    }
    if (n == 1) {  // rule 2: a single action, no combination
      ramp(col, C, 0, T, a[0]);
      continue;
    }
    // Rule 3 with the virtual events -K4 and T - K1. Frames before a[0] use the gap (-K4, a[0]).
    const int64_t dk = K2 - K1, dk34 = K4 - K3;
    auto take_s1 = [&](int64_t s1, int64_t s2) {
      if (s1 < K3) return true;
      if (s1 >= K4) return false;
      if (s2 <= K1) return true;
      // (s1 - K3) / (K4 - K3) < (K2 - s2) / (K2 - K1), strict: a tie goes to the future action.
      return (s1 - K3) * dk < (K2 - s2) * dk34;
    };
    for (int64_t g = 0; g <= n; ++g) {
      const int64_t prev = g == 0 ? -K4 : a[g - 1];
      const int64_t next = g == n ? T - K1 : a[g];
      const int64_t lo = std::max<int64_t>(prev, 0), hi = std::min<int64_t>(next, T);
      if (lo >= hi) continue;
      int64_t sw = lo;
      while (sw < hi && take_s1(sw - prev, sw - next)) ++sw;
      ramp(col, C, lo, sw, prev);
      ramp(col, C, sw, hi, next);
    }
  }
}

template ClassEvents events_from_matrix<bool>(const bool*, int64_t, int64_t);
template ClassEvents events_from_matrix<uint8_t>(const uint8_t*, int64_t, int64_t);
template ClassEvents events_from_matrix<int32_t>(const int32_t*, int64_t, int64_t);
template ClassEvents events_from_matrix<int64_t>(const int64_t*, int64_t, int64_t);
template ClassEvents events_from_matrix<float>(const float*, int64_t, int64_t);
template ClassEvents events_from_matrix<double>(const double*, int64_t, int64_t);
template ClassEvents events_from_list<int32_t>(const int32_t*, const int32_t*, int64_t, int64_t);
template ClassEvents events_from_list<int64_t>(const int64_t*, const int64_t*, int64_t, int64_t);

}  // namespace spotkern
