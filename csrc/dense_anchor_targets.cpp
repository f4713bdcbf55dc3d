// Dense-anchor targets (dense_anchors.md 2.1-2.3) in O(T * C + E log E): every output cell is
// written once for the displacement (each frame is given to its nearest action directly) instead of
// the reference's per-action overwrite loop.
#include "dense_anchor_targets.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace spotkern {

namespace {

// Spec 2.1: ceil(a - r) .. floor(a + r), inclusive, clipped to [0, T - 1]; lo > hi means empty.
// The bounds are clipped in double before the conversion: a radius or frame beyond the int64 range
// must not wrap around (an out-of-range double -> int64 conversion is undefined behaviour).
inline void frame_range(int64_t a, double r, int64_t T, int64_t& lo, int64_t& hi) {
  const double l = std::ceil(static_cast<double>(a) - r), h = std::floor(static_cast<double>(a) + r);
  lo = l <= 0.0 ? 0 : (l >= static_cast<double>(T) ? T : static_cast<int64_t>(l));
  hi = h >= static_cast<double>(T - 1) ? T - 1 : (h <= -1.0 ? -1 : static_cast<int64_t>(h));
}

constexpr int64_t kMinFrame = std::numeric_limits<int64_t>::min();

// floor((x + y) / 2) without overflow for any int64 x, y (>> is a floor division by 2).
inline int64_t floor_mid(int64_t x, int64_t y) { return (x >> 1) + (y >> 1) + (x & y & 1); }

}  // namespace

template <typename I>
void dense_anchor_targets(const I* frames, const I* classes, int64_t n, int64_t T, int64_t C, double rc, double rd,
                          float* confidence, float* displacement, bool* support) {
  std::fill(confidence, confidence + T * C, 0.0f);
  std::fill(displacement, displacement + T * C, kDisplacementSentinel);
  std::fill(support, support + T * C, false);
  // Bucket the events per class (CSR), then sort and deduplicate each class.
  std::vector<int64_t> offsets(C + 1, 0), buf(n);
  for (int64_t i = 0; i < n; ++i) offsets[static_cast<int64_t>(classes[i]) + 1]++;
  for (int64_t c = 0; c < C; ++c) offsets[c + 1] += offsets[c];
  std::vector<int64_t> pos(offsets.begin(), offsets.end() - 1);
  for (int64_t i = 0; i < n; ++i) buf[pos[static_cast<int64_t>(classes[i])]++] = static_cast<int64_t>(frames[i]);
  for (int64_t c = 0; c < C; ++c) {
    int64_t* a = buf.data() + offsets[c];
    std::sort(a, buf.data() + offsets[c + 1]);
    const int64_t m = std::unique(a, buf.data() + offsets[c + 1]) - a;
    float* conf = confidence + c;
    float* disp = displacement + c;
    bool* sup = support + c;
    for (int64_t k = 0; k < m; ++k) {
      int64_t lo, hi;
      frame_range(a[k], rc, T, lo, hi);
      for (int64_t t = lo; t <= hi; ++t) conf[t * C] = 1.0f;
      // Frames nearest to a[k]: after the midpoint with the previous action (a tie at the midpoint
      // went to the previous, earlier action) up to the midpoint with the next one (included).
      frame_range(a[k], rd, T, lo, hi);
      if (k > 0) lo = std::max(lo, floor_mid(a[k - 1], a[k]) + 1);  // a[k-1] < a[k]: no overflow
      if (k + 1 < m) hi = std::min(hi, floor_mid(a[k], a[k + 1]));
      for (int64_t t = lo; t <= hi; ++t) {
        // t >= 0, so a - t overflows only for a within t of INT64_MIN (reachable with a huge rd).
        const double diff =
            a[k] >= kMinFrame + t ? static_cast<double>(a[k] - t) : static_cast<double>(a[k]) - static_cast<double>(t);
        disp[t * C] = static_cast<float>(diff / rd);
        sup[t * C] = true;
      }
    }
  }
}

template void dense_anchor_targets<int32_t>(const int32_t*, const int32_t*, int64_t, int64_t, int64_t, double, double,
                                            float*, float*, bool*);
template void dense_anchor_targets<int64_t>(const int64_t*, const int64_t*, int64_t, int64_t, int64_t, double, double,
                                            float*, float*, bool*);

}  // namespace spotkern
