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
  // rint without libm: adding and subtracting 1.5 * 2^52 rounds to an integer, half to even, for
  // |d| < 2^51 (round-to-nearest mode). Clamping d to [-t, T - 1 - t] first (integers, and rint is
  // monotone) equals clamping the target frame afterwards, and keeps the rounding trick in range.
  const double magic = 6755399441055744.0;
  std::vector<int32_t> target(C);
  int32_t* u = target.data();
  uint32_t bad_conf = 0, bad_disp = 0;  // non-finite inputs, found in the same pass
  for (int64_t t = 0; t < T; ++t) {
    const float* disp = displacement + t * C;
    const float* conf = confidence + t * C;
    const double lo = -static_cast<double>(t), hi = static_cast<double>(T - 1 - t);
    for (int64_t c = 0; c < C; ++c) {  // vectorised: check, scale, clamp, round
      uint32_t bc, bd;
      std::memcpy(&bc, conf + c, sizeof bc);
      std::memcpy(&bd, disp + c, sizeof bd);
      bad_conf |= static_cast<uint32_t>((bc & 0x7f800000u) == 0x7f800000u);
      bad_disp |= static_cast<uint32_t>((bd & 0x7f800000u) == 0x7f800000u);
      double d = rd * static_cast<double>(disp[c]);
      d = d == d ? d : 0.0;  // NaN (reported below) must not reach the index computation
      d = std::min(std::max(d, lo), hi);
      u[c] = static_cast<int32_t>((d + magic) - magic);
    }
    for (int64_t c = 0; c < C; ++c) {  // the scatter-max itself
      float& o = out[(t + u[c]) * C + c];
      o = conf[c] > o ? conf[c] : o;
    }
  }
  return bad_conf ? 1 : bad_disp ? 2 : 0;
}

}  // namespace spotkern
