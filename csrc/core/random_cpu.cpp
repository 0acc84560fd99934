#include "core/random.h"
#include "core/random_elem.h"

namespace bbb {

void philox4x32_cpu(const std::uint32_t* ctr, const std::uint32_t* key, std::uint32_t* out,
                    std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 4096)
  for (std::int64_t i = 0; i < n; ++i) philox4x32_elem(ctr, key, out, i);
}

void normal_fill_cpu(std::uint64_t seed, std::uint64_t stream, float* out, std::int64_t n) {
  const std::int64_t blocks = (n + 3) / 4;
#pragma omp parallel for schedule(static) if (blocks > 4096)
  for (std::int64_t b = 0; b < blocks; ++b) normal_block(seed, stream, out, n, b);
}

void poisson_fill_cpu(std::uint64_t seed, std::uint64_t stream, const float* lam, float* out,
                      std::int64_t n) {
#pragma omp parallel for schedule(static) if (n > 4096)
  for (std::int64_t i = 0; i < n; ++i) poisson_elem(seed, stream, lam, out, i);
}

}  // namespace bbb
