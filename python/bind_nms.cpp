// pybind11 layer of the per-class NMS (csrc/nms.cpp).
#include <limits>
#include <string>

#include "bind.h"
#include "nms.h"

namespace spotkern_py {
namespace {

// The op's parameters, and its windows (n of them, named `arg` in messages) checked.
spotkern::NmsParams params(const char* fn, const std::string& arg, int method, double threshold, double min_weight,
                           double expansion, const int64_t* windows, int64_t n) {
  spotkern::NmsParams p;
  p.method = method_code<spotkern::NmsMethod>(fn, method, 4);
  p.threshold = threshold;
  p.min_weight = min_weight;
  p.expansion = expansion;
  for (int64_t k = 0; k < n; ++k) {
    require(windows[k] >= 0, fn, arg + " must be >= 0");
    require(p.method != spotkern::NmsMethod::Calf || windows[k] >= 2, fn, arg + " must be >= 2 for method 'calf'");
  }
  return p;
}

// scores (T, C) or (B, T, C) float32 or float64 -> the same shape and dtype.
template <typename F>
py::array_t<F> nms_dense(const carray<F>& scores, const carray<int64_t>& windows, const carray<double>& sigmas,
                         int method, double threshold, double min_weight, double expansion) {
  const char* fn = "nms";
  require(scores.ndim() == 2 || scores.ndim() == 3, fn, "scores must be (T, C) or (B, T, C)");
  const bool batched = scores.ndim() == 3;
  const int64_t B = batched ? scores.shape(0) : 1;
  const int64_t T = scores.shape(batched ? 1 : 0), C = scores.shape(batched ? 2 : 1);
  require(windows.ndim() == 1 && windows.shape(0) == C, fn, "window must have one entry per class");
  require(sigmas.ndim() == 1 && sigmas.shape(0) == C, fn, "sigma must have one entry per class");
  require(T < (int64_t(1) << 31), fn, "more than 2^31 - 1 frames are not supported");
  const spotkern::NmsParams p = params(fn, "window", method, threshold, min_weight, expansion, windows.data(), C);
  const int64_t* w = windows.data();
  const F* s = scores.data();
  require(spotkern::all_finite(s, B * T * C), fn, "scores contains NaN or infinite values");
  py::array_t<F> out(std::vector<py::ssize_t>(scores.shape(), scores.shape() + scores.ndim()));
  F* o = out.mutable_data();
  const double* sg = sigmas.data();
  {
    py::gil_scoped_release nogil;
    spotkern::nms_dense(s, B, T, C, w, sg, p, o);
  }
  return out;
}

template <typename F>
py::tuple nms_detections(const carray<F>& dense) {
  const char* fn = "nms";
  require(dense.ndim() == 2 || dense.ndim() == 3, fn, "dense must be (T, C) or (B, T, C)");
  const int64_t nd = dense.ndim();
  const int64_t C = dense.shape(nd - 1), T = dense.shape(nd - 2);
  std::vector<int64_t> cells;
  {
    py::gil_scoped_release nogil;
    spotkern::detections_from_dense(dense.data(), dense.size(), cells);
  }
  const py::ssize_t m = static_cast<py::ssize_t>(cells.size());
  py::array_t<int64_t> frames(m), classes(m), batch(m);
  py::array_t<F> values(m);
  int64_t *f = frames.mutable_data(), *c = classes.mutable_data(), *b = batch.mutable_data();
  F* v = values.mutable_data();
  const F* d = dense.data();
  for (py::ssize_t i = 0; i < m; ++i) {
    const int64_t cell = cells[i];
    v[i] = d[cell];
    c[i] = C ? cell % C : 0;
    f[i] = (T && C) ? (cell / C) % T : 0;
    b[i] = (T && C) ? cell / (C * T) : 0;
  }
  return py::make_tuple(frames, classes, values, batch);
}

// values (n,), segments (n,), frames (n,) in increasing (segment, frame) order -> (len(windows), n).
template <typename F>
py::array_t<F> nms_sparse(const carray<F>& values, const carray<int64_t>& segments, const carray<int64_t>& frames,
                          int64_t T, const carray<int64_t>& windows, const carray<double>& sigmas, int method,
                          double threshold, double min_weight, double expansion) {
  const char* fn = "nms_sparse";
  require(values.ndim() == 1 && segments.ndim() == 1 && frames.ndim() == 1, fn,
          "values, segments and frames must be 1-D");
  const int64_t n = values.shape(0), nw = windows.size();
  require(segments.shape(0) == n && frames.shape(0) == n, fn, "values, segments and frames must have equal lengths");
  require(windows.ndim() == 1 && sigmas.ndim() == 1 && sigmas.shape(0) == nw, fn,
          "windows and sigmas must be 1-D of equal lengths");
  require(T >= 1 && T < (int64_t(1) << 31), fn, "T must be in [1, 2^31 - 1]");
  require(n < (int64_t(1) << 31), fn, "more than 2^31 - 1 frames are not supported");
  const spotkern::NmsParams p = params(fn, "windows", method, threshold, min_weight, expansion, windows.data(), nw);
  const int64_t *w = windows.data(), *sg = segments.data(), *fr = frames.data();
  bool in_range = true, increasing = true;  // plain flags: a message string per frame would cost a malloc
  for (int64_t i = 0; i < n; ++i) {
    in_range &= fr[i] >= 0 && fr[i] < T;
    increasing &= i == 0 || sg[i] > sg[i - 1] || (sg[i] == sg[i - 1] && fr[i] > fr[i - 1]);
  }
  require(in_range, fn, "frames must lie in [0, T)");
  // csrc/nms.cpp walks x = segment * (3 T + 3) + frame in int64
  const int64_t max_segment = (std::numeric_limits<int64_t>::max() - T) / (3 * T + 3);
  require(n == 0 || (sg[0] >= 0 && sg[n - 1] <= max_segment), fn,
          "segments must lie in [0, " + std::to_string(max_segment) + "]");
  require(increasing, fn, "(segments, frames) must be strictly increasing");
  const F* v = values.data();
  require(spotkern::all_finite(v, n), fn, "values contains NaN or infinite values");
  py::array_t<F> out({nw, n});
  F* o = out.mutable_data();
  const double* s = sigmas.data();
  {
    py::gil_scoped_release nogil;
    spotkern::nms_sparse(v, sg, fr, n, T, w, s, nw, p, o);
  }
  return out;
}

template <typename F>
void def(py::module_& m) {
  m.def("nms_dense", &nms_dense<F>, py::arg("scores").noconvert(), py::arg("windows").noconvert(),
        py::arg("sigmas").noconvert(), py::arg("method"), py::arg("threshold"), py::arg("min_weight"),
        py::arg("expansion"));
  m.def("nms_detections", &nms_detections<F>, py::arg("dense").noconvert());
  m.def("nms_sparse", &nms_sparse<F>, py::arg("values").noconvert(), py::arg("segments").noconvert(),
        py::arg("frames").noconvert(), py::arg("T"), py::arg("windows").noconvert(), py::arg("sigmas").noconvert(),
        py::arg("method"), py::arg("threshold"), py::arg("min_weight"), py::arg("expansion"));
}

}  // namespace

SPOTKERN_BIND(bind_nms) {
  def<float>(m);
  def<double>(m);
}

}  // namespace spotkern_py
