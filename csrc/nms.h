// Per-class 1-D non-maximum suppression: dense_anchors.md 7.3 (hard), 7.4 (linear soft-NMS),
// 7.5 (Gaussian soft-NMS) and calf.md 10.4 (CALF's half-open window).
#pragma once

#include <cstdint>
#include <vector>

#include "common.h"

namespace spotkern {

enum class NmsMethod : int { Hard = 0, Calf = 1, Linear = 2, Gaussian = 3 };

struct NmsParams {
  NmsMethod method = NmsMethod::Hard;
  double threshold = 0.0;   // emit while the best remaining score >= threshold
  double min_weight = 0.0;  // m of the soft decays
  double expansion = 2.0;   // linear soft-NMS: R = expansion * W / 2
};

// Scratch buffers of one column, reused across columns by one thread.
struct NmsWork {
  std::vector<float> x;
  std::vector<int32_t> stack;
  std::vector<double> val, weight;
};

// Suppress one contiguous class column of T scores. out (T frames, `out_stride` floats apart) must
// hold -1 (filled by the caller) and gets the kept/emitted scores written in. window: W in frames
// (W >= 2 for calf); sigma: Gaussian sigma in frames (ignored by the other methods). Scores must be
// finite.
// F is float or double (scores and out share it; soft decays are float64 either way).
template <typename F>
void nms_column(const F* scores, int64_t T, int64_t window, double sigma, const NmsParams& p, F* out,
                int64_t out_stride, NmsWork& work);

// Hard/CALF NMS: a kept frame k suppresses [k - before, k + after] of a column of T frames.
struct GreedyExtent {
  int64_t before, after;
};
GreedyExtent greedy_extent(NmsMethod method, int64_t window, int64_t T);

// Soft NMS (Linear or Gaussian): w[d] = the decay weight at distance d = 0 .. reach, where reach is the
// last distance with a weight below 1 (w = {1} when nothing decays), for a column of T frames.
std::vector<double> soft_weights(int64_t window, double sigma, const NmsParams& p, int64_t T);

// All columns of scores (B, T, C) (time-major, B = 1 for one half) into out (same shape): class c
// uses windows[c] and sigmas[c]. Runs the columns in parallel with OpenMP.
template <typename F>
void nms_dense(const F* scores, int64_t B, int64_t T, int64_t C, const int64_t* windows, const double* sigmas,
               const NmsParams& p, F* out);

// NMS of sparse columns, for searches that run many windows on the few frames above a threshold.
// n frames listed in increasing (segment, frame) order, no pair twice: frames[i] in [0, T) of column
// segments[i], with score values[i] (finite). A frame not listed is taken to be below p.threshold.
// For each of the nw windows (windows[k], sigmas[k] as in nms_column), row k of out (nw, n) gets, at
// each listed frame, what nms_column writes there for the segment's dense column of T frames (the
// unlisted frames set below the threshold): the same values, bit for bit, and -1 where nothing is
// kept. The scans cover only the listed frames within reach, not every frame of the window.
template <typename F>
void nms_sparse(const F* values, const int64_t* segments, const int64_t* frames, int64_t n, int64_t T,
                const int64_t* windows, const double* sigmas, int64_t nw, const NmsParams& p, F* out);

// Sparse detections of a dense NMS output (n cells, time-major, last axis C, second-to-last T):
// the cells > -1, sorted by score descending, ties in row-major scan order. Fills flat cell indices.
template <typename F>
void detections_from_dense(const F* dense, int64_t n, std::vector<int64_t>& cells);

}  // namespace spotkern
