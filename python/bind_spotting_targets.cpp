// pybind11 layer of the CALF spotting targets (csrc/spotting_targets.cpp).
#include <algorithm>

#include "bind.h"
#include "spotting_targets.h"

namespace spotkern_py {
namespace {

// chunk_tse (B, L, C) int32 -> (targets (B, N, 2 + C) float32, dropped (B,) int64). Chunks run in parallel.
py::tuple spotting_targets(const carray<int32_t>& chunk_tse, int64_t num_slots, int64_t border) {
  const char* fn = "spotting_targets";
  require(chunk_tse.ndim() == 3, fn, "chunk_tse must be 3-D (B, L, C)");
  const int64_t B = chunk_tse.shape(0), L = chunk_tse.shape(1), C = chunk_tse.shape(2);
  require(B > 0 && L > 0 && C > 0, fn, "chunk_tse must not be empty");
  require(num_slots >= 1, fn, "num_slots must be >= 1");
  require(border >= 0 && 2 * border <= L, fn, "border must lie in [0, L / 2]");
  const int64_t N = num_slots, W = 2 + C;
  py::array_t<float> targets({B, N, W});
  py::array_t<int64_t> dropped(B);
  const int32_t* tse = chunk_tse.data();
  float* out = targets.mutable_data();
  int64_t* drop = dropped.mutable_data();
  {
    py::gil_scoped_release nogil;
    std::fill(out, out + B * N * W, 0.0f);
#pragma omp parallel for schedule(static) if (B * L * C >= (1 << 20))
    for (int64_t b = 0; b < B; ++b)
      drop[b] = spotkern::spotting_targets(tse + b * L * C, L, C, N, border, out + b * N * W);
  }
  return py::make_tuple(targets, dropped);
}

}  // namespace

SPOTKERN_BIND(bind_spotting_targets) {
  m.def("spotting_targets", &spotting_targets, py::arg("chunk_tse").noconvert(), py::arg("num_slots"),
        py::arg("border"));
}

}  // namespace spotkern_py
