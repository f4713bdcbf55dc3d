// The spotkern._C module: runs every binder registered by the python/bind_<op>.cpp files.
#include "bind.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace spotkern_py {
std::vector<Binder>& binders() {
  static std::vector<Binder> list;
  return list;
}
}  // namespace spotkern_py

PYBIND11_MODULE(_C, m) {
  m.doc() = "spotkern C++ kernels (numpy buffers in and out)";
#ifdef _OPENMP
  m.attr("has_openmp") = true;
  m.def("max_threads", [] { return omp_get_max_threads(); });
  m.def("set_num_threads", [](int n) { omp_set_num_threads(n); });
#else
  m.attr("has_openmp") = false;
  m.def("max_threads", [] { return 1; });
  m.def("set_num_threads", [](int) {});
#endif
  for (auto b : spotkern_py::binders()) b(m);
}
