#include <cstring>

#include "bbbcore/check.h"
#include "transport/explicit.h"

namespace bbb {

template <typename T>
void transport_explicit_cpu(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, int steps) {
  BBB_CHECK(steps >= 0, "transport_explicit", "steps must be >= 0, got " << steps);
  const std::int64_t n = static_cast<std::int64_t>(P.shape[0]) * P.shape[1] * P.shape[2];
  if (n == 0 || steps == 0) return;
  T* src = buf.c;
  T* dst = buf.scratch;
  const int Y = P.shape[1], X = P.shape[2];
  for (int s = 0; s < steps; ++s) {
    const T fixed = buf.fixed_values[s];
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < static_cast<std::int64_t>(P.shape[0]) * Y; ++r) {
      const int z = static_cast<int>(r / Y), y = static_cast<int>(r % Y);
      for (int x = 0; x < X; ++x)
        dst[(r * X) + x] = transport_explicit_cell(P, src, buf.label, buf.G, buf.mem, fixed, z, y, x);
    }
    T* t = src; src = dst; dst = t;
  }
  if (src != buf.c) std::memcpy(buf.c, src, static_cast<std::size_t>(n) * sizeof(T));
}

template <typename T>
void transport_adi_cpu(const TransportParamsT<T>& P, const TransportBuffersT<T>& buf, T* line_scratch, int steps,
                       T theta) {
  BBB_CHECK(steps >= 0, "transport_adi", "steps must be >= 0, got " << steps);
  const std::int64_t n = static_cast<std::int64_t>(P.shape[0]) * P.shape[1] * P.shape[2];
  if (n == 0 || steps == 0) return;
  T* u = buf.c;
  T* y = buf.scratch;
  const int Y = P.shape[1], X = P.shape[2];
  const T theta_dt = theta * P.dt_s;
  const std::int64_t lines[3] = {static_cast<std::int64_t>(Y) * X, static_cast<std::int64_t>(P.shape[0]) * X,
                                 static_cast<std::int64_t>(P.shape[0]) * Y};
  for (int s = 0; s < steps; ++s) {
    const T fixed = buf.fixed_values[s];
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < static_cast<std::int64_t>(P.shape[0]) * Y; ++r) {
      const int z = static_cast<int>(r / Y), yy = static_cast<int>(r % Y);
      for (int x = 0; x < X; ++x)
        y[r * X + x] = transport_explicit_cell(P, u, buf.label, buf.G, buf.mem, fixed, z, yy, x);
    }
    // z and y lines: X neighbouring lines at a time (contiguous rows in memory), each with
    // exactly adi_line's arithmetic; x lines: one at a time (contiguous already)
    for (int a = 0; a < 2; ++a) {
      const int len = P.shape[a];
      const std::int64_t outer = lines[a] / X;  // (y) for a = 0, (z) for a = 1
#pragma omp parallel for schedule(static)
      for (std::int64_t o = 0; o < outer; ++o) {
        std::int64_t base0, stride;
        int nn;
        adi_line_geometry(P.shape, a, a == 0 ? o * X : o * X, base0, nn, stride);
        T* cp = line_scratch + 2 * o * X * static_cast<std::int64_t>(len);
        T* dp = cp + static_cast<std::int64_t>(X) * len;
        for (int k = 0; k < nn; ++k) {
          for (int x = 0; x < X; ++x) {
            const AdiRowT<T> r = adi_row(P, u, y, buf.label, buf.G, buf.mem, a, base0 + x + k * stride, k, nn, stride,
                                     theta_dt, fixed);
            T* cpx = cp + static_cast<std::int64_t>(x) * len;
            T* dpx = dp + static_cast<std::int64_t>(x) * len;
            if (k == 0) {
              cpx[0] = r.upper / r.diag;
              dpx[0] = r.rhs / r.diag;
            } else {
              const T m = r.diag - r.lower * cpx[k - 1];
              cpx[k] = r.upper / m;
              dpx[k] = (r.rhs - r.lower * dpx[k - 1]) / m;
            }
          }
        }
        for (int x = 0; x < X; ++x) {
          const T* cpx = cp + static_cast<std::int64_t>(x) * len;
          const T* dpx = dp + static_cast<std::int64_t>(x) * len;
          T xv = dpx[nn - 1];
          y[base0 + x + static_cast<std::int64_t>(nn - 1) * stride] = xv;
          for (int k = nn - 2; k >= 0; --k) {
            xv = dpx[k] - cpx[k] * xv;
            y[base0 + x + k * stride] = xv;
          }
        }
      }
    }
    {
      const int len = P.shape[2];
#pragma omp parallel for schedule(static)
      for (std::int64_t line = 0; line < lines[2]; ++line) {
        std::int64_t base, stride;
        int nn;
        adi_line_geometry(P.shape, 2, line, base, nn, stride);
        T* cp = line_scratch + 2 * line * len;
        adi_line(P, u, y, buf.label, buf.G, buf.mem, 2, base, nn, stride, theta_dt, fixed, cp, cp + len);
      }
    }
    T* t = u; u = y; y = t;
  }
  if (u != buf.c) std::memcpy(buf.c, u, static_cast<std::size_t>(n) * sizeof(T));
}

template void transport_explicit_cpu<float>(const TransportParams&, const TransportBuffers&, int);
template void transport_explicit_cpu<double>(const TransportParams64&, const TransportBuffersT<double>&, int);
template void transport_adi_cpu<float>(const TransportParams&, const TransportBuffers&, float*, int, float);
template void transport_adi_cpu<double>(const TransportParams64&, const TransportBuffersT<double>&, double*, int,
                                        double);

}  // namespace bbb
