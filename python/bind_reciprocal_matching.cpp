// pybind11 layer of the CALF reciprocal matching (csrc/reciprocal_matching.cpp).
#include "bind.h"
#include "reciprocal_matching.h"

namespace spotkern_py {
namespace {

bool all_binary(const bool*, int64_t) { return true; }
bool all_binary(const float* a, int64_t n) {
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) ok &= (a[i] == 0.0f) | (a[i] == 1.0f);
  return ok;
}

// x, p (B, N) float32, presence (B, N) bool or float32 -> perm (B, N) int64.
// The value checks (finite positions, 0/1 presence) live here rather than in Python: they are the
// op's only data-dependent checks, they cost a few ns here against ~10 us per torch reduction, and
// they also run inside torch.compile'd graphs, where the Python checks are skipped.
template <typename P>
py::array_t<int64_t> reciprocal_matching(const carray<float>& gt_positions, const carray<P>& gt_presence,
                                         const carray<float>& pred_positions, int method) {
  const char* fn = "reciprocal_matching";
  require(gt_positions.ndim() == 2, fn, "gt_positions must be 2-D (B, N)");
  const int64_t B = gt_positions.shape(0), N = gt_positions.shape(1);
  require(B > 0 && N > 0, fn, "gt_positions must not be empty");
  require(gt_presence.ndim() == 2 && gt_presence.shape(0) == B && gt_presence.shape(1) == N, fn,
          "gt_presence must have the shape of gt_positions");
  require(pred_positions.ndim() == 2 && pred_positions.shape(0) == B && pred_positions.shape(1) == N, fn,
          "pred_positions must have the shape of gt_positions");
  require(N <= spotkern::kMaxMatchingSlots, fn,
          "N must be <= " + std::to_string(spotkern::kMaxMatchingSlots) +
              " slots (the matching costs O(N^3) per chunk), got " + std::to_string(N));
  const auto m = method_code<spotkern::MatchingMethod>(fn, method, 2);
  require(spotkern::all_finite(gt_positions.data(), B * N), fn, "gt_positions contains NaN or infinite values");
  require(spotkern::all_finite(pred_positions.data(), B * N), fn, "pred_positions contains NaN or infinite values");
  require(all_binary(gt_presence.data(), B * N), fn, "gt_presence must hold only 0 and 1");
  py::array_t<int64_t> perm({B, N});
  const float* x = gt_positions.data();
  const P* a = gt_presence.data();
  const float* p = pred_positions.data();
  int64_t* out = perm.mutable_data();
  {
    py::gil_scoped_release nogil;
    spotkern::reciprocal_matching_batch(x, a, p, B, N, m, out);
  }
  return perm;
}

}  // namespace

SPOTKERN_BIND(bind_reciprocal_matching) {
  m.def("reciprocal_matching", &reciprocal_matching<bool>, py::arg("gt_positions").noconvert(),
        py::arg("gt_presence").noconvert(), py::arg("pred_positions").noconvert(), py::arg("method"));
  m.def("reciprocal_matching", &reciprocal_matching<float>, py::arg("gt_positions").noconvert(),
        py::arg("gt_presence").noconvert(), py::arg("pred_positions").noconvert(), py::arg("method"));
}

}  // namespace spotkern_py
