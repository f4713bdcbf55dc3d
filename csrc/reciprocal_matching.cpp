// CALF iterative reciprocal matching (spec calf.md section 6) and an optimal alternative.
//
// Each chunk is solved on its own with explicit row/column masks, so a similarity of exactly 0 is
// never confused with "masked" (the reference's degenerate case, calf.md section 6) and the result
// is always a permutation.
#include "reciprocal_matching.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace spotkern {

void MatchingScratch::resize(int64_t N) {
  sim.resize(N * N);
  row_done.resize(N);
  col_taken.resize(N);
  proposal.resize(N);
  winner.resize(N);
  u.resize(N + 1);
  v.resize(N + 1);
  minv.resize(N + 1);
  match_col.resize(N + 1);
  way.resize(N + 1);
  used.resize(N + 1);
  real_rows.resize(N);
  rows.resize(N);
  cols.resize(N);
}

namespace {

// sim[i, j] = 1 - |x_i - p_j| in float32 (calf.md section 6, "Similarity"): every operation rounds
// to float32, as the reference's float32 tensors do.
void similarity(const float* x, const float* p, int64_t N, float* sim) {
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j) sim[i * N + j] = 1.0f - std::fabs(x[i] - p[j]);
}

// Proposal rounds for the rows i with real[i] == phase_real that are not matched yet, over the
// columns not taken yet (calf.md section 6, step 2). The unmatched rows and the free columns are kept
// as ascending index lists, so each round scans only what is left.
void proposal_rounds(const float* x, const uint8_t* real, bool phase_real, int64_t N, int64_t* perm,
                     MatchingScratch& s) {
  const float* sim = s.sim.data();
  int64_t* rows = s.rows.data();
  int64_t* cols = s.cols.data();
  int64_t n_rows = 0, n_cols = 0;
  for (int64_t i = 0; i < N; ++i)
    if (!s.row_done[i] && (real[i] != 0) == phase_real) rows[n_rows++] = i;
  for (int64_t j = 0; j < N; ++j)
    if (!s.col_taken[j]) cols[n_cols++] = j;
  if (n_rows == 0) return;

  // Rows with equal x have equal similarity rows. If every row of the phase shares one x (the padded
  // rows, all at 0, calf.md section 6 "Padded rows"), each round they all propose to the same column
  // (the best free one, lowest on ties) and the lowest row wins it; so the rows, in index order, take
  // the free columns sorted by (similarity descending, column ascending). Same result, one sort.
  bool same_x = true;
  for (int64_t k = 1; k < n_rows && same_x; ++k) same_x = x[rows[k]] == x[rows[0]];
  if (same_x) {
    const float* row = sim + rows[0] * N;
    // Insertion sort: N is small and the order must be exactly (sim desc, column asc).
    for (int64_t k = 1; k < n_cols; ++k) {
      const int64_t c = cols[k];
      int64_t m = k;
      while (m > 0 && row[cols[m - 1]] < row[c]) {
        cols[m] = cols[m - 1];
        --m;
      }
      cols[m] = c;
    }
    for (int64_t k = 0; k < n_rows; ++k) {
      perm[rows[k]] = cols[k];
      s.row_done[rows[k]] = 1;
      s.col_taken[cols[k]] = 1;
    }
    return;
  }

  while (n_rows > 0) {
    for (int64_t k = 0; k < n_cols; ++k) s.winner[cols[k]] = -1;
    // Every unmatched row proposes to its most similar free column; strict '>' over ascending
    // columns keeps the lowest column on ties. Rows are visited in ascending order and a column
    // replaces its candidate only for a strictly higher similarity, so it accepts its best proposer
    // with ties going to the lowest row.
    for (int64_t k = 0; k < n_rows; ++k) {
      const int64_t i = rows[k];
      const float* row = sim + i * N;
      int64_t best = cols[0];  // free columns >= unmatched rows >= 1
      float best_sim = row[best];
      for (int64_t m = 1; m < n_cols; ++m) {
        const int64_t j = cols[m];
        if (row[j] > best_sim) {
          best = j;
          best_sim = row[j];
        }
      }
      s.proposal[i] = best;
      const int64_t w = s.winner[best];
      if (w < 0 || best_sim > sim[w * N + best]) s.winner[best] = i;
    }
    // Accepted pairs are final (at least one per round, so at most N rounds); compact both lists.
    int64_t kept = 0;
    for (int64_t k = 0; k < n_rows; ++k) {
      const int64_t i = rows[k], j = s.proposal[i];
      if (s.winner[j] == i) {
        perm[i] = j;
        s.row_done[i] = 1;
        s.col_taken[j] = 1;
      } else {
        rows[kept++] = i;
      }
    }
    n_rows = kept;
    kept = 0;
    for (int64_t m = 0; m < n_cols; ++m)
      if (!s.col_taken[cols[m]]) cols[kept++] = cols[m];
    n_cols = kept;
  }
}

// Minimum-cost assignment of the n real rows to the N columns (n <= N), cost |x_i - p_j| in float64:
// the shortest-augmenting-path Hungarian method with potentials, O(n^2 N).
void optimal_real_rows(const float* x, const float* p, int64_t N, int64_t n, int64_t* perm, MatchingScratch& s) {
  const double inf = std::numeric_limits<double>::infinity();
  const int64_t* rows = s.real_rows.data();
  double* u = s.u.data();
  double* v = s.v.data();
  double* minv = s.minv.data();
  int64_t* owner = s.match_col.data();  // owner[j] = 1-based row holding column j (1-based), 0 if none
  int64_t* way = s.way.data();
  uint8_t* used = s.used.data();
  std::fill(u, u + N + 1, 0.0);
  std::fill(v, v + N + 1, 0.0);
  std::fill(owner, owner + N + 1, int64_t(0));
  for (int64_t i = 1; i <= n; ++i) {
    owner[0] = i;
    int64_t j0 = 0;
    std::fill(minv, minv + N + 1, inf);
    std::fill(used, used + N + 1, uint8_t(0));
    do {
      used[j0] = 1;
      const int64_t i0 = owner[j0];
      const double xi = static_cast<double>(x[rows[i0 - 1]]);
      double delta = inf;
      int64_t j1 = 0;
      for (int64_t j = 1; j <= N; ++j) {
        if (used[j]) continue;
        const double cur = std::fabs(xi - static_cast<double>(p[j - 1])) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int64_t j = 0; j <= N; ++j) {
        if (used[j]) {
          u[owner[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (owner[j0] != 0);
    do {
      const int64_t j1 = way[j0];
      owner[j0] = owner[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  for (int64_t j = 1; j <= N; ++j) {
    if (owner[j] == 0) continue;
    const int64_t i = rows[owner[j] - 1];
    perm[i] = j - 1;
    s.row_done[i] = 1;
    s.col_taken[j - 1] = 1;
  }
}

void reset_masks(int64_t N, MatchingScratch& s) {
  std::fill(s.row_done.begin(), s.row_done.begin() + N, uint8_t(0));
  std::fill(s.col_taken.begin(), s.col_taken.begin() + N, uint8_t(0));
}

}  // namespace

void reciprocal_matching_calf(const float* x, const uint8_t* real, const float* p, int64_t N, int64_t* perm,
                              MatchingScratch& s) {
  similarity(x, p, N, s.sim.data());
  reset_masks(N, s);
  proposal_rounds(x, real, true, N, perm, s);   // phase A: real rows
  proposal_rounds(x, real, false, N, perm, s);  // phase B: padded rows take the leftovers
}

void reciprocal_matching_optimal(const float* x, const uint8_t* real, const float* p, int64_t N, int64_t* perm,
                                 MatchingScratch& s) {
  reset_masks(N, s);
  int64_t n = 0;
  for (int64_t i = 0; i < N; ++i)
    if (real[i]) s.real_rows[n++] = i;
  if (n > 0) optimal_real_rows(x, p, N, n, perm, s);
  if (n < N) {  // padded rows as in CALF (phase B over the columns left free)
    similarity(x, p, N, s.sim.data());
    proposal_rounds(x, real, false, N, perm, s);
  }
}

template <typename P>
void reciprocal_matching_batch(const float* x, const P* presence, const float* p, int64_t B, int64_t N,
                               MatchingMethod method, int64_t* perm) {
  // One chunk costs ~1 us at N = 15; a parallel region only pays for large batches. Scratch is
  // allocated inside the region (one per thread); a failed allocation (std::bad_alloc) is trapped
  // and rethrown after the region instead of aborting the process.
  ParallelErrors errors;
#pragma omp parallel if (B * N * N >= 64 * 1024)
  {
    MatchingScratch s;
    std::vector<uint8_t> real;
    errors.run([&] {
      s.resize(N);
      real.resize(N);
    });
#pragma omp for schedule(static)
    for (int64_t b = 0; b < B; ++b) {
      errors.run([&] {
        for (int64_t i = 0; i < N; ++i) real[i] = presence[b * N + i] != P(0);
        if (method == MatchingMethod::calf)
          reciprocal_matching_calf(x + b * N, real.data(), p + b * N, N, perm + b * N, s);
        else
          reciprocal_matching_optimal(x + b * N, real.data(), p + b * N, N, perm + b * N, s);
      });
    }
  }
  errors.rethrow();
}

template void reciprocal_matching_batch<bool>(const float*, const bool*, const float*, int64_t, int64_t, MatchingMethod,
                                              int64_t*);
template void reciprocal_matching_batch<float>(const float*, const float*, const float*, int64_t, int64_t,
                                               MatchingMethod, int64_t*);

}  // namespace spotkern
