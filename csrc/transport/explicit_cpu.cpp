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

void transport_adi_cpu(const TransportParams& P, const TransportBuffers& buf, float* line_scratch, int steps,
                       float theta) {
  BBB_CHECK(steps >= 0, "transport_adi", "steps must be >= 0, got " << steps);
  const std::int64_t n = static_cast<std::int64_t>(P.shape[0]) * P.shape[1] * P.shape[2];
  if (n == 0 || steps == 0) return;
  float* u = buf.c;
  float* y = buf.scratch;
  const int Y = P.shape[1], X = P.shape[2];
  const float theta_dt = theta * P.dt_s;
  const std::int64_t lines[3] = {static_cast<std::int64_t>(Y) * X, static_cast<std::int64_t>(P.shape[0]) * X,
                                 static_cast<std::int64_t>(P.shape[0]) * Y};
  for (int s = 0; s < steps; ++s) {
    const float fixed = buf.fixed_values[s];
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < static_cast<std::int64_t>(P.shape[0]) * Y; ++r) {
      const int z = static_cast<int>(r / Y), yy = static_cast<int>(r % Y);
      for (int x = 0; x < X; ++x)
        y[r * X + x] = transport_explicit_cell(P, u, buf.label, buf.G, buf.mem, fixed, z, yy, x);
    }
    for (int a = 0; a < 3; ++a) {
      const int len = P.shape[a];
#pragma omp parallel for schedule(static)
      for (std::int64_t line = 0; line < lines[a]; ++line) {
        std::int64_t base, stride;
        int nn;
        adi_line_geometry(P.shape, a, line, base, nn, stride);
        float* cp = line_scratch + 2 * line * len;
        adi_line(P, u, y, buf.label, buf.G, a, base, nn, stride, theta_dt, fixed, cp, cp + len);
      }
    }
    float* t = u; u = y; y = t;
  }
  if (u != buf.c) std::memcpy(buf.c, u, static_cast<std::size_t>(n) * sizeof(float));
}

}  // namespace bbb
