// Samplers on Philox4x32-10, shared by the CPU and CUDA kernels.
#pragma once
#include "bbbcore/fmath.h"
#include "bbbcore/philox.h"

namespace bbb {

// Uniform in (0, 1] with 24 random bits (never 0: safe for log).
BBB_HD float uniform_open0_f(std::uint32_t x) {
  return static_cast<float>((x >> 8) + 1u) * 5.9604644775390625e-08f;  // 2^-24
}
// Uniform in [0, 1) with 24 random bits.
BBB_HD float uniform_f(std::uint32_t x) {
  return static_cast<float>(x >> 8) * 5.9604644775390625e-08f;
}
// Box-Muller: two standard normals from two words. |z| <= sqrt(-2 ln 2^-24) = 5.77.
BBB_HD void box_muller_f(std::uint32_t a, std::uint32_t b, float& z0, float& z1) {
  const float r = sqrt_f(-2.0f * log_f(uniform_open0_f(a)));
  float s, c;
  sincos_turns_f(uniform_f(b), s, c);
  z0 = r * c;
  z1 = r * s;
}

// Four standard normals from one Philox block.
BBB_HD void normal4_f(const U32x4& w, float z[4]) {
  box_muller_f(w.v[0], w.v[1], z[0], z[1]);
  box_muller_f(w.v[2], w.v[3], z[2], z[3]);
}

// Uniform in (0, 1) from one word (never 0 or 1), double.
BBB_HD double uniform_open_d(std::uint32_t x) {
  return (static_cast<double>(x) + 0.5) * 2.3283064365386963e-10;  // 2^-32
}

// Poisson(lam) for lam >= 0. lam < 10: inversion by sequential search; lam >= 10: PTRS
// (Hoermann 1993, transformed rejection with squeeze). Try t uses words 0 and 1 of a Philox
// block: `first` (the caller's block at (index, sub, stream)) for t = 0, then the blocks at
// (index, sub + t, stream); so the result depends only on (seed, index, sub, stream, lam), and
// words 2 and 3 of `first` stay free for the caller.
BBB_HD double poisson_d(const Philox& rng, const U32x4& first, std::uint32_t index, std::uint32_t sub,
                        std::uint64_t stream, double lam) {
  if (!(lam > 0.0)) return 0.0;
  if (lam < 10.0) {
    const double u = uniform_open_d(first.v[0]);
    double p = exp_d(-lam), cdf = p, k = 0.0;
    while (u > cdf && k < 1000.0) {
      k = k + 1.0;
      p = p * lam / k;
      if (p == 0.0) break;
      cdf = cdf + p;
    }
    return k;
  }
  const double slam = sqrt_d(lam);
  const double b = 0.931 + 2.53 * slam;
  const double a = -0.059 + 0.02483 * b;
  const double vr = 0.9277 - 3.6224 / (b - 2.0);
  for (std::uint32_t t = 0; t < 4096u; ++t) {
    const U32x4 w = t == 0 ? first : rng(index, sub + t, stream);
    const double U = uniform_open_d(w.v[0]) - 0.5;
    const double V = uniform_open_d(w.v[1]);
    const double us = 0.5 - (U < 0.0 ? -U : U);
    const double kd = floor_d((2.0 * a / us + b) * U + lam + 0.43);
    if (us >= 0.07 && V <= vr) return kd;        // squeeze: ~86% of tries, no logarithm
    if (kd < 0.0 || (us < 0.013 && V > us)) continue;
    const double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    if (log_d(V) + log_d(inv_alpha) - log_d(a / (us * us) + b) <=
        -lam + kd * log_d(lam) - log_factorial(kd)) {
      return kd;
    }
  }
  return lam;  // unreachable in practice (acceptance rate > 0.88 per try)
}

}  // namespace bbb
