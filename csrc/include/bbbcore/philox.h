// Philox4x32-10 (Salmon, Moraes, Dror & Shaw, SC'11), counter-based: the same (key, counter)
// gives the same four 32-bit words on the CPU and the GPU. Checked against the Random123
// known-answer vectors in tests/test_random.py.
#pragma once
#include "bbbcore/hd.h"

namespace bbb {

struct U32x4 { std::uint32_t v[4]; };

constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr std::uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u;  // golden ratio
constexpr std::uint32_t kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1

BBB_HD void mulhilo32(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * static_cast<std::uint64_t>(b);
  hi = static_cast<std::uint32_t>(p >> 32);
  lo = static_cast<std::uint32_t>(p);
}

// ctr: 4 words, key: 2 words. Returns the 10-round output.
BBB_HD U32x4 philox4x32_10(U32x4 ctr, std::uint32_t k0, std::uint32_t k1) {
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int round = 0; round < 10; ++round) {
    if (round > 0) { k0 += kPhiloxW0; k1 += kPhiloxW1; }
    std::uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(kPhiloxM0, ctr.v[0], hi0, lo0);
    mulhilo32(kPhiloxM1, ctr.v[2], hi1, lo1);
    U32x4 out;
    out.v[0] = hi1 ^ ctr.v[1] ^ k0;
    out.v[1] = lo1;
    out.v[2] = hi0 ^ ctr.v[3] ^ k1;
    out.v[3] = lo0;
    ctr = out;
  }
  return ctr;
}

// A seeded stream: key = 64-bit seed, counter = (index, sub-stream, stream low, stream high).
struct Philox {
  std::uint32_t k0, k1;
  BBB_HD static Philox from_seed(std::uint64_t seed) {
    Philox p; p.k0 = static_cast<std::uint32_t>(seed); p.k1 = static_cast<std::uint32_t>(seed >> 32);
    return p;
  }
  BBB_HD U32x4 operator()(std::uint32_t index, std::uint32_t sub, std::uint64_t stream) const {
    U32x4 c;
    c.v[0] = index; c.v[1] = sub;
    c.v[2] = static_cast<std::uint32_t>(stream);
    c.v[3] = static_cast<std::uint32_t>(stream >> 32);
    return philox4x32_10(c, k0, k1);
  }
};

}  // namespace bbb
