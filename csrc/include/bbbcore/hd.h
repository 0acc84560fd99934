// BBB_HD: one definition of the maths for the CPU (g++) and the GPU (nvcc).
#pragma once
#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define BBB_HD __host__ __device__ __forceinline__
#define BBB_HDI __host__ __device__ __forceinline__
#define BBB_DEVICE_CODE 1
#else
#define BBB_HD inline
// BBB_HDI: small per-voxel helpers that must inline on the host too (g++ otherwise calls them
// and returns their structs through memory).
#define BBB_HDI inline __attribute__((always_inline))
#endif

namespace bbb {

// Bit casts that compile the same on host and device.
BBB_HD std::uint32_t float_as_u32(float x) {
  union { float f; std::uint32_t u; } v; v.f = x; return v.u;
}
BBB_HD float u32_as_float(std::uint32_t u) {
  union { float f; std::uint32_t u; } v; v.u = u; return v.f;
}
BBB_HD std::uint64_t double_as_u64(double x) {
  union { double d; std::uint64_t u; } v; v.d = x; return v.u;
}
BBB_HD double u64_as_double(std::uint64_t u) {
  union { double d; std::uint64_t u; } v; v.u = u; return v.d;
}

// Correctly rounded square root and exact floor on both sides (IEEE-754).
BBB_HD float sqrt_f(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}
BBB_HD double sqrt_d(double x) {
#if defined(__CUDA_ARCH__)
  return __dsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}
// Exact floor. Host: without SSE4.1 (the x86-64 baseline) std::floor is a library call, so
// truncate and correct; values of magnitude >= 2^52 (2^23 for float) are integers already.
BBB_HD double floor_d(double x) {
#if defined(__CUDA_ARCH__)
  return ::floor(x);
#else
  if (!(x > -4503599627370496.0 && x < 4503599627370496.0) || x == 0.0) return x;  // keeps -0.0
  const double t = static_cast<double>(static_cast<long long>(x));
  return t - (t > x ? 1.0 : 0.0);
#endif
}
BBB_HD float floor_f(float x) {
#if defined(__CUDA_ARCH__)
  return ::floorf(x);
#else
  if (!(x > -8388608.0f && x < 8388608.0f) || x == 0.0f) return x;
  const float t = static_cast<float>(static_cast<int>(x));
  return t - (t > x ? 1.0f : 0.0f);
#endif
}

template <class T> BBB_HD T min_(T a, T b) { return a < b ? a : b; }
template <class T> BBB_HD T max_(T a, T b) { return a > b ? a : b; }
template <class T> BBB_HD T abs_(T a) { return a < T(0) ? -a : a; }

}  // namespace bbb
