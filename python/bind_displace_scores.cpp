// pybind11 layer of the displacement scattering (csrc/displace_scores.cpp).
#include "bind.h"
#include "displace_scores.h"

namespace spotkern_py {
namespace {

// confidence, displacement (T, C) or (B, T, C), both float32 or both float64 -> the same shape and dtype.
template <typename F>
py::array_t<F> displace_scores(const carray<F>& confidence, const carray<F>& displacement, double rd) {
  const char* fn = "displace_scores";
  require(confidence.ndim() == 2 || confidence.ndim() == 3, fn, "confidence must be (T, C) or (B, T, C)");
  require(displacement.ndim() == confidence.ndim(), fn, "displacement must have the shape of confidence");
  for (py::ssize_t k = 0; k < confidence.ndim(); ++k)
    require(displacement.shape(k) == confidence.shape(k), fn, "displacement must have the shape of confidence");
  require(rd > 0, fn, "radius_displacement must be > 0");
  const bool batched = confidence.ndim() == 3;
  const int64_t B = batched ? confidence.shape(0) : 1;
  const int64_t T = confidence.shape(batched ? 1 : 0), C = confidence.shape(batched ? 2 : 1);
  require(T < (int64_t(1) << 31), fn, "more than 2^31 - 1 frames are not supported");
  const F* conf = confidence.data();
  const F* disp = displacement.data();
  py::array_t<F> out(std::vector<py::ssize_t>(confidence.shape(), confidence.shape() + confidence.ndim()));
  F* o = out.mutable_data();
  int bad = 0;
  {
    py::gil_scoped_release nogil;
    spotkern::ParallelErrors errors;  // std::bad_alloc of a half's scratch: rethrown, never std::terminate
#pragma omp parallel for schedule(static) reduction(| : bad) if (B > 1 && B * T * C >= (int64_t(1) << 18))
    for (int64_t b = 0; b < B; ++b)
      errors.run(
          [&] { bad |= spotkern::displace_scores(conf + b * T * C, disp + b * T * C, T, C, rd, o + b * T * C); });
    errors.rethrow();
  }
  require(!(bad & 1), fn, "confidence contains NaN or infinite values");
  require(!(bad & 2), fn, "displacement contains NaN or infinite values");
  return out;
}

}  // namespace

SPOTKERN_BIND(bind_displace_scores) {
  m.def("displace_scores", &displace_scores<float>, py::arg("confidence").noconvert(),
        py::arg("displacement").noconvert(), py::arg("radius_displacement"));
  m.def("displace_scores", &displace_scores<double>, py::arg("confidence").noconvert(),
        py::arg("displacement").noconvert(), py::arg("radius_displacement"));
}

}  // namespace spotkern_py
