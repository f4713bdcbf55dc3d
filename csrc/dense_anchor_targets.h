// Dense-anchor targets (spec dense_anchors.md sections 2.1-2.3).
#pragma once

#include <cstdint>

#include "common.h"

namespace spotkern {

constexpr float kDisplacementSentinel = 10.0f;  // VERY_LARGE_DELTA, dense_anchors.md 2.3

// Targets of one half or chunk from an event list. frames (n) are frame indices relative to the
// chunk start and may lie outside [0, T) (their ranges are clipped, as slicing a half's targets
// would give); classes (n) lie in [0, C). Outputs are time-major (T, C):
//   confidence 0/1 (range ceil(a - rc) .. floor(a + rc) of every action, 2.2),
//   displacement (a - t) / rd of the nearest action of the class within rd, ties to the earlier
//   action, else 10.0 (2.3), support = displacement != 10.0.
template <typename I>
void dense_anchor_targets(const I* frames, const I* classes, int64_t n, int64_t T, int64_t C, double rc, double rd,
                          float* confidence, float* displacement, bool* support);

}  // namespace spotkern
