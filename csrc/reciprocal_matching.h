// CALF iterative reciprocal matching (spec calf.md section 6) and an optimal alternative.
#pragma once

#include <cstdint>
#include <vector>

#include "common.h"

namespace spotkern {

// Scratch space reused across the chunks one thread processes (no allocation per chunk).
struct MatchingScratch {
  std::vector<float> sim;          // (N, N) similarity 1 - |x - p| in float32
  std::vector<uint8_t> row_done;   // (N)
  std::vector<uint8_t> col_taken;  // (N)
  std::vector<int64_t> proposal;   // (N) column a row proposes to in the current round, -1 if none
  std::vector<int64_t> winner;     // (N) row a column accepts in the current round, -1 if none
  std::vector<double> u, v, minv;  // Hungarian potentials and slack (N + 1)
  std::vector<int64_t> match_col, way;
  std::vector<uint8_t> used;
  std::vector<int64_t> real_rows;
  std::vector<int64_t> rows, cols;  // unmatched rows / free columns of the current phase
  void resize(int64_t N);
};

// CALF matching of one chunk.
//   x: (N) GT positions; real: (N) presence (nonzero = real row); p: (N) predicted positions.
//   perm: (N) output, perm[i] = prediction slot matched to GT slot i (a permutation of 0..N-1).
// Phase A matches the real rows, phase B the padded rows to the columns left over; each phase runs
// proposal rounds until all its rows are matched (ties: lowest column for proposals, lowest row for
// acceptance).
void reciprocal_matching_calf(const float* x, const uint8_t* real, const float* p, int64_t N, int64_t* perm,
                              MatchingScratch& s);

// Optimal matching of one chunk: the real rows take the assignment of minimum total |x - p| (computed
// in float64); the padded rows then take the leftover columns with CALF's phase B.
void reciprocal_matching_optimal(const float* x, const uint8_t* real, const float* p, int64_t N, int64_t* perm,
                                 MatchingScratch& s);

enum class MatchingMethod : int { calf = 0, optimal = 1 };

// Largest slot count N: the matching costs O(N^3) time and O(N^2) memory per chunk (N = 1024 takes
// about a second per chunk; CALF uses N = 5 or 15).
constexpr int64_t kMaxMatchingSlots = 1024;

// A batch of B chunks: x, p (B, N) float32, presence (B, N) bool or float32 (nonzero = real row),
// perm (B, N) int64. Chunks are independent; OpenMP splits them across threads when B is large.
template <typename P>
void reciprocal_matching_batch(const float* x, const P* presence, const float* p, int64_t B, int64_t N,
                               MatchingMethod method, int64_t* perm);

}  // namespace spotkern
