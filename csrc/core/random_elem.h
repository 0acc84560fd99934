// Per-element bodies of the random ops, shared by random_cpu.cpp and random_cuda.cu.
#pragma once
#include "bbbcore/random.h"

namespace bbb {

BBB_HD void philox4x32_elem(const std::uint32_t* ctr, const std::uint32_t* key, std::uint32_t* out,
                            std::int64_t i) {
  U32x4 c;
  for (int j = 0; j < 4; ++j) c.v[j] = ctr[4 * i + j];
  const U32x4 r = philox4x32_10(c, key[2 * i], key[2 * i + 1]);
  for (int j = 0; j < 4; ++j) out[4 * i + j] = r.v[j];
}

// Writes the (up to) four normals of block `blk`.
BBB_HD void normal_block(std::uint64_t seed, std::uint64_t stream, float* out, std::int64_t n,
                         std::int64_t blk) {
  const Philox rng = Philox::from_seed(seed);
  float z[4];
  normal4_f(rng(static_cast<std::uint32_t>(blk), 0u, stream), z);
  for (int j = 0; j < 4; ++j) {
    const std::int64_t i = 4 * blk + j;
    if (i < n) out[i] = z[j];
  }
}

BBB_HD void poisson_elem(std::uint64_t seed, std::uint64_t stream, const float* lam, float* out,
                         std::int64_t i) {
  const Philox rng = Philox::from_seed(seed);
  const std::uint32_t idx = static_cast<std::uint32_t>(i);
  out[i] = static_cast<float>(poisson_d(rng, rng(idx, 0x80000000u, stream), idx, 0x80000000u, stream,
                                        static_cast<double>(lam[i])));
}

}  // namespace bbb
