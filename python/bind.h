// Shared helpers of the pybind11 layer. Each op has its own python/bind_<op>.cpp that registers a
// binder with SPOTKERN_BIND; module.cpp runs them all, so adding an op never edits a shared file.
//
// Arrays are bound with .noconvert() and without forcecast: a wrong dtype or a non-contiguous array
// is rejected instead of silently copied. Python validates first (messages name the op and the
// argument); the checks here are a backstop that throws std::invalid_argument (-> ValueError).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace spotkern_py {

namespace py = pybind11;

using Binder = void (*)(py::module_&);
std::vector<Binder>& binders();

struct Registrar {
  explicit Registrar(Binder b) { binders().push_back(b); }
};

// C-contiguous arrays of exactly one dtype; no conversion.
template <typename T>
using carray = py::array_t<T, py::array::c_style>;

template <typename T>
inline void require_contiguous(const char* fn, const char* arg, const carray<T>& a) {
  if (!(a.flags() & py::array::c_style)) {
    throw std::invalid_argument(std::string(fn) + ": " + arg + " must be C-contiguous");
  }
}

inline void require(bool ok, const char* fn, const std::string& msg) {
  if (!ok) throw std::invalid_argument(std::string(fn) + ": " + msg);
}
// A literal message builds no std::string unless the check fails: checks run once per element in
// some bindings, and a heap-allocated message per element costs more than the kernel.
inline void require(bool ok, const char* fn, const char* msg) {
  if (!ok) throw std::invalid_argument(std::string(fn) + ": " + msg);
}

// Every binding takes an op's method as an int code: the value of the C++ enum E (0 .. count - 1),
// which the Python op maps from its method name (the same tuple order, e.g. spotkern/ops/nms.py
// METHODS). Strings stay in Python and in the custom-op schemas.
template <typename E>
inline E method_code(const char* fn, int code, int count) {
  require(code >= 0 && code < count, fn, "unknown method code " + std::to_string(code));
  return static_cast<E>(code);
}

}  // namespace spotkern_py

#define SPOTKERN_BIND_CAT2(a, b) a##b
#define SPOTKERN_BIND_CAT(a, b) SPOTKERN_BIND_CAT2(a, b)
// Usage: SPOTKERN_BIND(bind_my_op) { m.def(...); }
#define SPOTKERN_BIND(name)                                                   \
  static void name(::pybind11::module_& m);                                   \
  static ::spotkern_py::Registrar SPOTKERN_BIND_CAT(name, _registrar){&name}; \
  static void name(::pybind11::module_& m)
