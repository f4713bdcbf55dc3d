// Displacement scattering (spec dense_anchors.md section 7.1).
#pragma once

#include <cstdint>

#include "common.h"

namespace spotkern {

// One half, time-major (T, C): out = zeros; for every (t, c),
// u = clip(t + rint(rd * displacement[t, c]), 0, T - 1) (product in float64, round half to even),
// out[u, c] = max(out[u, c], confidence[t, c]). Returns 0, or 1 / 2 when confidence / displacement
// holds a NaN or an infinity (out is then meaningless, but every write stays in bounds).
// float32 or float64 values (the product rd * displacement is float64 either way).
int displace_scores(const float* confidence, const float* displacement, int64_t T, int64_t C, double rd, float* out);
int displace_scores(const double* confidence, const double* displacement, int64_t T, int64_t C, double rd, double* out);

}  // namespace spotkern
