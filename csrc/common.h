// Helpers shared by the kernels of csrc/ (no Python headers): run-time vector clones, a fused
// finiteness check, and an error trap for OpenMP regions.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>

// Compiles a function's loops for AVX2 too, picked at run time, where the toolchain supports it
// (x86-64 GCC/Clang on ELF); elsewhere the baseline build alone is used.
#if defined(__x86_64__) && defined(__ELF__) && (defined(__GNUC__) || defined(__clang__)) && !defined(SPOTKERN_NO_CLONES)
#define SPOTKERN_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SPOTKERN_VECTOR_CLONES
#endif

namespace spotkern {

// True iff no element of x (n values) is NaN or infinite.
bool all_finite(const float* x, int64_t n);
bool all_finite(const double* x, int64_t n);

// Bit test of one value: exponent all ones <=> NaN or infinity (integer ops, so loops vectorise).
inline uint32_t non_finite_bit(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
}
inline uint32_t non_finite_bit(double v) {
  uint64_t u;
  std::memcpy(&u, &v, sizeof u);
  return static_cast<uint32_t>((u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
}

// An exception escaping an OpenMP structured block calls std::terminate (the process aborts, e.g.
// on std::bad_alloc). Every parallel region runs its work through ParallelErrors::run, which keeps
// the first exception; the caller rethrows it after the region (pybind11 then raises MemoryError,
// ValueError, ...). Work items after a failure are skipped, but every thread still reaches every
// worksharing construct, so no barrier deadlocks.
class ParallelErrors {
 public:
  template <typename F>
  bool run(F&& f) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return false;
    try {
      f();
      return true;
    } catch (...) {
#pragma omp critical(spotkern_parallel_errors)
      {
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
      return false;
    }
  }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
  std::atomic<bool> failed_{false};  // lets the other threads skip the remaining work items
};

}  // namespace spotkern
