#include <cstring>

#include "bbbcore/check.h"
#include "transport/explicit.h"

namespace bbb {

void transport_explicit_cpu(const TransportParams& P, const TransportBuffers& buf, int steps) {
  BBB_CHECK(steps >= 0, "transport_explicit", "steps must be >= 0, got " << steps);
  const std::int64_t n = static_cast<std::int64_t>(P.shape[0]) * P.shape[1] * P.shape[2];
  if (n == 0 || steps == 0) return;
  float* src = buf.c;
  float* dst = buf.scratch;
  const int Y = P.shape[1], X = P.shape[2];
  for (int s = 0; s < steps; ++s) {
    const float fixed = buf.fixed_values[s];
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < static_cast<std::int64_t>(P.shape[0]) * Y; ++r) {
      const int z = static_cast<int>(r / Y), y = static_cast<int>(r % Y);
      for (int x = 0; x < X; ++x)
        dst[(r * X) + x] = transport_explicit_cell(P, src, buf.label, buf.G, buf.mem, fixed, z, y, x);
    }
    float* t = src; src = dst; dst = t;
  }
  if (src != buf.c) std::memcpy(buf.c, src, static_cast<std::size_t>(n) * sizeof(float));
}

}  // namespace bbb
