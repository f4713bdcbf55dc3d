// Displacement scattering (dense_anchors.md 7.1): a scatter-max into zeros, one pass over the cells.
#include "displace_scores.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace spotkern {

SPOTKERN_VECTOR_CLONES
bool all_finite(const float* x, int64_t n) {
  // Exponent all ones <=> NaN or infinity; integer OR-reduction so the loop vectorises.
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, sizeof u);
    bad |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
  }
  return bad == 0;
}

SPOTKERN_VECTOR_CLONES
int displace_scores(const float* confidence, const float* displacement, int64_t T, int64_t C, double rd, float* out) {
  std::fill(out, out + T * C, 0.0f);
  const int64_t n = T * C;
  // Pass 1, flat and fully vectorised: check finiteness and round rd * d half to even, without libm:
  // adding and subtracting 1.5 * 2^52 rounds to an integer for |x| < 2^51 (round-to-nearest mode).
  // The product is first clamped to [-T, T] (integers; rint is monotone), which keeps the trick in
  // range and does not change the clamped frame computed in pass 2.
  const double magic = 6755399441055744.0, lim = static_cast<double>(T);
  std::vector<int32_t> shift(n);
  int32_t* sh = shift.data();
  uint32_t bad_conf = 0, bad_disp = 0;  // non-finite inputs, found in the same pass
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bc, bd;
    std::memcpy(&bc, confidence + i, sizeof bc);
    std::memcpy(&bd, displacement + i, sizeof bd);
    bad_conf |= static_cast<uint32_t>((bc & 0x7f800000u) == 0x7f800000u);
    bad_disp |= static_cast<uint32_t>((bd & 0x7f800000u) == 0x7f800000u);
    double d = rd * static_cast<double>(displacement[i]);
    d = d == d ? d : 0.0;  // NaN (reported below) must not reach the index computation
    d = std::min(std::max(d, -lim), lim);
    sh[i] = static_cast<int32_t>((d + magic) - magic);
  }
  // Pass 2: the scatter-max, target frame clamped to the half.
  for (int64_t t = 0; t < T; ++t) {
    const float* conf = confidence + t * C;
    const int32_t* s = sh + t * C;
    for (int64_t c = 0; c < C; ++c) {
      int64_t u = t + s[c];
      u = u < 0 ? 0 : (u >= T ? T - 1 : u);
      float& o = out[u * C + c];
      o = conf[c] > o ? conf[c] : o;
    }
  }
  return bad_conf ? 1 : bad_disp ? 2 : 0;
}

}  // namespace spotkern
