// pybind11 layer of the time-shift encoding (csrc/time_shift_encoding.cpp).
#include "bind.h"
#include "time_shift_encoding.h"

namespace spotkern_py {
namespace {

void check_K(const char* fn, const carray<int32_t>& K, int64_t C) {
  require(K.ndim() == 2 && K.shape(0) == 4 && K.shape(1) == C, fn, "K must have shape (4, C)");
}

// Many halves packed along time: labels (sum T_h, C), lengths (H,). Halves run in parallel.
template <typename L>
py::array_t<int32_t> tse_packed(const carray<L>& labels, const carray<int64_t>& lengths,
                                const carray<int32_t>& K) {
  const char* fn = "time_shift_encoding";
  require(labels.ndim() == 2, fn, "labels must be 2-D (T, C)");
  require(lengths.ndim() == 1, fn, "lengths must be 1-D");
  const int64_t S = labels.shape(0), C = labels.shape(1), H = lengths.shape(0);
  check_K(fn, K, C);
  std::vector<int64_t> start(H + 1, 0);
  const int64_t* len = lengths.data();
  for (int64_t h = 0; h < H; ++h) {
    require(len[h] > 0, fn, "every length must be positive");
    start[h + 1] = start[h] + len[h];
  }
  require(start[H] == S, fn, "lengths must sum to labels.shape[0]");
  py::array_t<int32_t> out({S, C});
  const L* lab = labels.data();
  const int32_t* k = K.data();
  int32_t* o = out.mutable_data();
  {
    py::gil_scoped_release nogil;
#pragma omp parallel for schedule(dynamic, 1) if (H > 1)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t T = len[h];
      auto ev = spotkern::events_from_matrix(lab + start[h] * C, T, C);
      spotkern::time_shift_encoding(ev, k, T, C, o + start[h] * C);
    }
  }
  return out;
}

template <typename I>
py::array_t<int32_t> tse_events(const carray<I>& frames, const carray<I>& classes, const carray<int32_t>& K,
                                int64_t T) {
  const char* fn = "time_shift_encoding_from_events";
  require(frames.ndim() == 1 && classes.ndim() == 1 && frames.shape(0) == classes.shape(0), fn,
          "frames and classes must be 1-D of equal length");
  require(T > 0, fn, "num_frames must be positive");
  const int64_t n = frames.shape(0), C = K.ndim() == 2 ? K.shape(1) : 0;
  check_K(fn, K, C);
  const I* f = frames.data();
  const I* c = classes.data();
  for (int64_t i = 0; i < n; ++i) {
    require(f[i] >= 0 && f[i] < T, fn, "frames must lie in [0, num_frames)");
    require(c[i] >= 0 && c[i] < C, fn, "classes must lie in [0, C)");
  }
  py::array_t<int32_t> out({T, C});
  int32_t* o = out.mutable_data();
  const int32_t* k = K.data();
  {
    py::gil_scoped_release nogil;
    auto ev = spotkern::events_from_list(f, c, n, C);
    spotkern::time_shift_encoding(ev, k, T, C, o);
  }
  return out;
}

template <typename L>
void def_packed(py::module_& m) {
  m.def("time_shift_encoding_packed", &tse_packed<L>, py::arg("labels").noconvert(),
        py::arg("lengths").noconvert(), py::arg("K").noconvert());
}

}  // namespace

SPOTKERN_BIND(bind_time_shift_encoding) {
  def_packed<bool>(m);
  def_packed<uint8_t>(m);
  def_packed<int32_t>(m);
  def_packed<int64_t>(m);
  def_packed<float>(m);
  def_packed<double>(m);
  m.def("time_shift_encoding_events", &tse_events<int32_t>, py::arg("frames").noconvert(),
        py::arg("classes").noconvert(), py::arg("K").noconvert(), py::arg("num_frames"));
  m.def("time_shift_encoding_events", &tse_events<int64_t>, py::arg("frames").noconvert(),
        py::arg("classes").noconvert(), py::arg("K").noconvert(), py::arg("num_frames"));
}

}  // namespace spotkern_py
