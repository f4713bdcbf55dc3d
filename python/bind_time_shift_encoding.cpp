// pybind11 layer of the time-shift encoding (csrc/time_shift_encoding.cpp).
#include "bind.h"
#include "time_shift_encoding.h"

namespace spotkern_py {
namespace {

void check_K(const char* fn, const carray<int32_t>& K, int64_t C) {
  require(K.ndim() == 2 && K.shape(0) == 4 && K.shape(1) == C, fn, "K must have shape (4, C)");
}

// Label matrices hold 0/1 (any value other than 1 is "no action"); NaN or infinity is an error.
bool labels_finite(const float* x, int64_t n) { return spotkern::all_finite(x, n); }
bool labels_finite(const double* x, int64_t n) { return spotkern::all_finite(x, n); }
template <typename L>
bool labels_finite(const L*, int64_t) {
  return true;
}

// Many halves packed along time: labels (sum T_h, C), lengths (H,). Halves run in parallel.
// fn: the public function named in error messages.
template <typename L>
py::array_t<int32_t> tse_packed(const carray<L>& labels, const carray<int64_t>& lengths, const carray<int32_t>& K,
                                const std::string& fn_name) {
  const char* fn = fn_name.c_str();
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
  require(labels_finite(labels.data(), S * C), fn, "labels contains NaN or infinite values");
  py::array_t<int32_t> out({S, C});
  const L* lab = labels.data();
  const int32_t* k = K.data();
  int32_t* o = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    spotkern::ParallelErrors errors;  // std::bad_alloc of a half's event list: rethrown, never std::terminate
#pragma omp parallel for schedule(dynamic, 1) if (H > 1)
    for (int64_t h = 0; h < H; ++h) {
      errors.run([&] {
        const int64_t T = len[h];
        auto ev = spotkern::events_from_matrix(lab + start[h] * C, T, C);
        spotkern::time_shift_encoding(ev, k, T, C, o + start[h] * C);
      });
    }
    errors.rethrow();
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

// A list of H halves (T_h, C) of one dtype L -> a list of (T_h, C) int32 encodings. No packing copy:
// every half is read in place and encoded into its own output, halves in parallel (OpenMP).
template <typename L>
py::list tse_list_typed(const py::list& labels, const carray<int32_t>& K, const char* fn) {
  const int64_t H = static_cast<int64_t>(labels.size()), C = K.ndim() == 2 ? K.shape(1) : 0;
  check_K(fn, K, C);
  std::vector<const L*> in(H);
  std::vector<int32_t*> out(H);
  std::vector<int64_t> T(H);
  py::list result(H);
  for (int64_t h = 0; h < H; ++h) {
    py::handle o = labels[h];
    require(py::isinstance<carray<L>>(o), fn, "labels[" + std::to_string(h) + "] differs in dtype from labels[0]");
    auto a = py::reinterpret_borrow<carray<L>>(o);
    require((a.flags() & py::array::c_style) && a.ndim() == 2 && a.shape(1) == C && a.shape(0) > 0, fn,
            "labels[" + std::to_string(h) + "] must be a non-empty C-contiguous (T, C) matrix");
    T[h] = a.shape(0);
    in[h] = a.data();
    py::array_t<int32_t> enc({T[h], C});
    out[h] = enc.mutable_data();
    result[h] = enc;
  }
  const int32_t* k = K.data();
  std::vector<uint8_t> bad(H, 0);
  {
    py::gil_scoped_release nogil;
    spotkern::ParallelErrors errors;
#pragma omp parallel for schedule(dynamic, 1) if (H > 1)
    for (int64_t h = 0; h < H; ++h) {
      errors.run([&] {
        if (!labels_finite(in[h], T[h] * C)) {
          bad[h] = 1;
          return;
        }
        auto ev = spotkern::events_from_matrix(in[h], T[h], C);
        spotkern::time_shift_encoding(ev, k, T[h], C, out[h]);
      });
    }
    errors.rethrow();
  }
  for (int64_t h = 0; h < H; ++h)
    require(!bad[h], fn, "labels[" + std::to_string(h) + "] contains NaN or infinite values");
  return result;
}

py::list tse_list(const py::list& labels, const carray<int32_t>& K, const std::string& fn_name) {
  const char* fn = fn_name.c_str();
  require(labels.size() > 0, fn, "labels must be a non-empty list");
  py::handle first = labels[0];
  if (py::isinstance<carray<bool>>(first)) return tse_list_typed<bool>(labels, K, fn);
  if (py::isinstance<carray<uint8_t>>(first)) return tse_list_typed<uint8_t>(labels, K, fn);
  if (py::isinstance<carray<int32_t>>(first)) return tse_list_typed<int32_t>(labels, K, fn);
  if (py::isinstance<carray<int64_t>>(first)) return tse_list_typed<int64_t>(labels, K, fn);
  if (py::isinstance<carray<float>>(first)) return tse_list_typed<float>(labels, K, fn);
  if (py::isinstance<carray<double>>(first)) return tse_list_typed<double>(labels, K, fn);
  throw std::invalid_argument(std::string(fn) +
                              ": labels[0] must be a C-contiguous bool, uint8, int32, int64, "
                              "float32 or float64 array");
}

template <typename L>
void def_packed(py::module_& m) {
  m.def("time_shift_encoding_packed", &tse_packed<L>, py::arg("labels").noconvert(), py::arg("lengths").noconvert(),
        py::arg("K").noconvert(), py::arg("fn") = "time_shift_encoding");
}

}  // namespace

SPOTKERN_BIND(bind_time_shift_encoding) {
  def_packed<bool>(m);
  def_packed<uint8_t>(m);
  def_packed<int32_t>(m);
  def_packed<int64_t>(m);
  def_packed<float>(m);
  def_packed<double>(m);
  m.def("time_shift_encoding_list", &tse_list, py::arg("labels"), py::arg("K").noconvert(), py::arg("fn"));
  m.def("time_shift_encoding_events", &tse_events<int32_t>, py::arg("frames").noconvert(),
        py::arg("classes").noconvert(), py::arg("K").noconvert(), py::arg("num_frames"));
  m.def("time_shift_encoding_events", &tse_events<int64_t>, py::arg("frames").noconvert(),
        py::arg("classes").noconvert(), py::arg("K").noconvert(), py::arg("num_frames"));
}

}  // namespace spotkern_py
