// Elementary functions written with +, -, *, / and bit operations only, so that g++ and nvcc
// (built with --fmad=false, no fast-math) produce bit-identical results. The libraries' expf/logf
// differ between glibc and CUDA in the last bit, which would break CPU/GPU reproducibility.
// Accuracy: float versions within 2 ulp on their stated domains, double versions within ~4 ulp
// (checked against numpy in tests/test_random.py).
#pragma once
#include "bbbcore/hd.h"

namespace bbb {

constexpr float kLn2HiF = 0.693145751953125f;        // 0x3f317200, exact in 16 bits
constexpr float kLn2LoF = 1.428606765330187045e-06f;
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kPi = 3.14159265358979323846;
constexpr float kPiF = 3.14159265358979323846f;

// Natural log for finite x > 0 (normal numbers). Undefined for x <= 0.
BBB_HDI float log_f(float x) {
  std::uint32_t i = float_as_u32(x);
  int e = static_cast<int>((i >> 23) & 0xffu) - 127;
  float m = u32_as_float((i & 0x7fffffu) | 0x3f800000u);  // [1, 2)
  // to [0.707, 1.414) without a branch (random inputs would mispredict half the time)
  const int big = m > 1.41421356f ? 1 : 0;
  m = m * (1.0f - 0.5f * static_cast<float>(big));         // exact: * 1 or * 0.5
  e += big;
  const float f = m - 1.0f;
  const float s = f / (2.0f + f);                           // |s| <= 0.1716
  const float s2 = s * s;
  // log(m) = 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + s^6/7 + s^8/9)
  const float poly = 1.0f + s2 * (0.33333334f + s2 * (0.2f + s2 * (0.14285715f + s2 * 0.11111111f)));
  const float lm = 2.0f * s * poly;
  const float ef = static_cast<float>(e);
  return ef * kLn2HiF + (lm + ef * kLn2LoF);
}

// exp(x) in float; returns 0 below -87.3 and +inf above 88.7.
// Branch-free (selects only), so loops over it vectorise; in range the same arithmetic as ever.
BBB_HDI float exp_f(float x) {
  const bool under = x < -87.3f, over = x > 88.7f;
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  const float kf = x * 1.44269504f;
  // round half away from zero: +-0.5 with the sign of kf (kf = -0 rounds to 0 either way)
  const float half = u32_as_float(0x3f000000u | (float_as_u32(kf) & 0x80000000u));
  const int k = static_cast<int>(kf + half);
  const float kk = static_cast<float>(k);
  const float r = (x - kk * kLn2HiF) - kk * kLn2LoF;         // |r| <= 0.35
  // Taylor to r^7 / 7!: truncation error < 6e-9 relative
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f +
            r * (0.0083333338f + r * (0.0013888889f + r * 0.00019841270f))))));
  // scale by 2^k (k in [-126, 127] after the range checks; split to stay normal)
  int k1 = k / 2, k2 = k - k1;
  p = p * u32_as_float(static_cast<std::uint32_t>(k1 + 127) << 23);
  p = p * u32_as_float(static_cast<std::uint32_t>(k2 + 127) << 23);
  p = over ? u32_as_float(0x7f800000u) : p;
  return under ? 0.0f : p;
}

// sin and cos of 2*pi*u for u in [0, 1): the argument is a fraction of a turn, so the quadrant
// reduction is exact.
BBB_HDI void sincos_turns_f(float u, float& s, float& c) {
  const float v = u * 4.0f;                                  // exact
  const float n = static_cast<float>(static_cast<int>(v + 0.5f));
  const float a = (v - n) * (0.5f * kPiF);                   // [-pi/4, pi/4]
  const float a2 = a * a;
  const float sa = a * (1.0f + a2 * (-0.16666667f + a2 * (0.0083333333f + a2 * (-0.00019841270f +
                   a2 * 2.7557319e-06f))));
  const float ca = 1.0f + a2 * (-0.5f + a2 * (0.041666668f + a2 * (-0.0013888889f +
                   a2 * (2.4801587e-05f - a2 * 2.7557319e-07f))));
  // quadrant q: (s, c) = (sa, ca), (ca, -sa), (-sa, -ca), (-ca, sa); selected without branches
  // (the quadrant of a random angle is unpredictable); the sign products are exact.
  const int q = static_cast<int>(n) & 3;
  const int odd = q & 1;
  const float sign = 1.0f - 2.0f * static_cast<float>((q >> 1) & 1);
  s = sign * (odd ? ca : sa);
  c = sign * (1.0f - 2.0f * static_cast<float>(odd)) * (odd ? sa : ca);
}

// Natural log in double for finite x > 0 (normal numbers).
BBB_HD double log_d(double x) {
  std::uint64_t i = double_as_u64(x);
  int e = static_cast<int>((i >> 52) & 0x7ffu) - 1023;
  double m = u64_as_double((i & 0xfffffffffffffull) | 0x3ff0000000000000ull);
  const int big = m > 1.4142135623730951 ? 1 : 0;
  m = m * (1.0 - 0.5 * static_cast<double>(big));
  e += big;
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double s2 = s * s;
  // 2 atanh(s) = 2 s sum s^(2j)/(2j+1), |s| <= 0.1716: terms to s^20 give < 1e-17
  double poly = 1.0 / 21.0;
  poly = 1.0 / 19.0 + s2 * poly;
  poly = 1.0 / 17.0 + s2 * poly;
  poly = 1.0 / 15.0 + s2 * poly;
  poly = 1.0 / 13.0 + s2 * poly;
  poly = 1.0 / 11.0 + s2 * poly;
  poly = 1.0 / 9.0 + s2 * poly;
  poly = 1.0 / 7.0 + s2 * poly;
  poly = 1.0 / 5.0 + s2 * poly;
  poly = 1.0 / 3.0 + s2 * poly;
  poly = 1.0 + s2 * poly;
  const double lm = 2.0 * s * poly;
  const double ed = static_cast<double>(e);
  return ed * kLn2Hi + (lm + ed * kLn2Lo);
}

// exp in double; 0 below -708, +inf above 709.7.
BBB_HD double exp_d(double x) {
  if (x < -708.0) return 0.0;
  if (x > 709.7) return u64_as_double(0x7ff0000000000000ull);
  const double kf = x * 1.4426950408889634;
  const int k = static_cast<int>(kf + (kf >= 0.0 ? 0.5 : -0.5));
  const double kk = static_cast<double>(k);
  const double r = (x - kk * kLn2Hi) - kk * kLn2Lo;          // |r| <= 0.347
  // Taylor to r^13/13!: truncation < 3e-17 relative
  double p = 1.0 / 6227020800.0;
  p = 1.0 / 479001600.0 + r * p;
  p = 1.0 / 39916800.0 + r * p;
  p = 1.0 / 3628800.0 + r * p;
  p = 1.0 / 362880.0 + r * p;
  p = 1.0 / 40320.0 + r * p;
  p = 1.0 / 5040.0 + r * p;
  p = 1.0 / 720.0 + r * p;
  p = 1.0 / 120.0 + r * p;
  p = 1.0 / 24.0 + r * p;
  p = 1.0 / 6.0 + r * p;
  p = 0.5 + r * p;
  p = 1.0 + r * p;
  p = 1.0 + r * p;
  int k1 = k / 2, k2 = k - k1;
  p = p * u64_as_double(static_cast<std::uint64_t>(k1 + 1023) << 52);
  p = p * u64_as_double(static_cast<std::uint64_t>(k2 + 1023) << 52);
  return p;
}

// log(k!) for integer k >= 0: table below 16, Stirling series above (error < 1e-15).
BBB_HD double log_factorial(double k) {
  if (k < 16.0) {
    double acc = 0.0;
    for (int j = 2; j <= static_cast<int>(k); ++j) acc = acc + log_d(static_cast<double>(j));
    return acc;
  }
  const double x = k + 1.0;
  const double ix = 1.0 / x, ix2 = ix * ix;
  const double series = ix * (1.0 / 12.0 - ix2 * (1.0 / 360.0 - ix2 * (1.0 / 1260.0 - ix2 / 1680.0)));
  return (x - 0.5) * log_d(x) - x + 0.91893853320467274178 + series;
}

}  // namespace bbb
