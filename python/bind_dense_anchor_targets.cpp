// pybind11 layer of the dense-anchor targets (csrc/dense_anchor_targets.cpp).
#include "bind.h"
#include "dense_anchor_targets.h"

namespace spotkern_py {
namespace {

template <typename I>
py::tuple targets(const carray<I>& frames, const carray<I>& classes, const carray<int64_t>& offsets, bool chunked,
                  int64_t T, int64_t C, double rc, double rd) {
  const char* fn = "dense_anchor_targets";
  require(frames.ndim() == 1 && classes.ndim() == 1 && frames.shape(0) == classes.shape(0), fn,
          "frames and classes must be 1-D of equal length");
  require(T > 0 && C > 0, fn, "num_frames and num_classes must be positive");
  require(rc >= 0, fn, "radius_confidence must be >= 0");
  require(rd > 0, fn, "radius_displacement must be > 0");
  const int64_t n = frames.shape(0);
  const I* c = classes.data();
  for (int64_t i = 0; i < n; ++i) require(c[i] >= 0 && c[i] < C, fn, "classes must lie in [0, num_classes)");
  std::vector<int64_t> off{0, n};
  if (chunked) {
    require(offsets.ndim() == 1 && offsets.shape(0) >= 1, fn, "offsets must be 1-D with B + 1 entries");
    off.assign(offsets.data(), offsets.data() + offsets.shape(0));
    require(off.front() == 0 && off.back() == n, fn, "offsets must start at 0 and end at len(frames)");
    for (size_t b = 1; b < off.size(); ++b) require(off[b] >= off[b - 1], fn, "offsets must be non-decreasing");
  }
  const int64_t B = static_cast<int64_t>(off.size()) - 1;
  std::vector<py::ssize_t> shape = chunked ? std::vector<py::ssize_t>{B, T, C} : std::vector<py::ssize_t>{T, C};
  py::array_t<float> conf(shape), disp(shape);
  py::array_t<bool> sup(shape);
  float* pc = conf.mutable_data();
  float* pd = disp.mutable_data();
  bool* ps = sup.mutable_data();
  const I* f = frames.data();
  {
    py::gil_scoped_release nogil;
    spotkern::ParallelErrors errors;  // std::bad_alloc of a chunk's buckets: rethrown, never std::terminate
#pragma omp parallel for schedule(dynamic, 4) if (B > 1 && B * T * C >= (int64_t(1) << 18))
    for (int64_t b = 0; b < B; ++b)
      errors.run([&] {
        spotkern::dense_anchor_targets(f + off[b], c + off[b], off[b + 1] - off[b], T, C, rc, rd, pc + b * T * C,
                                       pd + b * T * C, ps + b * T * C);
      });
    errors.rethrow();
  }
  return py::make_tuple(conf, disp, sup);
}

template <typename I>
void def(py::module_& m) {
  m.def("dense_anchor_targets", &targets<I>, py::arg("frames").noconvert(), py::arg("classes").noconvert(),
        py::arg("offsets").noconvert(), py::arg("chunked"), py::arg("num_frames"), py::arg("num_classes"),
        py::arg("radius_confidence"), py::arg("radius_displacement"));
}

}  // namespace

SPOTKERN_BIND(bind_dense_anchor_targets) {
  def<int32_t>(m);
  def<int64_t>(m);
}

}  // namespace spotkern_py
