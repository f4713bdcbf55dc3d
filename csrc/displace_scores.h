// Displacement scattering (spec dense_anchors.md section 7.1).
#pragma once

#include <cstdint>

// Compiles a function's loops for AVX2 too, picked at run time, where the toolchain supports it
// (x86-64 GCC/Clang on ELF); elsewhere the baseline build alone is used.
#if defined(__x86_64__) && defined(__ELF__) && (defined(__GNUC__) || defined(__clang__)) && !defined(SPOTKERN_NO_CLONES)
#define SPOTKERN_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SPOTKERN_VECTOR_CLONES
#endif

namespace spotkern {

// True iff no element of x (n floats) is NaN or infinite.
bool all_finite(const float* x, int64_t n);

// One half, time-major (T, C): out = zeros; for every (t, c),
// u = clip(t + rint(rd * displacement[t, c]), 0, T - 1) (product in float64, round half to even),
// out[u, c] = max(out[u, c], confidence[t, c]). Returns 0, or 1 / 2 when confidence / displacement
// holds a NaN or an infinity (out is then meaningless, but every write stays in bounds).
int displace_scores(const float* confidence, const float* displacement, int64_t T, int64_t C, double rd, float* out);

}  // namespace spotkern
