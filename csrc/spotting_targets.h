// CALF YOLO-like spotting targets (spec calf.md section 4).
#pragma once

#include <cstdint>

namespace spotkern {

// Targets of one chunk.
//   tse: (L, C) time-major int32, the chunk's slice of its half's time-shift encoding; action cells
//        are the cells equal to 0. Rows [0, border) and [L - border, L) are treated as ignored
//        (as if set to -1, calf.md section 9.3 step 6) without being read.
//   out: (N, 2 + C) float32, must be zero on entry. The k-th action (t, c) in row-major order (time,
//        then class) fills slot k: out[k, 0] = 1, out[k, 1] = t / L, out[k, 2 + c] = 1.
// Returns the number of actions beyond the first N (dropped).
int64_t spotting_targets(const int32_t* tse, int64_t L, int64_t C, int64_t N, int64_t border, float* out);

}  // namespace spotkern
