// Shared kernels of csrc/common.h.
#include "common.h"

namespace spotkern {

namespace {

template <typename F>
inline bool all_finite_impl(const F* x, int64_t n) {
  uint32_t bad = 0;  // integer OR-reduction: the loop vectorises
  for (int64_t i = 0; i < n; ++i) bad |= non_finite_bit(x[i]);
  return bad == 0;
}

}  // namespace

SPOTKERN_VECTOR_CLONES
bool all_finite(const float* x, int64_t n) { return all_finite_impl(x, n); }

SPOTKERN_VECTOR_CLONES
bool all_finite(const double* x, int64_t n) { return all_finite_impl(x, n); }

}  // namespace spotkern
