// CALF time-shift encoding (spec calf.md section 3).
#pragma once

#include <cstdint>
#include <vector>

#include "common.h"

namespace spotkern {

// Per-class sorted, unique action frames of one half, in CSR form:
// frames[offsets[c] .. offsets[c + 1]) are the actions of class c.
struct ClassEvents {
  std::vector<int64_t> offsets;  // (C + 1)
  std::vector<int64_t> frames;   // (n_events)
};

// Build ClassEvents from a time-major (T, C) label matrix: a cell is an action iff it equals 1.
template <typename L>
ClassEvents events_from_matrix(const L* labels, int64_t T, int64_t C);

// Build ClassEvents from an event list; duplicates collapse. Frames must lie in [0, T), classes in [0, C).
template <typename I>
ClassEvents events_from_list(const I* frames, const I* classes, int64_t n, int64_t C);

// Encode one half: out is (T, C) time-major int32. K is (4, C) int32, rows K1, K2, K3, K4 in frames,
// with K1 < K2 < 0 < K3 < K4 for every class (validated by the caller).
void time_shift_encoding(const ClassEvents& ev, const int32_t* K, int64_t T, int64_t C, int32_t* out);

}  // namespace spotkern
