// Displacement scattering (dense_anchors.md 7.1): a scatter-max into zeros, one pass over the cells.
#include "displace_scores.h"

#include <algorithm>
#include <vector>

namespace spotkern {

namespace {

// Inlined into each vector clone of the overloads below (target_clones on a template is not portable).
template <typename F>
inline int displace_impl(const F* confidence, const F* displacement, int64_t T, int64_t C, double rd, F* out) {
  std::fill(out, out + T * C, F(0));
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
    bad_conf |= non_finite_bit(confidence[i]);
    bad_disp |= non_finite_bit(displacement[i]);
    double d = rd * static_cast<double>(displacement[i]);
    d = d == d ? d : 0.0;  // NaN (reported below) must not reach the index computation
    d = std::min(std::max(d, -lim), lim);
    sh[i] = static_cast<int32_t>((d + magic) - magic);
  }
  // Pass 2: the scatter-max, target frame clamped to the half.
  for (int64_t t = 0; t < T; ++t) {
    const F* conf = confidence + t * C;
    const int32_t* s = sh + t * C;
    for (int64_t c = 0; c < C; ++c) {
      int64_t u = t + s[c];
      u = u < 0 ? 0 : (u >= T ? T - 1 : u);
      F& o = out[u * C + c];
      o = conf[c] > o ? conf[c] : o;
    }
  }
  return bad_conf ? 1 : bad_disp ? 2 : 0;
}

}  // namespace

SPOTKERN_VECTOR_CLONES
int displace_scores(const float* confidence, const float* displacement, int64_t T, int64_t C, double rd, float* out) {
  return displace_impl(confidence, displacement, T, C, rd, out);
}

SPOTKERN_VECTOR_CLONES
int displace_scores(const double* confidence, const double* displacement, int64_t T, int64_t C, double rd,
                    double* out) {
  return displace_impl(confidence, displacement, T, C, rd, out);
}

}  // namespace spotkern
